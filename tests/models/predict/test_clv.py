"""Customer lifetime value: BG/NBD purchase days × shrunk spend per purchase day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from models.predict.baselines import BetaGeo, repeat_summary
from models.predict.clv import clv_projection
from tests.models.predict.synthetic import USER, synthetic_store


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


def test_gamma_gamma_expected_spend_by_hand():
    from models.predict.clv import GammaGamma

    gg = GammaGamma()
    gg.params_ = {"p": 2.0, "q": 3.0, "gamma": 10.0}
    # one purchase day of 5: ν | history ~ Gamma(2·1 + 3, 10 + 1·5), E = 2 × 15 / (5 − 1)
    assert gg.expected_spend(np.array([1.0]), np.array([5.0]))[0] == pytest.approx(7.5)
    # no recorded spend: the prior, 2 × 10 / (3 − 1)
    assert gg.expected_spend(np.array([4.0]), np.array([0.0]))[0] == pytest.approx(10.0)


def test_gamma_gamma_recovers_the_mean_spend_it_was_drawn_from():
    from models.predict.clv import GammaGamma

    rng = np.random.default_rng(0)
    n = rng.integers(1, 8, 3000).astype(float)
    nu = rng.gamma(4.0, 1 / 15.0, 3000)  # q = 4, γ = 15
    m = np.array([rng.gamma(6.0, 1 / v, int(k)).mean() for v, k in zip(nu, n, strict=True)])
    gg = GammaGamma().fit(n, m)
    assert gg.params_["p"] * gg.params_["gamma"] / (gg.params_["q"] - 1) == pytest.approx(
        6.0 * 15.0 / 3.0, rel=0.1
    )


def test_gamma_gamma_needs_buyers_with_spend():
    from analytics.core.errors import NotEnoughData
    from models.predict.clv import GammaGamma

    with pytest.raises(NotEnoughData, match="recorded spend"):
        GammaGamma().fit(np.ones(20), np.zeros(20))


def test_narrowest_range_by_hand():
    from models.predict.clv import _narrowest

    mostly_nothing = np.array([[0.0] * 8 + [5.0, 9.0]])
    assert [v[0] for v in _narrowest(mostly_nothing, 0.8)] == [0.0, 0.0]
    even = np.arange(1.0, 11.0)[None, :]
    assert [v[0] for v in _narrowest(even, 0.8)] == [1.0, 8.0]
    skewed = np.array([[1.0, 2, 3, 4, 5, 6, 7, 8, 50, 90]])
    assert [v[0] for v in _narrowest(skewed, 0.8)] == [1.0, 8.0]


def test_clv_model_round_trips_and_its_range_holds_the_simulated_spread():
    from models.predict.clv import CLVModel
    from models.predict.predictors import load_predictor

    store = synthetic_store(users=300, days=200, seed=5)
    s = repeat_summary(store, datetime(2024, 6, 1, tzinfo=UTC))
    model = CLVModel(draws=300).fit(s)
    out = model.predict(s, 90)
    assert (out["lower"] <= out["upper"]).all() and (out["lower"] >= 0).all()
    assert np.allclose(out["score"], out["expected_purchase_days"] * out["spend_per_day"])
    again = load_predictor(model.to_bytes())
    assert np.allclose(again.predict(s, 90)["score"], out["score"])
    assert again.predict(s, 90)["upper"].to_list() == out["upper"].to_list()  # same seed


def test_next_order_days_by_hand():
    from models.predict.clv import next_order_days

    bg = BetaGeo()
    bg.params_ = {"r": 1.0, "alpha": 10.0, "a": 1.0, "b": 1.0}
    s = pl.DataFrame({"frequency": [1.0], "recency": [10.0], "T": [10.0]})  # bought just now
    p, days = next_order_days(bg, s, 30.0, (0.5,))
    # alive: odds of dropout a / (b + x − 1) = 1, so ½; F(t) = 1 − (20 / (20 + t))², F(30) =
    # 1 − 0.16 = 0.84; the median given an order within 30 days solves F(t) = 0.42
    assert p[0] == pytest.approx(0.5 * 0.84)
    assert days[0, 0] == pytest.approx(20 * (0.58**-0.5 - 1))
