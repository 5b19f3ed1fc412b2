"""LightGBM predictors: scikit-learn contract, safe round trips, and a tiny time-split run."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.model_files import load_state_dict, save_state_dict, unpack_boosters
from models.predict.baselines import BetaGeo, repeat_summary
from models.predict.predictors import (
    GBMCategory,
    GBMClassifier,
    GBMRevenue,
    PredictorSpec,
    clv_projection,
    fit_on_split,
    load_predictor,
)

SMALL = {"n_estimators": 60, "early_stopping_rounds": 10, "min_child_samples": 10, "n_jobs": 1}


def _binary(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(2 * X[:, 0] - X[:, 1])))
    return X, (rng.uniform(size=n) < p).astype(int), p


def test_classifier_contract_and_calibration():
    X, y, p_true = _binary()
    model = GBMClassifier(**SMALL)
    assert model.fit(X, y, feature_names=["a", "b", "c", "d"]) is model
    proba = model.predict_proba(X)
    assert proba.shape == (600, 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(model.predict(X)) <= {0, 1}
    assert model.feature_names_in_ == ["a", "b", "c", "d"] and model.best_iteration_ >= 1
    assert abs(proba[:, 1].mean() - y.mean()) < 0.08  # calibrated on average
    assert np.corrcoef(proba[:, 1], p_true)[0, 1] > 0.8
    assert model.get_params()["n_estimators"] == 60


def test_classifier_round_trips_through_text_and_json():
    X, y, _ = _binary()
    model = GBMClassifier(**SMALL).fit(X, y)
    data = model.to_bytes()
    assert b"tree" in data  # LightGBM text inside JSON, no pickle
    again = load_predictor(data)
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))


def test_bagged_classifier_averages_its_boosters_and_round_trips():
    X, y, p_true = _binary()
    model = GBMClassifier(**SMALL, n_bags=3).fit(X, y)
    bags = model.bags()
    assert len(bags) == 3 and len({b.model_to_string() for b, _ in bags}) == 3
    mean = np.mean([b.predict(X, raw_score=True, num_iteration=it) for b, it in bags], axis=0)
    assert np.allclose(model.decision_function(X), mean)
    assert np.corrcoef(model.predict_proba(X)[:, 1], p_true)[0, 1] > 0.8
    again = load_predictor(model.to_bytes())
    assert len(again.bags()) == 3
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))


def test_linear_start_is_explained_exactly_and_round_trips():
    from models.predict.explain import explain_bagged, with_linear

    X, y, _ = _binary()
    X = np.abs(X) * 3  # counts-like inputs for the log1p logistic
    model = GBMClassifier(**SMALL, n_bags=2, linear_columns=[0, 1]).fit(X, y)
    contributions, intercept = model.linear_parts(X)
    assert np.all(contributions[:, 2:] == 0)  # only the linear columns contribute linearly
    expl = with_linear(explain_bagged(model.bags(), X, list("abcd")), contributions, intercept)
    assert np.allclose(expl.margin, model.decision_function(X))
    again = load_predictor(model.to_bytes())
    assert np.allclose(again.decision_function(X), model.decision_function(X))
    assert again.linear_parts(X)[1] == pytest.approx(intercept)


def test_classifier_needs_both_outcomes():
    X, _, _ = _binary()
    with pytest.raises(NotEnoughData):
        GBMClassifier(**SMALL).fit(X, np.zeros(len(X), dtype=int))


def test_revenue_interval_holds_the_mean_and_round_trips():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 3))
    buys = rng.uniform(size=800) < 1 / (1 + np.exp(-X[:, 0]))
    y = np.where(buys, np.exp(3 + 0.5 * X[:, 1] + rng.normal(0, 0.3, 800)), 0.0)
    model = GBMRevenue(**SMALL).fit(X, y)
    mean = model.predict(X)
    lo, hi = model.predict_interval(X)
    assert np.all(lo <= mean + 1e-9) and np.all(mean <= hi + 1e-9) and np.all(lo >= 0)
    assert mean.sum() == pytest.approx(y.sum(), rel=0.15)
    again = load_predictor(model.to_bytes())
    assert np.allclose(again.predict(X), mean)
    assert np.allclose(again.predict_interval(X)[1], hi)


def test_category_model_learns_separable_classes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 2))
    y = np.where(X[:, 0] > 0.5, "shoes", np.where(X[:, 0] < -0.5, "hats", "bags"))
    model = GBMCategory(**SMALL).fit(X, y)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.ranked(X[:1], k=3)[0][0] == y[0]
    again = load_predictor(model.to_bytes())
    assert list(again.predict(X[:20])) == list(model.predict(X[:20]))


def test_foreign_bytes_are_refused():
    with pytest.raises(SpecError):
        unpack_boosters(pickle.dumps({"boosters": {}}))


def test_torch_state_dict_round_trip_refuses_arbitrary_objects():
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    loaded, meta = load_state_dict(save_state_dict(state, {"hidden": 8}))
    assert torch.equal(loaded["w"], state["w"]) and meta == {"hidden": 8}

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    import io

    buf = io.BytesIO()
    torch.save({"state": Evil(), "meta": "{}"}, buf)
    with pytest.raises(SpecError):
        load_state_dict(buf.getvalue())


def synthetic_store(users: int = 400, days: int = 120, seed: int = 0) -> pl.DataFrame:
    """Two kinds of users: frequent buyers (every ~5 days) and rare ones (every ~60 days)."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for u in range(users):
        frequent = u % 2 == 0
        rate = 1 / 5 if frequent else 1 / 60
        t = rng.uniform(0, 10)
        while t < days:
            cat = "books" if frequent else "garden"
            when = start + timedelta(days=float(t))
            rows.append((f"u{u:03d}", when, "view", cat, None))
            if rng.uniform() < 0.7:
                rows.append((f"u{u:03d}", when + timedelta(minutes=5), "purchase", cat, 20.0))
            t += rng.exponential(1 / rate)
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "event_time": pl.Datetime("us", "UTC"),
            "event_type": pl.String,
            "category": pl.String,
            "revenue": pl.Float64,
        },
        orient="row",
    )


