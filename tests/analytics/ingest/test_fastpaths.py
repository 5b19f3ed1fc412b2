"""Ingest's fast paths give what the plain ones give: the sort-based item table (collisions
included) and the strict UTF-8 typed scan (a bad byte past the sniffed start falls back)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.core.schema import CATEGORY, ITEM_ID, ITEM_NAME, PRICE
from analytics.ingest import pipeline as ingest
from analytics.ingest.readers import SNIFF_BYTES


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
    fast = ingest._items(frame)
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
    items = ingest._items(frame)
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
    assert ingest._items(frame).equals(ingest._items_by_group_by(frame))


def test_sort_by_text_matches_sort():
    frame = pl.DataFrame({"k": ["b", "a", "ab", "", "10", "9", "é"], "v": range(7)})
    assert ingest._sort_by_text(frame, "k").equals(frame.sort("k"))


def test_bad_utf8_byte_after_the_sniff_falls_back_to_lossy_text(tmp_path):
    rows = ["user_id,item_id,behavior_type,timestamp,price"]
    rows += [f"{i % 50},{i % 70},pv,{1511544070 + i},{i % 9}.5" for i in range(50_000)]
    body = "\n".join(rows).encode() + b"\n7,caf\xe9,buy,1511600000,2.5\n"
    assert len(body) > SNIFF_BYTES
    path = tmp_path / "events.csv"
    path.write_bytes(body)
    result = ingest.ingest_file(path)
    assert result.report["rows_read"] == 50_001
    assert result.report["rows_rejected"] == 0
    last = result.events.row(-1, named=True)
    assert last["item_id"] == "caf\ufffd"
    assert last["price"] == 2.5
    assert last["event_type"] == "purchase"


def test_surplus_fields_after_the_sniff_fall_back_and_are_reported(tmp_path):
    # the typed scan has no column for surplus fields: such a row fails it, and the plain
    # rescan reports the row with its line number and its whole text
    rows = ["user_id,item_id,behavior_type,timestamp,price"]
    rows += [f"{i % 50},{i % 70},pv,{1511544070 + i},{i % 9}.5" for i in range(50_000)]
    body = "\n".join(rows) + "\n7,8,buy,1511600000,2.5,surplus\n9,8,buy,1511600001,3\n"
    assert len(body) > SNIFF_BYTES
    path = tmp_path / "events.csv"
    path.write_text(body)
    result = ingest.ingest_file(path)
    r = result.report
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (50_002, 50_001, 1)
    assert result.rejects.rows() == [
        (50_002, "wrong number of fields", "7,8,buy,1511600000,2.5,surplus")
    ]
    assert result.events.get_column("price").dtype == pl.Float64


@pytest.mark.parametrize("few", [8, 0])  # the sample's spellings compared one by one, or not
def test_event_types_compare_sample_words_and_look_up_the_rest(monkeypatch, few):
    monkeypatch.setattr(ingest, "_FEW_SPELLINGS", few)
    sample = pl.Series(["pv", "buy", "cart", "pv", "mystery"])
    # 'Purchase' and 'fav' are known words the sample did not hold; 'odd' is unknown anywhere
    values = pl.Series("b", ["pv", None, "buy", "Purchase", "odd", "cart", "fav", "mystery"])
    got = ingest._event_types(values, sample).to_list()
    assert got == ["view", "other", "purchase", "purchase", "other", "cart", "fav", "other"]
