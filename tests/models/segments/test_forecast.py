"""The expected-value axis: a ridge forecast of next-quarter log revenue, learned in history."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from analytics.features.user_features import (
    build_user_features,
    default_cutoff,
    resolve_feature_spec,
    to_utc,
)
from models.segments.forecast import forecast_value
from tests.analytics.features.hand_events import hand_events_frame
from tests.models.synthetic_events import planted_events


def test_value_forecast_is_learned_in_history_and_ranks_buyers() -> None:
    events, _ = planted_events(users=60, seed=1)
    cutoff = default_cutoff(events)
    spec = resolve_feature_spec(events, cutoff)
    features = build_user_features(events, cutoff, spec)
    result = forecast_value(events, features, cutoff=cutoff, feature_spec=spec)
    assert result is not None
    assert result.values.shape == (features.height,)
    span = (cutoff - events["event_time"].min()).days  # 119 whole days: under three quarters
    assert result.horizon_days == span // 3 == 39
    # the lapsed type stopped buying on day 45: it must be forecast below the active types
    lapsed = features["user_id"].str.slice(1).cast(pl.Int64).to_numpy() % 3 == 2
    assert result.values[lapsed].mean() < result.values[~lapsed].mean() - 0.5
    # events after the cutoff change nothing (the labels end at the cutoff)
    later = events.with_columns(pl.col("event_time").dt.offset_by("400d")).filter(
        pl.col("user_id") == "u0000"
    )
    again = forecast_value(pl.concat([events, later]), features, cutoff=cutoff, feature_spec=spec)
    assert again is not None
    np.testing.assert_allclose(again.values, result.values)


def test_value_forecast_needs_history_before_a_pseudo_cutoff() -> None:
    events = hand_events_frame()
    cutoff = to_utc(date(2024, 1, 5))
    features = build_user_features(events, cutoff)
    assert forecast_value(events, features, cutoff=cutoff) is None  # 3 users: too few
