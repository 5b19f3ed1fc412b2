"""The item table's fast paths give what the plain group-by gives: the sort-based runs
(hash collisions included) and the numeric-id path (ids that are plain decimal text are grouped
and ordered as numbers; texts that only look numeric keep the text path: '007', '+7', ' 7' and
'7' are four different items)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.core.schema import CATEGORY, ITEM_ID, ITEM_NAME, PRICE
from analytics.ingest import items as ingest


def events(n: int, items: int, seed: int, *, nulls: bool = True, names: bool = True):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, items, n).astype(str).astype(object)
    category = rng.integers(0, 30, n).astype(str).astype(object)
    price = np.round(rng.normal(10, 8, n), 2)  # some zero and negative prices: not in the median
    if nulls:
        ids[rng.random(n) < 0.05] = None
        category[rng.random(n) < 0.4] = None
    frame = pl.DataFrame(
        {
            ITEM_ID: pl.Series(ids, dtype=pl.String),
            CATEGORY: pl.Series(category, dtype=pl.String),
            PRICE: pl.Series(np.where(rng.random(n) < 0.1, np.nan, price)).fill_nan(None),
        }
    )
    if names:
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) % 3 == 0)
            .then(pl.lit("name ") + pl.col(ITEM_ID))
            .alias(ITEM_NAME)
        )
    return frame


@pytest.mark.parametrize("nulls", [True, False])
@pytest.mark.parametrize("names", [True, False])
def test_sorted_items_equal_group_by(monkeypatch, nulls, names):
    monkeypatch.setattr(ingest, "_SORTED_ITEMS_FROM", 2)
    frame = events(60_000, 7_000, seed=1, nulls=nulls, names=names)
    fast = ingest.items_table(frame)
    assert fast.equals(ingest._items_by_group_by(frame))
    assert fast.columns == [ITEM_ID, CATEGORY, PRICE, *(["name"] if names else [])]


def test_items_planted_values(monkeypatch):
    """First non-null category in file order, median of the positive prices only."""
    monkeypatch.setattr(ingest, "_SORTED_ITEMS_FROM", 2)
    frame = pl.DataFrame(
        {
            ITEM_ID: ["b", "a", "b", "a", None, "b", "c"],
            CATEGORY: [None, "x", "late", "y", "z", "first?", None],
            PRICE: [5.0, -1.0, 1.0, 3.0, 9.0, 0.0, None],
        }
    )
    items = ingest.items_table(frame)
    assert items.to_dict(as_series=False) == {
        ITEM_ID: ["a", "b", "c"],
        CATEGORY: ["x", "late", None],
        PRICE: [3.0, 3.0, None],
    }


def test_runs_split_when_sorted_bits_collide():
    """With only 4 hash bits sorted on, nearly every run mixes items: the check hash splits
    them, and every run then holds one id, its rows in file order."""
    ids = pl.Series(ITEM_ID, [str(i % 97) for i in range(2_000)])
    rows, starts = ingest._item_runs(ids, row_bits=60)
    assert sorted(rows.tolist()) == list(range(2_000))
    ends = np.append(starts[1:], rows.size)
    assert starts.size == 97
    for start, end in zip(starts, ends, strict=True):
        run = rows[start:end]
        assert ids.gather(run).n_unique() == 1
        assert (np.diff(run) > 0).all()


def test_collisions_give_the_same_table(monkeypatch):
    monkeypatch.setattr(ingest, "_SORTED_ITEMS_FROM", 2)
    real = ingest._item_runs
    monkeypatch.setattr(ingest, "_item_runs", lambda ids, bits: real(ids, 60))
    frame = events(20_000, 3_000, seed=2)
    assert ingest.items_table(frame).equals(ingest._items_by_group_by(frame))


def test_sort_by_text_matches_sort():
    frame = pl.DataFrame({"k": ["b", "a", "ab", "", "10", "9", "é"], "v": range(7)})
    assert ingest._sort_by_text(frame, "k").equals(frame.sort("k"))


def frame_of(ids: list[str | None], seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    draws = zip(rng.random(n), rng.integers(0, 5, n), strict=True)
    category = [None if r < 0.3 else str(c) for r, c in draws]
    return pl.DataFrame(
        {
            ITEM_ID: pl.Series(ids, dtype=pl.String),
            CATEGORY: pl.Series(category, dtype=pl.String),
            PRICE: np.round(rng.normal(10, 8, n), 2),
        }
    )


@pytest.mark.parametrize(
    "pool",
    [
        ["0", "1", "9", "10", "100", "101", "2", "20", "99", "1000000", "18446744073"],
        ["7", "007", "+7", " 7", "70", "0", "00", "1e1", "10"],  # text path: not all plain
        ["5", "-5", "5"],
        ["12345678901234567890", "1", "2"],  # over 64 bits: the text path
    ],
)
def test_numeric_ids_equal_group_by(monkeypatch, pool):
    monkeypatch.setattr(ingest, "_SORTED_ITEMS_FROM", 2)
    rng = np.random.default_rng(3)
    ids = [pool[i] for i in rng.integers(0, len(pool), 3_000)]
    ids[5] = None
    frame = frame_of(ids)
    fast = ingest.items_table(frame)
    assert fast.equals(ingest._items_by_group_by(frame))
    assert fast.get_column(ITEM_ID).to_list() == sorted(set(pool))


def test_decimal_ids_only_for_plain_decimals():
    plain = pl.Series(["0", "7", "10", "123"])
    assert ingest._decimal_ids(plain, 40).tolist() == [0, 7, 10, 123]
    for odd in (" 7", "7 ", "7.0", "x", "1_0", "1e9", "-0"):
        assert ingest._decimal_ids(pl.Series(["1", odd]), 40) is None, odd
    assert ingest._decimal_ids(pl.Series(["1", str(1 << 41)]), 40) is None  # too wide to pack
    for odd in ("007", "+7"):  # parse as 7, but are not its plain text
        ids = pl.Series(["7", odd, "10"])
        values = ingest._decimal_ids(ids, 40)
        _, starts, distinct = ingest._item_runs_numeric(values, 8)
        total = int(ids.str.len_bytes().sum())
        assert not ingest._plain_decimals(total, ids.len(), distinct, starts), odd
    ids = pl.Series(["7", "10", "7"])
    values = ingest._decimal_ids(ids, 40)
    _, starts, distinct = ingest._item_runs_numeric(values, 8)
    assert ingest._plain_decimals(int(ids.str.len_bytes().sum()), ids.len(), distinct, starts)


def test_decimal_text_order_sorts_like_text():
    values = np.array([9, 10, 1, 100, 0, 19, 2, 1000000, 11], dtype=np.uint64)
    order = ingest._decimal_text_order(values)
    assert [str(v) for v in values[order]] == sorted(str(v) for v in values)


def test_text_ids_with_colliding_hash_bits_still_equal_group_by(monkeypatch):
    """Numbered ids now take the numeric path, so the hash path's collision handling is
    checked here with ids that are not numbers (only 4 hash bits sorted on)."""
    monkeypatch.setattr(ingest, "_SORTED_ITEMS_FROM", 2)
    real = ingest._item_runs
    monkeypatch.setattr(ingest, "_item_runs", lambda ids, bits: real(ids, 60))
    rng = np.random.default_rng(4)
    frame = frame_of([f"x{i}" for i in rng.integers(0, 500, 5_000)])
    assert ingest._decimal_ids(frame.get_column(ITEM_ID), 40) is None
    assert ingest.items_table(frame).equals(ingest._items_by_group_by(frame))
