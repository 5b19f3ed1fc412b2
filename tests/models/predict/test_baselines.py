"""BG/NBD against published CDNOW figures and simulated data; RFM logistic; category baselines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from analytics.core.errors import NotEnoughData
from models.predict.baselines import (
    BetaGeo,
    RecencyLogistic,
    last_category_predict,
    popularity_predict,
    repeat_summary,
)

CDNOW_SAMPLE = (
    Path(__file__).resolve().parents[4] / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"
)


def _simulate(n: int, r: float, alpha: float, a: float, b: float, T: float, horizon: float, seed=0):
    """Customers born at 0, observed to T; returns (x, t_x, T, purchases in (T, T+horizon])."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    future = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > T + horizon:
                break
            if t <= T:
                x[i] += 1
                tx[i] = t
            else:
                future[i] += 1
            if rng.random() < p[i]:  # dies right after a repeat purchase
                break
    return x, tx, np.full(n, T), future


def test_bgnbd_recovers_simulated_parameters_and_forecasts_the_total():
    x, tx, T, future = _simulate(4000, r=0.5, alpha=6.0, a=0.7, b=2.0, T=40.0, horizon=30.0)
    model = BetaGeo().fit(x, tx, T)
    params = model.params_
    assert params["r"] == pytest.approx(0.5, rel=0.25)
    assert params["alpha"] == pytest.approx(6.0, rel=0.3)
    expected = model.expected_purchases(30.0, x, tx, T)
    assert expected.sum() == pytest.approx(future.sum(), rel=0.08)
    prob = model.probability_purchase(30.0, x, tx, T)
    assert np.all((prob >= 0) & (prob <= 1))
    # buyers of the future are ranked above the others
    assert roc_auc_score(future > 0, prob) > 0.7


def test_probability_alive_is_one_without_repeat_purchases():
    model = BetaGeo()
    model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    alive = model.probability_alive([0, 2, 2], [0, 30, 5], [38, 38, 38])
    assert alive[0] == 1.0
    assert alive[1] > alive[2]  # a recent repeat buyer is more likely alive


def test_bgnbd_refuses_data_without_repeat_buying():
    with pytest.raises(NotEnoughData):
        BetaGeo().fit(np.zeros(50), np.zeros(50), np.full(50, 10.0))


@pytest.mark.realdata
@pytest.mark.skipif(not CDNOW_SAMPLE.exists(), reason="needs ../shared/data/cdnow")
def test_bgnbd_matches_published_cdnow_parameters():
    lines = [line.split() for line in CDNOW_SAMPLE.read_text().splitlines() if line.strip()]
    events = pl.DataFrame(
        {
            "user_id": [f[0] for f in lines],
            "event_time": [datetime.strptime(f[2], "%Y%m%d").replace(tzinfo=UTC) for f in lines],
            "event_type": ["purchase"] * len(lines),
            "revenue": [float(f[4]) for f in lines],
        }
    )
    summary = repeat_summary(events, datetime(1997, 9, 30, 23, 59, tzinfo=UTC), unit_days=7)
    assert summary.height == 2357
    model = BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=0.01)
    assert model.loglik_ == pytest.approx(-9582.4, abs=1.0)


def _events(rows):
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


def test_repeat_summary_counts_purchase_days_and_ignores_the_future():
    d = lambda day: datetime(2024, 1, day, 12, tzinfo=UTC)  # noqa: E731
    ev = _events(
        [
            ("a", d(1), "purchase", "x", 10.0),
            ("a", d(1), "purchase", "x", 5.0),  # same day: one purchase day
            ("a", d(4), "purchase", "y", 20.0),
            ("a", d(20), "purchase", "y", 99.0),  # after the cutoff
            ("b", d(3), "view", "x", None),
        ]
    )
    s = repeat_summary(ev, datetime(2024, 1, 10, 23, 59, tzinfo=UTC))
    assert s.to_dicts() == [
        {"user_id": "a", "frequency": 1.0, "recency": 3.0, "monetary": 17.5, "T": 9.0}
    ]


def test_category_baselines():
    d = lambda day: datetime(2024, 1, day, tzinfo=UTC)  # noqa: E731
    ev = _events(
        [
            ("a", d(1), "purchase", "shoes", 1.0),
            ("a", d(2), "view", "hats", None),
            ("b", d(1), "view", "bags", None),
            ("c", d(2), "purchase", "shoes", 1.0),
            ("c", d(3), "purchase", "hats", 1.0),
        ]
    )
    last = dict(last_category_predict(ev, d(5)).iter_rows())
    assert last == {"a": "shoes", "b": "bags", "c": "hats"}
    assert popularity_predict(ev, d(5), k=2) == ["shoes", "hats"]


def test_recency_logistic_follows_the_sklearn_contract():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    model = RecencyLogistic()
    assert model.fit(X, y) is model
    assert model.predict_proba(X).shape == (400, 2)
    assert (model.predict(X) == y).mean() > 0.85
    with pytest.raises(NotEnoughData):
        RecencyLogistic().fit(X, np.ones(400))
