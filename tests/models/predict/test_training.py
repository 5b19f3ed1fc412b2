"""fit_on_split: out-of-time training and scoring on a small generated store."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from analytics.core.errors import NotEnoughData
from models.predict.training import PredictorSpec, fit_on_split
from tests.models.predict.synthetic import USER, synthetic_store


def test_fit_on_split_trains_out_of_time_and_scores_everyone(store):
    run = fit_on_split(store, PredictorSpec("purchase", n_estimators=40))
    assert run.comparison["used"] in ("lightgbm", "sequence", "blend")
    assert set(run.comparison["auc"]) == {"lightgbm", "sequence", "blend"}
    assert run.train_cutoff < run.eval_cutoff < run.score_cutoff
    assert run.eval_cutoff - run.train_cutoff == timedelta(days=run.choice.horizon_days)
    assert run.scores[USER].n_unique() == store[USER].n_unique()
    assert run.metrics["auc"] > 0.65 and run.metrics["quality"] != "Unknown"
    assert run.baseline["name"] in ("RFM logistic", "BG/NBD")
    low, high = run.metrics["auc_ci"]
    assert low <= run.metrics["auc"] <= high and high - low < 0.3
    assert len(run.metrics["auc_gain_ci"]) == 2 and isinstance(run.metrics["notes"], list)
    assert "expected_purchases" in run.scores.columns
    frequent = run.scores.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 0)["score"].mean()
    rare = run.scores.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 1)["score"].mean()
    assert frequent > 1.3 * rare


def test_fit_on_split_revenue_and_next_category(store):
    rev = fit_on_split(store, PredictorSpec("revenue", horizon_days=14, n_estimators=30))
    assert {"lower", "upper"} <= set(rev.scores.columns)
    assert "mae" in rev.metrics and "bias" in rev.metrics
    assert rev.metrics["bias_ci"][0] <= rev.metrics["bias"] <= rev.metrics["bias_ci"][1]
    cat = fit_on_split(store, PredictorSpec("next_category", horizon_days=14, n_estimators=30))
    assert cat.metrics["top1"] > 0.75  # each kind buys one category
    assert set(cat.scores["category"].unique()) <= {"books", "garden"}


def test_fit_on_split_refuses_too_short_data(store):
    with pytest.raises(NotEnoughData, match="shorter horizon"):
        fit_on_split(store, PredictorSpec("purchase", horizon_days=70, n_estimators=10))


def test_revenue_run_adds_a_365_day_value_only_where_the_data_spans_a_year(store):
    short = fit_on_split(store, PredictorSpec("revenue", horizon_days=14, n_estimators=20))
    assert "clv_365" not in short.scores.columns and "skipped" in short.clv
    long = synthetic_store(users=120, days=400, seed=4)
    run = fit_on_split(long, PredictorSpec("revenue", horizon_days=28, n_estimators=20))
    assert run.clv["days"] == 365
    assert run.scores["clv_365"].min() >= 0
    assert run.clv["total"] == pytest.approx(run.scores["clv_365"].sum())


def test_buyer_churn_scores_rare_buyers_riskier(store):
    run = fit_on_split(store, PredictorSpec("buyer_churn", horizon_days=14, n_estimators=30))
    assert run.choice.active_days is None and "every past buyer" in run.choice.reason
    assert run.baseline["name"] in ("RFM logistic", "BG/NBD") and "auc_ci" in run.metrics
    kind = pl.col(USER).str.slice(1).cast(pl.Int64) % 2
    frequent = run.scores.filter(kind == 0)["score"].mean()
    rare = run.scores.filter(kind == 1)["score"].mean()
    assert rare > frequent + 0.2  # buying every ~60 days: most 14-day windows have no order
    buyers = store.filter(pl.col("event_type") == "purchase")[USER].n_unique()
    assert run.scores.height == buyers  # past buyers only
