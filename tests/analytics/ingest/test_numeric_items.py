"""The item table's numeric-id path (ids that are plain decimal text are grouped and ordered as
numbers) gives what the plain group-by gives, and texts that only look numeric keep the text
path: '007', '+7', ' 7' and '7' are four different items."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.core.schema import CATEGORY, ITEM_ID, PRICE
from analytics.ingest import pipeline as ingest


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
    fast = ingest._items(frame)
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
    assert ingest._items(frame).equals(ingest._items_by_group_by(frame))
