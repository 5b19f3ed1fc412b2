"""Labels from a time split, checked against hand-computed cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analytics.core.errors import NotEnoughData, SpecError
from analytics.features.labels import (
    LabelSpec,
    build_labels,
    choose_horizon,
    data_end,
    data_start,
    split_cutoffs,
)
from analytics.features.user_features import build_user_features, to_utc

CUT = to_utc(datetime(2024, 3, 10).date())  # end of 10 March


def _ev(rows):
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


def day(d: int, hour: int = 12) -> datetime:
    return datetime(2024, 3, 1, hour, tzinfo=UTC) + timedelta(days=d - 1)


EVENTS = _ev(
    [
        ("a", day(9), "view", "shoes", None),
        ("a", day(12), "purchase", "hats", 30.0),
        ("a", day(13), "purchase", "shoes", 20.0),
        ("a", day(14), "refund", "shoes", 20.0),
        ("b", day(10, 23), "purchase", "bags", 50.0),
        ("c", day(1), "view", "bags", None),  # active 10 days ago
        ("c", day(11), "view", "bags", None),
        ("d", day(11), "purchase", "bags", 10.0),  # first seen after the cutoff: not in population
        ("e", day(10), "view", "hats", None),
        ("e", day(17, 23), "purchase", "hats", 15.0),  # exactly at the horizon's last day
        ("e", day(18), "purchase", "hats", 15.0),  # one day too late for a 7-day horizon
    ]
)


def labels(target, active=28, h=7, purchases_only=False):
    spec = LabelSpec(target, CUT, h, active, purchases_only)
    return dict(build_labels(EVENTS, spec).iter_rows())


def test_purchase_labels():
    assert labels("purchase") == {"a": 1, "b": 0, "c": 0, "e": 1}


def test_active_window_keeps_the_last_n_days_including_the_cutoff_day():
    assert set(labels("purchase", active=1)) == {"b", "e"}
    assert set(labels("purchase", active=2)) == {"a", "b", "e"}


def test_churn_labels():
    assert labels("churn", active=7) == {"a": 0, "b": 1, "e": 0}  # c last seen 10 days ago
    assert labels("churn", active=10)["c"] == 0
    # for transaction data, activity is a purchase: browsing does not save c
    assert labels("churn", active=28, purchases_only=True) == {"b": 1}


def test_revenue_is_net_of_refunds_over_the_horizon():
    assert labels("revenue") == {"a": 30.0, "b": 0.0, "c": 0.0, "e": 15.0}
    assert labels("revenue", h=8)["e"] == 30.0


def test_next_category_is_the_first_purchase_in_the_horizon():
    assert labels("next_category") == {"a": "hats", "e": "hats"}


def test_no_event_after_the_cutoff_reaches_the_features():
    before = EVENTS.filter(pl.col("event_time") <= CUT)
    assert build_user_features(EVENTS, CUT).equals(build_user_features(before, CUT))


def test_unknown_target_is_a_spec_error():
    with pytest.raises(SpecError, match="Unknown target"):
        build_labels(EVENTS, LabelSpec("clicks", CUT, 7))


def test_horizon_adapts_to_slow_buyers_and_short_data():
    start = datetime(2023, 1, 1, tzinfo=UTC)
    rows = [
        (f"u{u}", start + timedelta(days=60 * k + u), "purchase", "x", 10.0)
        for u in range(20)
        for k in range(6)
    ]
    slow = _ev(rows)
    choice = choose_horizon(slow, "purchase", to_utc(datetime(2023, 12, 31).date()))
    assert choice.horizon_days == 91 and choice.active_days is None and choice.purchases_only
    assert "every 60 days" in choice.reason
    short = _ev([(f"u{u}", day(d), "view", "x", None) for u in range(5) for d in range(1, 10)])
    choice = choose_horizon(short, "purchase", to_utc(day(9).date()))
    assert choice.horizon_days == 2 and "spans only 9 days" in choice.reason
    assert choose_horizon(short, "churn", to_utc(day(9).date()), horizon_days=1).horizon_days == 1


def test_choose_horizon_without_history_raises():
    with pytest.raises(NotEnoughData):
        choose_horizon(EVENTS, "purchase", datetime(2020, 1, 1, tzinfo=UTC))


def test_split_cutoffs_backtest_and_forecast():
    end = CUT + timedelta(days=30)
    assert split_cutoffs(CUT, 7, end) == (CUT - timedelta(days=7), CUT)
    assert split_cutoffs(end, 7, end) == (end - timedelta(days=14), end - timedelta(days=7))


def test_split_cutoffs_never_label_past_the_end_of_the_data():
    # a log that stops at 16:00 UTC: the 2 days after the end of 1 Dec are not all recorded
    end_of_log = datetime(2017, 12, 3, 16, 0, tzinfo=UTC)
    cutoff = to_utc(end_of_log.date())
    train, evaluate = split_cutoffs(cutoff, 2, end_of_log)
    assert evaluate == to_utc(datetime(2017, 11, 30).date())
    assert train == evaluate - timedelta(days=2)
    # a 91-day backtest whose window ends half a day after the last order is still a backtest
    late = datetime(2011, 12, 9, 12, 50, tzinfo=UTC)
    sept = to_utc(datetime(2011, 9, 9).date())
    assert split_cutoffs(sept, 91, late) == (sept - timedelta(days=91), sept)


def test_data_end_is_the_last_event_or_the_end_of_its_day_for_dates():
    stamped = _ev([("a", datetime(2024, 3, 1, 9, 30, tzinfo=UTC), "view", None, None)])
    assert data_end(stamped) == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    dated = _ev([("a", datetime(2024, 3, 1, tzinfo=UTC), "purchase", None, 5.0),
                 ("b", datetime(2024, 2, 1, tzinfo=UTC), "purchase", None, 5.0)])  # fmt: skip
    assert data_end(dated) == to_utc(datetime(2024, 3, 1).date())


def test_data_start_ignores_a_few_stray_early_events():
    day = datetime(2024, 3, 1, tzinfo=UTC)
    rows = [(f"u{i}", day + timedelta(hours=i), "view", None, None) for i in range(1000)]
    stray = [("old", datetime(2020, 1, 1, tzinfo=UTC), "view", None, None)]
    assert data_start(_ev(rows + stray)) == day  # 1 of 1,001 events: below the 0.1% quantile
    assert data_start(_ev(rows[:5] + stray)) == datetime(2020, 1, 1, tzinfo=UTC)


def test_data_start_of_an_empty_log_is_an_error():
    empty = _ev([("a", datetime(2024, 3, 1, tzinfo=UTC), "view", None, None)]).clear()
    with pytest.raises(NotEnoughData, match="no dated events"):
        data_start(empty)


def test_buyer_churn_is_every_past_buyer_who_orders_nothing_in_the_horizon():
    events = _ev(
        [
            ("x", day(2), "purchase", "hats", 5.0),
            ("x", day(12), "purchase", "hats", 5.0),  # orders again: not churned
            ("y", day(3), "purchase", "bags", 9.0),  # a buyer long inactive: still in
            ("y", day(12), "view", "bags", None),  # browsing is not ordering
            ("z", day(9), "view", "bags", None),  # never bought: not in the population
        ]
    )
    out = build_labels(events, LabelSpec("buyer_churn", CUT, 7, 28, False))
    assert dict(out.iter_rows()) == {"x": 0, "y": 1}


def test_buyer_churn_defaults_to_ninety_days_over_every_past_buyer():
    start = datetime(2023, 1, 1, tzinfo=UTC)
    rows = [(f"u{i % 40}", start + timedelta(days=i), "purchase", "a", 1.0) for i in range(500)]
    choice = choose_horizon(_ev(rows), "buyer_churn", to_utc(datetime(2024, 5, 1).date()))
    assert choice.horizon_days == 90 and choice.active_days is None
    assert "every past buyer" in choice.reason
