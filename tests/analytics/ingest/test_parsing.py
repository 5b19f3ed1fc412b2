"""Parsing expressions: behaviour words to canonical event types."""

from __future__ import annotations

import polars as pl
import pytest

from analytics.ingest import parsing


@pytest.mark.parametrize("few", [8, 0])  # the sample's spellings compared one by one, or not
def test_event_types_compare_sample_words_and_look_up_the_rest(monkeypatch, few):
    monkeypatch.setattr(parsing, "_FEW_SPELLINGS", few)
    sample = pl.Series(["pv", "buy", "cart", "pv", "mystery"])
    # 'Purchase' and 'fav' are known words the sample did not hold; 'odd' is unknown anywhere
    values = pl.Series("b", ["pv", None, "buy", "Purchase", "odd", "cart", "fav", "mystery"])
    got = parsing.event_types(values, sample).to_list()
    assert got == ["view", "other", "purchase", "purchase", "other", "cart", "fav", "other"]
