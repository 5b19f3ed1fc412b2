"""The segments' expected-value axis: each user's log revenue over the next quarter.

Learned entirely inside the history, as the embedding is: at a pseudo-cutoff ``cutoff - horizon``
a ridge regression learns log(1 + net revenue) over the horizon that follows (labels end at the
real cutoff) from the user features and their purchase rhythm in coarse bins, then scores every
user as of the real cutoff. Clustering adds it as one more dimension
(``SegmentSpec.forecast_weight``), so segments also separate what customers will be worth next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.schema import USER_ID
from analytics.features.activity import activity_profile, first_event_time, net_revenue, span_share
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    default_cutoff,
    to_utc,
)
from models.segments.embeddings import MIN_TRAIN_USERS, FeatureScaler

__all__ = ["ValueForecast", "forecast_value"]


@dataclass(frozen=True)
class ValueForecast:
    """Each user's expected log(1 + net revenue) over the next ``horizon_days``, learned in history.

    ``values`` has one number per row of the feature table it was made for. ``r2_in_history`` is
    the out-of-fold R² of the model on its own (pseudo-cutoff) training window: how well such a
    forecast did inside the known history.
    """

    values: np.ndarray
    horizon_days: int
    train_users: int
    r2_in_history: float


def forecast_value(
    events: pl.LazyFrame | pl.DataFrame,
    features: pl.DataFrame,
    *,
    cutoff: datetime | date | None = None,
    feature_spec: FeatureSpec | None = None,
    horizon_days: int | None = None,
) -> ValueForecast | None:
    """A forward-looking value axis for the segments, learned entirely inside the history.

    The horizon is a quarter (91 days), or a third of the history's span when that is shorter;
    the purchase bins are a third of the horizon (the rhythm of a customer's year, which the
    features' few windows flatten). ``None`` when there is too little history (or a customer
    table without events).
    """
    cutoff_at = to_utc(cutoff) if cutoff is not None else default_cutoff(events)
    first = first_event_time(events)
    horizon = horizon_days or span_share(first, cutoff_at, 3)
    pseudo = cutoff_at - timedelta(days=horizon)
    if first is None or first >= pseudo:
        return None
    try:
        past = build_user_features(events, pseudo, feature_spec or FeatureSpec())
    except NotEnoughData:
        return None
    if len(past) < MIN_TRAIN_USERS:
        return None
    past = past.select(features.columns)
    bin_days = max(1, horizon // 3)
    n_bins = int(min(12, -(-(cutoff_at - first).days // bin_days)))
    scaler = FeatureScaler.fit(past)

    def inputs(table: pl.DataFrame, at: datetime) -> np.ndarray:
        profile = activity_profile(events, at, table[USER_ID], bin_days=bin_days, n_bins=n_bins)
        return np.hstack([scaler.transform(table).numpy().astype(np.float64), profile])

    x_past, x_now = inputs(past, pseudo), inputs(features, cutoff_at)
    y_past = net_revenue(events, pseudo, cutoff_at, past[USER_ID])
    values, r2 = _ridge(x_past, y_past, x_now)
    return ValueForecast(
        values=values, horizon_days=horizon, train_users=len(past), r2_in_history=r2
    )


def _ridge(x_past: np.ndarray, y_past: np.ndarray, x_now: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardise, fit a ridge with the alpha chosen by leave-one-out; predictions and R²."""
    from sklearn.linear_model import RidgeCV  # lazy: sklearn is only needed here
    from threadpoolctl import threadpool_limits

    mean, std = x_past.mean(axis=0), x_past.std(axis=0)
    std = np.where(std > 1e-9, std, 1.0)
    with threadpool_limits(1):  # a few thousand rows x ~50 columns: BLAS threads only spin
        model = RidgeCV(alphas=np.logspace(-2, 3, 12)).fit((x_past - mean) / std, y_past)
        values = model.predict((x_now - mean) / std)
    variance = float(y_past.var())
    # best_score_ is minus the leave-one-out mean squared error of the chosen alpha
    r2 = 1.0 + float(model.best_score_) / variance if variance > 0 else 0.0
    return values, r2
