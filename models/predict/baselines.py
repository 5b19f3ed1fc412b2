"""Classical baselines every predictor is compared with on the same time split.

* ``BetaGeo``: the BG/NBD repeat-buying model (Fader, Hardie & Lee 2005), fit by maximum
  likelihood with scipy. We implement it here because the libraries that ship it (``lifetimes``,
  ``btyd``) are unmaintained and no longer import on our numpy/pandas/setuptools stack.
* ``RecencyLogistic``: a logistic regression on recency, frequency, monetary value and tenure
  (plus event counts where the data has them).
* ``last_category_predict`` / ``popularity_predict``: next-category baselines.

Inputs are per-user summaries built by ``repeat_summary`` (times in the unit the caller chooses,
days by default; BG/NBD's published CDNOW figures use weeks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from scipy import optimize, special
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analytics.core.errors import NotEnoughData
from analytics.core.schema import CATEGORY, EVENT_TIME, EVENT_TYPE, REVENUE, USER_ID, EventType

__all__ = [
    "BetaGeo",
    "RecencyLogistic",
    "last_category_predict",
    "log1p_signed",
    "popularity_predict",
    "repeat_summary",
]

_DAY_US = 86_400_000_000


def repeat_summary(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime, *, unit_days: float = 1.0
) -> pl.DataFrame:
    """BG/NBD inputs per buyer from purchases at or before ``cutoff`` (UTC, inclusive).

    Columns: ``user_id``, ``frequency`` (repeat purchase days: distinct purchase days minus one),
    ``recency`` (first to last purchase day), ``T`` (first purchase day to the cutoff), both in
    units of ``unit_days`` days, and ``monetary`` (mean revenue per purchase day).
    """
    cutoff_day = pl.lit(cutoff).cast(pl.Datetime("us", "UTC")).dt.date()
    days = (
        events.lazy()
        .filter((pl.col(EVENT_TYPE) == EventType.PURCHASE.value) & (pl.col(EVENT_TIME) <= cutoff))
        .group_by(USER_ID, pl.col(EVENT_TIME).dt.date().alias("day"))
        .agg(pl.col(REVENUE).fill_null(0.0).sum().alias("spend"))
    )
    unit = pl.lit(float(unit_days))
    return (
        days.group_by(USER_ID)
        .agg(
            (pl.len() - 1).cast(pl.Float64).alias("frequency"),
            ((pl.col("day").max() - pl.col("day").min()).dt.total_days() / unit).alias("recency"),
            (cutoff_day - pl.col("day").min()).dt.total_days().cast(pl.Float64).alias("T_days"),
            pl.col("spend").mean().alias("monetary"),
        )
        .with_columns((pl.col("T_days") / unit).alias("T"))
        .drop("T_days")
        .sort(USER_ID)
        .collect()
    )


def _bgnbd_loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (FHL 2005, eq. 6)."""
    r, alpha, a, b = params
    base = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a1 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a2 = np.where(
            x > 0,
            special.betaln(a + 1, np.maximum(b + x - 1, 1e-12))
            - special.betaln(a, b)
            - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return base + np.logaddexp(a1, a2)


@dataclass
class BetaGeo:
    """BG/NBD model: purchases follow Poisson(λ) while alive, dropout after each purchase w.p. p.

    λ ~ Gamma(r, α), p ~ Beta(a, b) across customers. ``fit`` returns self; ``params_`` holds
    ``r, alpha, a, b`` in the time unit of the data.
    """

    penalizer: float = 0.0

    def fit(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> BetaGeo:
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        if len(x) < 10 or x.sum() == 0:
            raise NotEnoughData(
                "BG/NBD needs at least 10 buyers and some repeat purchases before the cutoff."
            )
        # identical (x, t_x, T) rows share a likelihood term: fit on the unique rows with weights
        stacked = np.round(np.column_stack([x, tx, t]), 6)
        uniq, counts = np.unique(stacked, axis=0, return_counts=True)
        ux, utx, uT = uniq.T

        def negll(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            ll = (counts * _bgnbd_loglik(params, ux, utx, uT)).sum() / counts.sum()
            return -ll + self.penalizer * float((params**2).sum())

        start = np.log([1.0, max(t.mean(), 1e-3), 1.0, 1.0])
        best = optimize.minimize(negll, start, method="L-BFGS-B")
        if not best.success:  # rare: fall back to the slower, derivative-free search
            best = optimize.minimize(negll, best.x, method="Nelder-Mead", options={"maxiter": 4000})
        self.params_ = dict(zip(("r", "alpha", "a", "b"), np.exp(best.x).tolist(), strict=True))
        self.loglik_ = -float(best.fun) * counts.sum()
        return self

    def _unpack(self) -> tuple[float, float, float, float]:
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def _dropout_odds(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._unpack()
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + T) / (alpha + tx)) ** (r + x)
        return np.where(x > 0, odds, 0.0)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still alive at T | history)."""
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return 1.0 / (1.0 + self._dropout_odds(x, tx, t))

    def expected_purchases(self, horizon: float, frequency, recency, T) -> np.ndarray:
        """E[purchases in (T, T + horizon] | history] (FHL 2005, eq. 10)."""
        r, alpha, a, b = self._unpack()
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        z = horizon / (alpha + t + horizon)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        head = (a + b + x - 1) / (a - 1)
        body = 1.0 - ((alpha + t) / (alpha + t + horizon)) ** (r + x) * hyp
        return head * body / (1.0 + self._dropout_odds(x, tx, t))

    def probability_purchase(self, horizon: float, frequency, recency, T) -> np.ndarray:
        """P(at least one purchase in (T, T + horizon]): alive, and λ's posterior fires.

        Dropout only happens right after a purchase, so an alive customer stays alive until the
        next purchase; given alive, λ ~ Gamma(r + x, α + T).
        """
        r, alpha, _, _ = self._unpack()
        x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        quiet = ((alpha + t) / (alpha + t + horizon)) ** (r + x)
        return self.probability_alive(x, tx, t) * (1.0 - quiet)


class RecencyLogistic:
    """Logistic regression on R, F, M, T (and whatever numeric columns it is given), scaled.

    scikit-learn contract: ``fit(X, y)`` returns self, ``predict_proba`` gives two columns.
    """

    def __init__(self, *, C: float = 1.0, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> RecencyLogistic:
        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            raise NotEnoughData("The baseline needs both outcomes among the training users.")
        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=1000, random_state=self.random_state),
        ).fit(log1p_signed(X), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(log1p_signed(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(log1p_signed(X))


def log1p_signed(X: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|), missing values as 0: heavy-tailed counts and amounts made tame."""
    X = np.nan_to_num(np.asarray(X, dtype=float))
    return np.sign(X) * np.log1p(np.abs(X))


def last_category_predict(events: pl.LazyFrame | pl.DataFrame, cutoff: datetime) -> pl.DataFrame:
    """``user_id, category``: the category of each user's latest purchase (else latest event)."""
    is_buy = (pl.col(EVENT_TYPE) == EventType.PURCHASE.value).cast(pl.Int8)
    return (
        events.lazy()
        .filter((pl.col(EVENT_TIME) <= cutoff) & pl.col(CATEGORY).is_not_null())
        .sort(is_buy, EVENT_TIME)
        .group_by(USER_ID)
        .agg(pl.col(CATEGORY).last())
        .sort(USER_ID)
        .collect()
    )


def popularity_predict(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime, k: int = 3
) -> list[str]:
    """The ``k`` most purchased categories up to ``cutoff`` (all events if nobody bought)."""
    lf = events.lazy().filter((pl.col(EVENT_TIME) <= cutoff) & pl.col(CATEGORY).is_not_null())
    buys = lf.filter(pl.col(EVENT_TYPE) == EventType.PURCHASE.value)
    top = buys.group_by(CATEGORY).len().sort(["len", CATEGORY], descending=[True, False]).head(k)
    out = top.collect()[CATEGORY].to_list()
    if not out:
        top_any = lf.group_by(CATEGORY).len().sort("len", descending=True).head(k).collect()
        out = top_any[CATEGORY].to_list()
    return out
