"""GBMRevenue: the interval holds the mean, totals add up, round trip."""

from __future__ import annotations

import numpy as np
import pytest

from models.predict.predictors import load_predictor
from models.predict.revenue import GBMRevenue
from tests.models.predict.synthetic import SMALL


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
