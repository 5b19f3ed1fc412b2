"""User features against hand-computed values on tiny frames, including the cutoff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.core.errors import NotEnoughData
from analytics.core.schema import EVENTS_SCHEMA
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    category_slug,
    customer_table_features,
    default_cutoff,
    describe_feature,
    feature_labels,
    resolve_feature_spec,
)

CUTOFF = date(2024, 1, 14)  # history = everything up to 2024-01-14 23:59:59.999999 UTC


def ev(user, when, etype, item="i1", cat="A", price=10.0, qty=1.0, rev=None, order=None):
    return {
        "user_id": user,
        "event_time": datetime.fromisoformat(when).replace(tzinfo=UTC),
        "event_type": etype,
        "item_id": item,
        "category": cat,
        "quantity": qty,
        "price": price,
        "revenue": rev,
        "order_id": order,
    }


def frame(rows):
    return pl.DataFrame(rows, schema=EVENTS_SCHEMA)


ROWS = [
    ev("a", "2024-01-01T10:00", "view"),
    ev("a", "2024-01-01T10:05", "cart"),
    ev("a", "2024-01-01T10:10", "purchase", rev=10.0, order="o1"),
    ev("a", "2024-01-11T10:00", "purchase", item="i2", cat="B", price=20.0, rev=20.0, order="o2"),
    ev("a", "2024-01-12T09:00", "refund", item="i2", cat="B", price=20.0, rev=-5.0, order="r1"),
    ev("b", "2024-01-05T09:00", "view", item="i3", cat="B", price=8.0),
]
FUTURE = [
    ev("a", "2024-01-15T00:00", "purchase", rev=99.0, order="o9"),
    ev("b", "2024-02-01T00:00", "purchase", cat="C", rev=50.0, order="o10"),
    ev("c", "2024-02-01T00:00", "view", cat="C"),
]


def row(df: pl.DataFrame, user: str) -> dict:
    return df.filter(pl.col("user_id") == user).to_dicts()[0]


def test_hand_computed_values():
    f = build_user_features(frame(ROWS), CUTOFF)
    assert f["user_id"].to_list() == ["a", "b"]
    a, b = row(f, "a"), row(f, "b")
    # recency, tenure, frequency, value (whole UTC days before the cutoff day)
    assert a["days_since_last_event"] == 2
    assert a["days_since_last_purchase"] == 3
    assert a["days_since_first_event"] == 13
    assert a["orders"] == 2 and a["purchase_days"] == 2 and a["items_purchased"] == 2.0
    assert a["revenue_total"] == pytest.approx(25.0)  # 10 + 20 - 5 refunded
    assert a["avg_order_value"] == pytest.approx(12.5)
    assert a["refunds"] == 1 and a["refund_rate"] == pytest.approx(5 / 30)
    assert a["purchase_gap_mean_days"] == 10.0 and a["purchase_gap_std_days"] == 0.0
    assert a["overdue_ratio"] == pytest.approx(0.3)
    assert a["events_total"] == 5 and a["active_days"] == 3
    assert a["distinct_items"] == 2 and a["distinct_categories"] == 2
    # windows: short data (14 days) -> 1/3/7-day windows
    assert a["purchases_7d"] == 1 and a["revenue_7d"] == 20.0 and a["active_days_7d"] == 2
    assert a["views_7d"] == 0 and a["carts_7d"] == 0
    # trend over 3 days: active days Jan 12-14 = 1 (Jan 12), Jan 9-11 = 1 -> (1+1)/(1+1)
    assert a["activity_trend"] == 1.0
    # funnel
    assert (
        a["view_to_cart_rate"] == 1.0 and a["cart_to_purchase_rate"] == 1.0 and a["has_views"] == 1
    )
    # taste: a has 3 events in A and 2 in B
    assert a["cat_share_a"] == pytest.approx(0.6) and a["cat_share_b"] == pytest.approx(0.4)
    # price level: category medians A = 10, B = median(20, 20, 8) = 20; a looked at 10, 10, 20
    assert a["price_level"] == pytest.approx(1.0)
    assert b["price_level"] == pytest.approx(8 / 20)


def test_never_bought_fill_rules():
    b = row(build_user_features(frame(ROWS), CUTOFF), "b")
    assert b["orders"] == 0 and b["revenue_total"] == 0.0 and b["avg_order_value"] == 0.0
    assert b["days_since_first_event"] == 9
    assert b["days_since_last_purchase"] == 10  # "longer than we have known them"
    assert b["purchase_gap_mean_days"] == 10.0 and b["purchase_gap_std_days"] == 0.0
    assert b["view_to_cart_rate"] == 0.0 and b["has_views"] == 1


def test_nothing_after_the_cutoff_leaks():
    spec = resolve_feature_spec(frame(ROWS), CUTOFF)
    before = build_user_features(frame(ROWS), CUTOFF, spec)
    after = build_user_features(frame(ROWS + FUTURE), CUTOFF, spec)
    assert after.equals(before)
    # and without a pinned spec the resolved spec (categories, windows) ignores the future too
    assert build_user_features(frame(ROWS + FUTURE), CUTOFF).equals(before)


def test_cutoff_is_inclusive_to_the_microsecond():
    rows = [*ROWS, ev("c", "2024-01-14T23:59:59", "view")]
    f = build_user_features(frame(rows), datetime(2024, 1, 14, 23, 59, 59, tzinfo=UTC))
    assert "c" in f["user_id"].to_list()
    f = build_user_features(frame(rows), datetime(2024, 1, 14, 23, 59, 58, tzinfo=UTC))
    assert "c" not in f["user_id"].to_list()


def test_transactions_only_has_no_funnel_columns_and_no_nan():
    rows = [
        ev("x", "2023-01-01", "purchase", price=None, rev=30.0, order=None),
        ev("x", "2023-03-02", "purchase", price=None, rev=10.0, order=None),
        ev("x", "2023-03-02", "purchase", price=None, rev=5.0, order=None),
        ev("y", "2023-06-30", "refund", price=None, rev=-10.0, order=None),
    ]
    f = build_user_features(frame(rows).lazy(), date(2023, 6, 30))
    assert "view_to_cart_rate" not in f.columns and "price_level" not in f.columns
    assert not any(c.startswith("views_") for c in f.columns)
    numeric = f.drop("user_id")
    assert numeric.null_count().sum_horizontal().item() == 0
    assert all(numeric[c].is_finite().all() for c in numeric.columns if numeric[c].dtype.is_float())
    x, y = row(f, "x"), row(f, "y")
    # two lines at the same timestamp without an order id are one order
    assert x["orders"] == 2 and x["purchase_days"] == 2 and x["revenue_total"] == 45.0
    assert x["purchase_gap_mean_days"] == 60.0
    assert y["orders"] == 0 and y["revenue_total"] == -10.0 and y["refund_rate"] == 0.0


def test_windows_adapt_to_span_and_cadence():
    monthly = [
        ev("u", f"2023-{m:02d}-01", "purchase", rev=1.0, order=f"o{m}") for m in range(1, 13)
    ]
    spec = resolve_feature_spec(frame(monthly), date(2023, 12, 31))
    assert spec.windows_days == (28, 90, 365)
    daily = [ev("u", f"2023-03-{d:02d}", "purchase", rev=1.0, order=f"o{d}") for d in range(1, 31)]
    daily += [ev("u", "2023-01-01", "view")]
    assert resolve_feature_spec(frame(daily), date(2023, 3, 31)).windows_days == (7, 28, 90)
    spec = FeatureSpec(windows_days=(5,), include_categories=False)
    f = build_user_features(frame(ROWS), CUTOFF, spec)
    assert "purchases_5d" in f.columns and not any(c.startswith("cat_share") for c in f.columns)


def test_pinned_spec_gives_identical_columns_at_two_cutoffs():
    spec = resolve_feature_spec(frame(ROWS + FUTURE), date(2024, 2, 1))
    early = build_user_features(frame(ROWS + FUTURE), CUTOFF, spec)
    late = build_user_features(frame(ROWS + FUTURE), date(2024, 2, 1), spec)
    assert early.columns == late.columns and early.schema == late.schema
    assert "cat_share_c" in early.columns and early["cat_share_c"].sum() == 0.0


def test_empty_history_is_a_clear_error():
    with pytest.raises(NotEnoughData, match="no events on or before"):
        build_user_features(frame(ROWS), date(2023, 1, 1))
    with pytest.raises(NotEnoughData):
        default_cutoff(frame([]))


def test_default_cutoff_is_end_of_last_day():
    assert default_cutoff(frame(ROWS)) == datetime(2024, 1, 12, 23, 59, 59, 999999, tzinfo=UTC)


def test_labels_read_well():
    f = build_user_features(frame(ROWS), CUTOFF)
    labels = feature_labels(f.columns)
    assert set(labels) == set(f.columns) - {"user_id"}
    assert labels["purchases_7d"] == "purchases in the last 7 days"
    assert describe_feature("views_28d") == "product views in the last 28 days"
    assert feature_labels()["days_since_last_purchase"] == "days since the last purchase"
    assert category_slug("Home & Garden") == "home_garden"
    assert category_slug("女装") == "女装"


def test_customer_table_features():
    users = pl.DataFrame(
        {
            "user_id": ["1", "2", "3", "4"],
            "recency": [1, 5, None, 3],
            "newbie": [True, False, True, None],
            "channel": ["Web", "Phone", "Web", "Multichannel"],
            "email": ["a@x", "b@x", "c@x", "d@x"],
            "zip_code": ["Urban", "Rural", "Urban", "Surburban"],
            "conversion": [0, 1, 0, 0],
        }
    )
    f = customer_table_features(users, exclude=["conversion"])
    assert f.columns == [
        "user_id",
        "recency",
        "newbie",
        "channel_multichannel",
        "channel_phone",
        "channel_web",
    ]
    assert f["recency"].to_list() == [1.0, 5.0, 3.0, 3.0]  # null -> median
    assert f["newbie"].to_list() == [1, 0, 1, 0]
    assert f["channel_web"].to_list() == [1, 0, 1, 0]
    with pytest.raises(NotEnoughData):
        customer_table_features(users.drop("user_id"))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u3"]),
            st.integers(0, 40),
            st.sampled_from(["view", "cart", "fav", "purchase", "refund"]),
            st.floats(0, 100),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_property_one_finite_row_per_user(events):
    rows = [
        ev(u, (date(2024, 1, 1) + timedelta(days=day)).isoformat(), t, price=p, rev=p)
        for u, day, t, p in events
    ]
    df = frame(rows)
    f = build_user_features(df, default_cutoff(df))
    assert sorted(f["user_id"].to_list()) == sorted(df["user_id"].unique().to_list())
    numeric = f.drop("user_id")
    assert numeric.null_count().sum_horizontal().item() == 0
    for c in numeric.columns:
        assert numeric[c].is_finite().all(), c


def test_discount_share_counts_purchases_below_the_usual_price():
    rows = [
        ev("a", "2024-01-01", "purchase", price=10.0, order="1"),
        ev("b", "2024-01-02", "purchase", price=10.0, order="2"),
        ev("b", "2024-01-03", "purchase", price=6.0, order="3"),  # median of i1 = 10 -> discounted
    ]
    f = build_user_features(frame(rows), date(2024, 1, 3))
    assert row(f, "a")["discount_share"] == 0.0
    assert row(f, "b")["discount_share"] == 0.5
    assert row(f, "b")["price_level"] == pytest.approx(0.8)  # (10/10 + 6/10) / 2


def test_a_resolved_spec_still_refuses_an_empty_history():
    spec = resolve_feature_spec(frame(ROWS), CUTOFF)
    with pytest.raises(NotEnoughData, match="no events on or before"):
        build_user_features(frame(ROWS), date(2023, 1, 1), spec)


def test_a_few_stray_early_events_do_not_widen_the_windows():
    # nine days of dense data (Taobao-like) plus one stray event two months earlier
    dense = [
        ev(f"u{i % 50}", f"2023-03-{d:02d}T{h:02d}:00", "view")
        for i in range(25)
        for d in range(1, 10)
        for h in range(0, 24, 3)
    ]
    stray = [ev("u0", "2023-01-02T00:00", "view")]
    assert resolve_feature_spec(frame(dense + stray), date(2023, 3, 9)).windows_days == (1, 3, 7)
