"""Ranking metrics against worked examples computed by hand."""

from __future__ import annotations

import math

import polars as pl
import pytest

from models.recommend.metrics import (
    catalogue_coverage,
    evaluate_ranking,
    hit_rate_at_k,
    ndcg_at_k,
    popularity_bias,
    recall_at_k,
)


def _recs(rows: dict[str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"user_id": u, "rank": r + 1, "item_id": item}
            for u, items in rows.items()
            for r, item in enumerate(items)
        ]
    )


def _truth(rows: dict[str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame([{"user_id": u, "item_id": i} for u, items in rows.items() for i in items])


RECS = _recs({"a": ["x", "y", "z"], "b": ["y", "x", "w"], "c": ["x"]})
TRUTH = _truth({"a": ["y", "q"], "b": ["w"], "d": ["x"]})  # d has no recommendations


def test_ndcg_worked_example() -> None:
    # a: hit at rank 2 -> dcg 1/log2(3); ideal (2 relevant) 1 + 1/log2(3)
    a = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    b = (1 / math.log2(4)) / 1.0  # hit at rank 3, one relevant item
    d = 0.0  # no recommendations
    assert ndcg_at_k(RECS, TRUTH, k=3) == pytest.approx((a + b + d) / 3)
    # with k=2 user b's hit falls outside the list
    assert ndcg_at_k(RECS, TRUTH, k=2) == pytest.approx(a / 3)


def test_perfect_list_scores_one() -> None:
    assert ndcg_at_k(
        _recs({"a": ["q", "y", "z"]}), _truth({"a": ["y", "q"]}), k=3
    ) == pytest.approx(1.0)


def test_recall_and_hit_rate() -> None:
    assert recall_at_k(RECS, TRUTH, k=3) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert hit_rate_at_k(RECS, TRUTH, k=3) == pytest.approx(2 / 3)
    assert hit_rate_at_k(RECS, TRUTH, k=1) == pytest.approx(0.0)


def test_duplicates_count_once() -> None:
    recs = _recs({"a": ["y", "y", "q"]})
    assert recall_at_k(recs, _truth({"a": ["y", "q"]}), k=3) == 1.0


def test_coverage_and_popularity_bias() -> None:
    assert catalogue_coverage(RECS, n_items=8, k=3) == pytest.approx(4 / 8)  # x, y, z, w
    assert catalogue_coverage(RECS, n_items=0) == 0.0
    pop = pl.DataFrame({"item_id": ["x", "y", "z"], "popularity": [30, 20, 10]})
    # percentiles: x 1.0, y 0.5, z 0.0; w missing -> 0. top-1 lists: x, y, x
    assert popularity_bias(RECS, pop, k=1) == pytest.approx((1.0 + 0.5 + 1.0) / 3)


def test_evaluate_ranking_bundles_all_metrics() -> None:
    pop = pl.DataFrame({"item_id": ["x", "y"], "popularity": [2, 1]})
    out = evaluate_ranking(RECS, TRUTH, k=3, n_items=5, item_popularity=pop)
    assert out["ndcg"] == pytest.approx(ndcg_at_k(RECS, TRUTH, k=3))
    assert out["hit_rate"] == pytest.approx(2 / 3)
    assert out["users"] == 3
    # only users in the truth count towards coverage: a's and b's lists -> x, y, z, w
    assert out["coverage"] == pytest.approx(4 / 5)


def test_empty_truth_gives_zero() -> None:
    empty = pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String})
    assert ndcg_at_k(RECS, empty) == 0.0
