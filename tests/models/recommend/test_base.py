"""The single-signal recommenders and the history they share."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from analytics.core.errors import NotEnoughData
from models.recommend.base import (
    BuyAgainRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    build_history,
    repurchase_propensity,
    top_n,
)
from tests.models.recommend.logs import BASKETS, CUT, code_of, events_of


def test_history_stops_at_the_cutoff() -> None:
    h = build_history(BASKETS, CUT)
    assert "q" not in h.items["item_id"].to_list()
    assert "E" not in h.users["user_id"].to_list()
    assert h.cutoff == datetime(2024, 1, 10, 23, 59, 59, 999999, tzinfo=UTC)
    assert "q" in build_history(BASKETS, date(2024, 1, 31)).items["item_id"].to_list()


def test_cooccurrence_counts_and_similar_items() -> None:
    h = build_history(BASKETS, CUT)
    knn = ItemKNNRecommender(neighbours=10, shrink=0.0).fit(h)
    x, y, z = (code_of(h, c) for c in "xyz")
    co = knn.cooccurrence_
    assert co[x, y] == 2 and co[x, z] == 2 and co[y, z] == 1 and co[x, x] == 0
    # cosine: x-y = 2 / sqrt(3 * 2)
    assert knn.similarity_[x, y] == pytest.approx(2 / np.sqrt(6), rel=1e-5)
    codes, _ = knn.similar(y, 2)
    assert codes[0] == x  # y is bought with x twice, with z once
    # user A (x, y) should be offered z, the one item they lack
    items, _ = top_n(knn.score, np.array([0]), 1, n_items=h.n_items, exclude=h.bought())
    assert items[0, 0] == z


def test_top_n_excludes_and_filters() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    excl = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(np.array([[1, 0, 0, 0]]))
    items, sc = top_n(
        lambda u: scores,
        np.array([0]),
        3,
        n_items=4,
        exclude=excl,
        allowed=np.array([True, True, False, True]),
    )
    assert items.tolist() == [[1, 3, -1]]
    assert np.isneginf(sc[0, 2])


def test_popularity_counts_recent_buyers() -> None:
    h = build_history(BASKETS, CUT)
    pop = PopularityRecommender(window_days=8.6).fit(h)  # days 2..10 from the cutoff end
    # buyers in the window: only C (x, z) bought within 8.6 days of the end of Jan 10
    assert pop.popularity_[code_of(h, "x")] > pop.popularity_[code_of(h, "y")]
    assert pop.top_in_category(h.items.filter(pl.col("item_id") == "z")["c"][0], 1).tolist() == [
        code_of(h, "z")
    ]


def test_trending_counts_only_new_buyers() -> None:
    """Over the last 3 days (offsets 6.5..9.5): x is re-bought by A and bought first by B, z
    bought first by D and E, y re-bought by C only; all buyers rank x = z > y, new buyers
    z (2) > x (1) > y (0)."""
    ev = events_of(
        [
            ("A", "x", 0, "purchase"),
            ("A", "x", 8, "purchase"),
            ("B", "x", 8, "purchase"),
            ("C", "y", 1, "purchase"),
            ("C", "y", 8, "purchase"),
            ("D", "z", 9, "purchase"),
            ("E", "z", 8.5, "purchase"),
            ("F", "w", 8, "view"),
        ]
    )
    h = build_history(ev, CUT)
    codes = [code_of(h, item) for item in "xyz"]
    every = PopularityRecommender(window_days=3).fit(h).popularity_[codes]
    new = PopularityRecommender(window_days=3, first_time=True).fit(h).popularity_[codes]
    assert np.floor(every).tolist() == [2, 1, 2]
    assert np.floor(new).tolist() == [1, 0, 2]
    assert new[1] > 0  # the all-time tie-break keeps bought items above never-bought ones


def test_buy_again_ranks_own_items_by_decayed_frequency() -> None:
    ev = events_of(
        [
            ("A", "old", 0, "purchase"),
            ("A", "old", 1, "purchase"),
            ("A", "fresh", 9, "purchase"),
            ("A", "fresh", 8, "purchase"),
            ("B", "other", 9, "purchase"),
        ]
    )
    h = build_history(ev, CUT)
    ba = BuyAgainRecommender(half_life_days=2.0).fit(h)
    s = ba.score(np.array([0]))[0]
    assert s[code_of(h, "fresh")] > s[code_of(h, "old")] > 0
    assert np.isneginf(s[code_of(h, "other")])  # never bought by A


def test_repurchase_propensity_worked_example() -> None:
    pairs = pl.DataFrame({"i": [0, 0, 1], "n": [3, 1, 1]})
    # overall share 1/3; item 0: (1 + 2/3) / (2 + 2); item 1: (0 + 2/3) / (1 + 2)
    prop = repurchase_propensity(pairs, 3, prior=2.0)
    assert prop[0] == pytest.approx((1 + 2 / 3) / 4)
    assert prop[1] == pytest.approx((2 / 3) / 3)
    assert prop[2] == pytest.approx(1 / 3)


def test_no_items_is_a_clear_error() -> None:
    ev = BASKETS.with_columns(pl.lit(None, pl.String).alias("item_id"))
    with pytest.raises(NotEnoughData, match="nothing to recommend"):
        build_history(ev, CUT)