@pytest.fixture(scope="module")
def store():
    return synthetic_store()


def test_fit_on_split_trains_out_of_time_and_scores_everyone(store):
    run = fit_on_split(store, PredictorSpec("purchase", n_estimators=40))
    assert run.comparison["used"] in ("lightgbm", "sequence", "blend")
    assert set(run.comparison["auc"]) == {"lightgbm", "sequence", "blend"}
    assert run.train_cutoff < run.eval_cutoff < run.score_cutoff
    assert run.eval_cutoff - run.train_cutoff == timedelta(days=run.choice.horizon_days)
    assert run.scores[USER].n_unique() == store[USER].n_unique()
    assert run.metrics["auc"] > 0.65 and run.metrics["quality"] != "Unknown"
    assert run.baseline["name"] in ("RFM logistic", "BG/NBD")
    assert "expected_purchases" in run.scores.columns
    frequent = run.scores.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 0)["score"].mean()
    rare = run.scores.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 1)["score"].mean()
    assert frequent > 1.3 * rare


def test_fit_on_split_revenue_and_next_category(store):
    rev = fit_on_split(store, PredictorSpec("revenue", horizon_days=14, n_estimators=30))
    assert {"lower", "upper"} <= set(rev.scores.columns)
    assert "mae" in rev.metrics and "bias" in rev.metrics
    cat = fit_on_split(store, PredictorSpec("next_category", horizon_days=14, n_estimators=30))
    assert cat.metrics["top1"] > 0.75  # each kind buys one category
    assert set(cat.scores["category"].unique()) <= {"books", "garden"}


def test_fit_on_split_refuses_too_short_data(store):
    with pytest.raises(NotEnoughData, match="shorter horizon"):
        fit_on_split(store, PredictorSpec("purchase", horizon_days=70, n_estimators=10))


USER = "user_id"


def test_clv_projection_is_bgnbd_purchases_times_shrunk_spend():
    store = synthetic_store(users=200, days=400, seed=3)
    cutoff = datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
    clv = clv_projection(store, cutoff)
    s = repeat_summary(store, cutoff)
    args = (s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy())
    expected = BetaGeo().fit(*args).expected_purchases(365.0, *args)
    n = args[0] + 1
    spend = (n * s["monetary"].to_numpy() + s["monetary"].mean()) / (n + 1)
    assert clv[USER].to_list() == s[USER].to_list()
    assert np.allclose(clv["clv"].to_numpy(), expected * spend)
    frequent = clv.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 0)["clv"].mean()
    rare = clv.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 1)["clv"].mean()
    assert frequent > 3 * rare  # every ~5 days against every ~60 days, 20 per order


def test_revenue_run_adds_a_365_day_value_only_where_the_data_spans_a_year(store):
    short = fit_on_split(store, PredictorSpec("revenue", horizon_days=14, n_estimators=20))
    assert "clv_365" not in short.scores.columns and "skipped" in short.clv
    long = synthetic_store(users=120, days=400, seed=4)
    run = fit_on_split(long, PredictorSpec("revenue", horizon_days=28, n_estimators=20))
    assert run.clv["days"] == 365
    assert run.scores["clv_365"].min() >= 0
    assert run.clv["total"] == pytest.approx(run.scores["clv_365"].sum())
