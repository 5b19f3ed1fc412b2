"""Every recommender scored on one held-out window."""

from __future__ import annotations

from datetime import date

import polars as pl

from models.recommend.evaluation import evaluate_recommenders
from models.recommend.fitting import RecommendConfig
from tests.models.recommend.logs import events_of, shop


def test_evaluation_compares_every_model_without_leakage() -> None:
    ev = shop(users=60, days=70)
    late = events_of([("u0", "a99", 69, "purchase")])  # an item first sold after the cutoff
    cfg = RecommendConfig(horizon_days=14, sequential=False)
    evaluation, fitted = evaluate_recommenders(pl.concat([ev, late]), date(2024, 2, 25), cfg)
    assert "a99" not in fitted.history.items["item_id"].to_list()
    models = set(evaluation.table["model"])
    assert {"popularity", "own_most_bought", "buy_again", "knn", "ease", "als", "blend"} <= models
    assert evaluation.chosen in models
    blend = evaluation.metrics("blend")
    assert 0 < blend["ndcg"] <= 1 and blend["users"] > 0
    # staples are rebought weekly: the blend beats the best sellers by far
    assert evaluation.lift("blend") > 1.5
