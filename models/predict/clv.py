"""Customer lifetime value: each buyer's expected spend over the next days, from the repeat-buying
model (BG/NBD purchase days × spend per purchase day).

* ``CLVModel``: BG/NBD × Gamma-Gamma (Fader, Hardie & Lee 2005) for any horizon, with an 80%
  interval per customer from simulating both posteriors: the ``clv`` target.
* ``clv_projection`` / ``clv_view``: the 365-day value the revenue target's scores carry where the
  data spans a year (BG/NBD purchase days × spend shrunk toward the mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from scipy import optimize, special

from analytics.core.errors import NotEnoughData
from analytics.core.model_files import pack_boosters
from analytics.core.schema import USER_ID
from analytics.features.labels import data_start
from models.predict.baselines import BetaGeo, repeat_summary

__all__ = [
    "CLV_DAYS",
    "CLVModel",
    "GammaGamma",
    "NextOrderModel",
    "clv_projection",
    "clv_view",
    "next_order_days",
]

CLV_DAYS = 365


def clv_projection(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime, days: int = CLV_DAYS
) -> pl.DataFrame:
    """``user_id, expected_purchase_days, spend_per_day, clv``: each buyer's value over the next
    ``days`` days: the purchase days BG/NBD expects × their spend per purchase day, shrunk toward
    the buyers' mean with the weight of one purchase day (one order says little about the next).
    Empty when BG/NBD cannot be fit."""
    summary = repeat_summary(events, cutoff)
    args = tuple(summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    try:
        model = BetaGeo().fit(*args)
    except NotEnoughData:
        return pl.DataFrame(
            schema={
                USER_ID: pl.String,
                "expected_purchase_days": pl.Float64,
                "spend_per_day": pl.Float64,
                "clv": pl.Float64,
            }
        )
    n = summary["frequency"].to_numpy() + 1.0
    own = summary["monetary"].fill_null(0.0).clip(lower_bound=0.0).to_numpy()
    spend = (n * own + float(own.mean())) / (n + 1.0)
    expected = model.expected_purchases(float(days), *args)
    return summary.select(USER_ID).with_columns(
        expected_purchase_days=expected, spend_per_day=spend, clv=expected * spend
    )


def clv_view(
    lf: pl.LazyFrame, cutoff: datetime, scores: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Scores with ``clv_365`` and the card's summary where the data spans a year before the
    cutoff (BG/NBD's long-run view needs a year of behaviour behind it); else unchanged."""
    span = (cutoff - data_start(lf)).days
    if span < CLV_DAYS:
        return scores, {"skipped": f"the data spans {span} days; a 365-day value needs a year"}
    clv = clv_projection(lf, cutoff)
    if clv.is_empty():
        return scores, {"skipped": "too few repeat buyers to fit the repeat-buying model"}
    out = scores.join(
        clv.select(USER_ID, pl.col("clv").alias("clv_365")), on=USER_ID, how="left"
    ).with_columns(pl.col("clv_365").fill_null(0.0))
    values = out["clv_365"].sort(descending=True)
    total = float(values.sum())
    return out, {
        "days": CLV_DAYS,
        "total": total,
        "mean": total / max(len(values), 1),
        "top_decile_share": float(values.head(max(1, len(values) // 10)).sum()) / max(total, 1e-9),
        "method": "BG/NBD expected purchase days over 365 days × spend per purchase day",
    }


def _gg_loglik(params: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend ``m`` over ``n`` purchase days
    (Fader, Hardie & Lee 2005, without the terms free of the parameters)."""
    p, q, g = params
    pn = p * n
    return (
        special.gammaln(pn + q)
        - special.gammaln(pn)
        - special.gammaln(q)
        + q * np.log(g)
        + (pn - 1) * np.log(m)
        + pn * np.log(n)
        - (pn + q) * np.log(g + n * m)
    )


@dataclass
class GammaGamma:
    """Spend per purchase day: each day's spend ~ Gamma(p, ν), ν ~ Gamma(q, γ) across customers.

    ``fit(n, m)``: purchase days and mean spend per purchase day of each buyer (spend > 0);
    ``params_`` holds ``p, q, gamma``."""

    def fit(self, n: np.ndarray, m: np.ndarray) -> GammaGamma:
        n, m = np.asarray(n, dtype=float), np.asarray(m, dtype=float)
        keep = (n > 0) & (m > 0)
        if keep.sum() < 10:
            raise NotEnoughData("Lifetime value needs at least 10 buyers with a recorded spend.")
        n, m = n[keep], m[keep]

        def negll(log_params: np.ndarray) -> float:
            return -float(_gg_loglik(np.exp(log_params), n, m).mean())

        start = np.log([1.0, 2.0, float(np.mean(m))])
        best = optimize.minimize(negll, start, method="Nelder-Mead", options={"maxiter": 4000})
        self.params_ = dict(zip(("p", "q", "gamma"), np.exp(best.x).tolist(), strict=True))
        if self.params_["q"] <= 1:  # the mean spend is undefined for q ≤ 1
            raise NotEnoughData("Spend per order varies too wildly to model lifetime value.")
        return self

    def posterior(self, n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shape and rate of each customer's ν given ``n`` purchase days of mean spend ``m``
        (customers without a recorded spend get the prior)."""
        p, q, g = self.params_["p"], self.params_["q"], self.params_["gamma"]
        n = np.where(np.asarray(m) > 0, np.asarray(n, dtype=float), 0.0)
        return p * n + q, g + n * np.clip(m, 0, None)

    def expected_spend(self, n: np.ndarray, m: np.ndarray) -> np.ndarray:
        """E[spend per purchase day | history]: p × rate / (shape − 1) of ν's posterior."""
        shape, rate = self.posterior(n, m)
        return self.params_["p"] * rate / (shape - 1)


@dataclass
class CLVModel:
    """Lifetime value over any horizon: BG/NBD purchase days × Gamma-Gamma spend per day, with a
    per-customer interval from simulating both models' posteriors (``draws`` per customer).

    The interval is the narrowest range holding ``interval`` of the simulated outcomes: most
    customers may buy nothing (an atom at 0), where a central range would hold far more. So the
    expected value (``score``) can lie above a ``[0, 0]`` interval: most likely nothing, yet on
    average something."""

    interval: float = 0.8
    draws: int = 400
    random_state: int = 7

    def fit(self, summary: pl.DataFrame) -> CLVModel:
        """``summary`` from ``repeat_summary`` (days)."""
        x, tx, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
        self.purchases_ = BetaGeo().fit(x, tx, t)
        m = summary["monetary"].fill_null(0.0).to_numpy()
        self.spend_ = GammaGamma().fit(x + 1, m)
        return self

    def predict(self, summary: pl.DataFrame, horizon_days: float) -> pl.DataFrame:
        """``user_id, expected_purchase_days, spend_per_day, score, lower, upper`` (score: the
        expected spend in the next ``horizon_days`` days)."""
        x, tx, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
        m = summary["monetary"].fill_null(0.0).to_numpy()
        days = self.purchases_.expected_purchases(float(horizon_days), x, tx, t)
        spend = self.spend_.expected_spend(x + 1, m)
        lower, upper = self._simulated_interval(x, tx, t, m, float(horizon_days))
        return summary.select(USER_ID).with_columns(
            expected_purchase_days=days, spend_per_day=spend, score=days * spend,
            lower=lower, upper=upper,
        )  # fmt: skip

    def _simulated_interval(self, x, tx, t, m, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.random_state)
        lows, highs = [], []
        for part in np.array_split(np.arange(len(x)), max(1, len(x) // 2000)):
            outcomes = self._simulate(rng, x[part], tx[part], t[part], m[part], horizon)
            low, high = _narrowest(np.sort(outcomes, axis=1), self.interval)
            lows.append(low)
            highs.append(high)
        return np.concatenate(lows), np.concatenate(highs)

    def _simulate(self, rng, x, tx, t, m, horizon: float) -> np.ndarray:
        """(customers, draws) spend in the horizon: alive?, λ and p from their posteriors, the
        purchases of a Poisson process stopped by dropout, then each day's Gamma spend."""
        r, alpha, a, b = self.purchases_._unpack()
        size = (len(x), self.draws)
        alive = rng.uniform(size=size) < self.purchases_.probability_alive(x, tx, t)[:, None]
        lam = rng.gamma(r + x[:, None], 1.0 / (alpha + t[:, None]), size=size)
        p = rng.beta(a, b + x[:, None], size=size)
        count = np.minimum(rng.poisson(lam * horizon), rng.geometric(np.clip(p, 1e-12, 1)))
        count = np.where(alive, count, 0)
        shape, rate = self.spend_.posterior(x + 1, m)
        nu = rng.gamma(shape[:, None], 1.0 / rate[:, None], size=size)
        total_shape = count * self.spend_.params_["p"]
        spend = rng.gamma(np.where(count > 0, total_shape, 1.0), 1.0 / nu)
        return np.where(count > 0, spend, 0.0)

    def to_bytes(self) -> bytes:
        meta = {
            "bgnbd": self.purchases_.params_,
            "gamma_gamma": self.spend_.params_,
            "interval": self.interval,
            "draws": self.draws,
            "random_state": self.random_state,
        }
        return pack_boosters("clv", meta, {})

    def _restore(self, meta: dict[str, Any], boosters: dict[str, Any]) -> None:
        self.interval, self.draws = meta["interval"], meta["draws"]
        self.random_state = meta["random_state"]
        self.purchases_ = BetaGeo()
        self.purchases_.params_ = dict(meta["bgnbd"])
        self.spend_ = GammaGamma()
        self.spend_.params_ = dict(meta["gamma_gamma"])


def _narrowest(ordered: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row of sorted draws, the narrowest ``[low, high]`` holding ``mass`` of them."""
    draws = ordered.shape[1]
    k = int(np.ceil(mass * draws))  # draws inside
    widths = ordered[:, k - 1 :] - ordered[:, : draws - k + 1]
    start = np.argmin(widths, axis=1)  # the first of equal widths: the range nearest 0
    rows = np.arange(len(ordered))
    return ordered[rows, start], ordered[rows, start + k - 1]


def next_order_days(
    model: BetaGeo, summary: pl.DataFrame, horizon_days: float, quantiles: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``(chance of an order within the horizon, days to the next order at each quantile given
    one within the horizon)``: (n,) and (n, len(quantiles)), days from the cutoff.

    Alive, a customer's next order comes after Exponential(λ) days, λ ~ Gamma(r + x, α + T), so
    F(t) = 1 − ((α + T) / (α + T + t))^(r + x); dropout only scales it, and cancels in
    F(t) / F(h). The quantile q solves F(t) = q·F(h)."""
    r, alpha, _, _ = model._unpack()
    x, tx, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    base, shape = alpha + t, r + x
    within = 1.0 - (base / (base + horizon_days)) ** shape
    q = np.asarray(quantiles)[None, :]
    days = base[:, None] * ((1.0 - q * within[:, None]) ** (-1.0 / shape[:, None]) - 1.0)
    return model.probability_alive(x, tx, t) * within, days


@dataclass
class NextOrderModel:
    """When each buyer orders next: the chance of an order within the horizon and, given one,
    the median days to it (``score``) with an ``interval`` range (BG/NBD, closed form)."""

    interval: float = 0.8

    def fit(self, summary: pl.DataFrame) -> NextOrderModel:
        x, tx, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
        self.purchases_ = BetaGeo().fit(x, tx, t)
        return self

    def predict(self, summary: pl.DataFrame, horizon_days: float) -> pl.DataFrame:
        """``user_id, score, lower, upper, p_order`` (days from the cutoff)."""
        tail = (1 - self.interval) / 2
        p, days = next_order_days(self.purchases_, summary, horizon_days, (tail, 0.5, 1 - tail))
        return summary.select(USER_ID).with_columns(
            score=days[:, 1], lower=days[:, 0], upper=days[:, 2], p_order=p
        )

    def to_bytes(self) -> bytes:
        meta = {"bgnbd": self.purchases_.params_, "interval": self.interval}
        return pack_boosters("next_order", meta, {})

    def _restore(self, meta: dict[str, Any], boosters: dict[str, Any]) -> None:
        self.interval = meta["interval"]
        self.purchases_ = BetaGeo()
        self.purchases_.params_ = dict(meta["bgnbd"])
