"""Purchase activity per user: history span, day bins and net spend in a window."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from analytics.features.activity import (
    activity_profile,
    first_event_time,
    net_revenue,
    span_share,
)
from analytics.features.user_features import to_utc
from tests.analytics.features.hand_events import hand_events_frame


def test_activity_profile_bins_purchases_by_whole_days_before_the_cutoff() -> None:
    cutoff = to_utc(date(2024, 1, 5))  # end of Jan 5; a's Jan 9 purchase is in the future
    users = pl.Series("user_id", ["b", "a", "zz"])
    profile = activity_profile(hand_events_frame(), cutoff, users, bin_days=2, n_bins=3)
    assert profile.shape == (3, 6)
    # a bought 20 on Jan 3: 2 days before the cutoff's day, so bin 1 (days 2-3 back)
    expected_a = [0.0, 0.0, np.log1p(20.0), np.log1p(1.0), 0.0, 0.0]
    np.testing.assert_allclose(profile[1], expected_a)
    assert not profile[0].any() and not profile[2].any()  # b only viewed; zz has no events


def test_span_share_is_a_part_of_the_history_between_1_and_91_days() -> None:
    first = datetime(2024, 1, 1, tzinfo=UTC)
    assert first_event_time(hand_events_frame()) == first
    assert span_share(first, datetime(2024, 1, 13, tzinfo=UTC), 4) == 3  # 12 days / 4
    assert span_share(first, datetime(2026, 1, 1, tzinfo=UTC), 3) == 91  # capped at a quarter
    assert span_share(None, first, 3) == 1  # no history: one day


def test_first_event_time_of_an_empty_log_is_none() -> None:
    assert first_event_time(hand_events_frame().clear()) is None


def test_net_revenue_counts_purchases_in_the_window_only() -> None:
    users = pl.Series("user_id", ["a", "b", "zz"])
    start, end = to_utc(date(2024, 1, 3)), to_utc(date(2024, 1, 9))  # (end of Jan 3, end of Jan 9]
    out = net_revenue(hand_events_frame(), start, end, users)
    np.testing.assert_allclose(out, [np.log1p(99.0), 0.0, 0.0])  # a's Jan 3 buy is before it
