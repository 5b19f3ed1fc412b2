"""The item table: one row per item id with its category, median price and name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from analytics.core.schema import (
    CATEGORY,
    ITEM_ID,
    ITEM_NAME,
    PRICE,
)

ITEM_KEY = "__item_key"  # item ids as numbers, for the item table only


def items_table(events: pl.DataFrame) -> pl.DataFrame:
    """One row per item, sorted by item id: its first category, median positive unit price, and
    first name if the file has one ("first": the first non-null value in file order).

    Polars' hash group-by over a million string ids is slow (a hash table of strings, then
    medians gathered group by group), so items are grouped by sorting: one sort of 64-bit values
    (the item's hash, the row number in the low bits) makes each item's rows one contiguous run
    in file order, and a second, independent hash of every row checks each run (a run mixing
    items is split by it). Equal to ``_items_by_group_by``, the plain version, which small frames
    use.
    """
    names = [c for c in (ITEM_ID, CATEGORY, PRICE, ITEM_NAME, ITEM_KEY) if c in events.columns]
    frame = events.select(names)
    if frame.get_column(ITEM_ID).null_count():
        frame = frame.filter(pl.col(ITEM_ID).is_not_null())
    n = frame.height
    if n < _SORTED_ITEMS_FROM or n >= 1 << 40:
        return _items_by_group_by(frame)
    # the value columns are gathered at random rows below, much faster from one chunk; making
    # them one chunk (Polars, no GIL) overlaps with the sort of the ids (NumPy, no GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        flat = {
            c: pool.submit(frame.get_column(c).rechunk)
            for c in (CATEGORY, ITEM_NAME, PRICE)
            if c in frame.columns
        }
        return _items_sorted(frame, {c: f.result for c, f in flat.items()}, pool)


def _items_sorted(
    frame: pl.DataFrame, flat: dict[str, Any], pool: ThreadPoolExecutor
) -> pl.DataFrame:
    """``_items`` of a large frame; ``flat[column]()`` is that column in one chunk."""
    n = frame.height
    ids = frame.get_column(ITEM_ID)
    scanned = frame.get_column(ITEM_KEY) if ITEM_KEY in frame.columns else None
    numbers = _decimal_ids(ids, 64 - n.bit_length(), scanned)
    numeric = numbers is not None
    if numbers is not None:
        text_bytes = pool.submit(lambda: int(ids.str.len_bytes().sum()))  # beside the sort
        rows, starts, distinct = _item_runs_numeric(numbers, n.bit_length())
        del numbers
        # e.g. '007' and '7' are distinct items: back to the text path
        numeric = _plain_decimals(text_bytes.result(), n, distinct, starts)
    if numeric:
        text_order = _decimal_text_order(distinct)
        # the ids' texts are their plain decimals: format a million numbers, no string gather
        item_ids = pl.Series(ITEM_ID, distinct).cast(pl.String)
    else:
        rows, starts = _item_runs(ids, n.bit_length())
        text_order, item_ids = None, None
    first = rows[starts]
    columns = {ITEM_ID: ids.gather(first) if item_ids is None else item_ids}
    price = flat[PRICE]()
    half = rows.size // 2  # the random gather of every price, in two halves at once
    parts = [pool.submit(price.gather, part) for part in (rows[:half], rows[half:])]
    for name, out in ((CATEGORY, CATEGORY), (ITEM_NAME, "name")):
        if name in frame.columns:
            columns[out] = _first_valid(flat[name](), rows, starts, first).alias(out)
    run = np.repeat(np.arange(starts.size, dtype=np.uint32), np.diff(np.append(starts, n)))
    gathered = parts[0].result().append(parts[1].result())
    prices = pl.DataFrame({"run": pl.Series(run).set_sorted(), PRICE: gathered})
    del run, rows, parts, gathered
    columns[PRICE] = (
        prices.group_by("run", maintain_order=True)
        .agg(pl.when(pl.col(PRICE) > 0).then(pl.col(PRICE)).median())
        .get_column(PRICE)
    )
    order = [ITEM_ID, CATEGORY, PRICE] + (["name"] if ITEM_NAME in frame.columns else [])
    items = pl.DataFrame(columns).select(order)
    if text_order is not None:
        return items[text_order]
    return _sort_by_text(items, ITEM_ID)


_SORTED_ITEMS_FROM = 50_000  # rows; below this the plain group-by is as fast


def _items_by_group_by(frame: pl.DataFrame) -> pl.DataFrame:
    """The item table by one group-by (the reference ``_items`` must equal)."""
    aggs = [pl.col(CATEGORY).first(ignore_nulls=True), pl.col("__positive").median().alias(PRICE)]
    if ITEM_NAME in frame.columns:
        aggs.append(pl.col(ITEM_NAME).first(ignore_nulls=True).alias("name"))
    return (
        frame.lazy()
        .filter(pl.col(ITEM_ID).is_not_null())
        .with_columns(__positive=pl.when(pl.col(PRICE) > 0).then(pl.col(PRICE)))
        .group_by(ITEM_ID)
        .agg(aggs)
        .sort(ITEM_ID)
        .collect(engine="streaming")
    )


_POW10 = 10 ** np.arange(20, dtype=np.uint64)


def _digits(values: np.ndarray) -> np.ndarray:
    """Decimal digits of each unsigned value (0 has one)."""
    return np.maximum(np.searchsorted(_POW10, values, side="right"), 1)


def _decimal_ids(
    ids: pl.Series, value_bits: int, numbers: pl.Series | None = None
) -> np.ndarray | None:
    """The ids as unsigned numbers when every id parses as one below 2**value_bits, else None.
    The caller still checks with ``_plain_decimals`` that the texts are the numbers' plain
    decimals ('17', not '017' or '+17'). Such ids are grouped and ordered as numbers: no string
    hashing and no string sort (most event logs number their items). ``numbers``: the ids
    already cast to UInt64 (while scanning)."""
    if ids.dtype != pl.String or value_bits < 1:
        return None
    if numbers is None:
        numbers = ids.cast(pl.UInt64, strict=False)
    if numbers.null_count():
        return None
    values = numbers.to_numpy()
    if int(values.max()) >> value_bits:
        return None
    return values


def _plain_decimals(text_bytes: int, rows: int, distinct: np.ndarray, starts: np.ndarray) -> bool:
    """Whether each id is its number's plain decimal text, given the ids' total ``text_bytes``
    over ``rows`` rows. A text the number cast accepts is at least as long as the plain decimal
    (only leading zeros or '+' can be added), so equal total lengths mean every text is plain:
    one sum over the rows, digits per distinct id."""
    counts = np.diff(np.append(starts, rows))
    plain_length = int((_digits(distinct).astype(np.int64) * counts).sum())
    return text_bytes == plain_length


def _item_runs_numeric(
    values: np.ndarray, row_bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_item_runs`` for ids that are numbers: the value itself is the exact sort key. Also
    returns the distinct values in run order. ``values`` is overwritten when it is writable
    (no second 8-byte-per-row key array)."""
    n = values.size
    key = values if values.flags.writeable else values.copy()
    key <<= np.uint64(row_bits)
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    if row_bits <= 32:  # the low 32 bits hold the row number and some id bits: mask those
        rows = key.astype(np.uint32)
        rows &= np.uint32((1 << row_bits) - 1)
    else:
        rows = (key & np.uint64((1 << row_bits) - 1)).astype(np.int64)
    key >>= np.uint64(row_bits)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    return rows, starts, key[starts]


def _decimal_text_order(values: np.ndarray) -> np.ndarray:
    """The order that sorts distinct numbers by their decimal text ('10' < '9'): texts compare
    like their digits padded on the right with zeros to a common width, a prefix first."""
    digits = _digits(values)
    width = int(digits.max())
    padded = values * _POW10[width - digits]
    return np.lexsort((digits, padded))


def _item_runs(ids: pl.Series, row_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ordered so that each distinct id is one run (its rows in file order), and
    the index where each run starts. ``ids`` holds no nulls and fewer than 2**row_bits rows."""
    n = ids.len()
    low = np.uint64((1 << row_bits) - 1)
    key = ids.hash().to_numpy() & ~low
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    rows = (key & low).astype(np.uint32 if n <= 1 << 32 else np.int64)
    key >>= np.uint64(row_bits)  # the hash bits that were sorted on
    same = key[1:] == key[:-1]
    del key
    check = ids.hash(seed=1).to_numpy()[rows]
    mixed = same & (check[1:] != check[:-1])
    if mixed.any():  # rare: different ids share the sorted bits; order such runs by `check`
        bounds = np.flatnonzero(np.append(True, ~same))
        ends = np.append(bounds[1:], n)
        for run in np.unique(np.searchsorted(bounds, np.flatnonzero(mixed), side="right") - 1):
            part = slice(bounds[run], ends[run])
            order = np.argsort(check[part], kind="stable")
            rows[part], check[part] = rows[part][order], check[part][order]
        same &= check[1:] == check[:-1]
    return rows, np.flatnonzero(np.append(True, ~same))


def _first_valid(
    values: pl.Series, rows: np.ndarray, starts: np.ndarray, first: np.ndarray
) -> pl.Series:
    """Per run of ``rows``, the first non-null value in file order (null when there is none)."""
    nulls = values.null_count()
    if nulls == 0:
        return values.gather(first)
    if nulls == values.len():
        return pl.Series(values.name, [None] * starts.size, dtype=values.dtype)
    valid = values.is_not_null().to_numpy()[rows]
    position = np.where(valid, np.arange(rows.size), rows.size)
    found = np.minimum.reduceat(position, starts)
    picked = values.gather(rows[np.minimum(found, rows.size - 1)])
    keep = pl.Series(found < rows.size)
    return pl.select(pl.when(keep).then(picked)).to_series()


def _sort_by_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame.sort(column)`` for a column of distinct non-null texts, faster: Polars sorts text
    values quickly but its argsort of text is slow, so the order is recovered by matching the
    sorted values' hashes to the frame's (checked value by value; a plain sort otherwise)."""
    keys = frame.get_column(column)
    ordered = keys.sort()
    perm = np.empty(keys.len(), dtype=np.int64)
    perm[np.argsort(ordered.hash().to_numpy())] = np.argsort(keys.hash().to_numpy())
    if keys.gather(perm).equals(ordered):
        return frame[perm]
    return frame.sort(column)
