"""Overview KPIs, trend, cohorts and funnel against hand-computed values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import EVENTS_SCHEMA, empty_events
from analytics.overview.kpis import (
    activity_trend,
    cohort_retention,
    funnel,
    main_start,
    store_kpis,
    store_overview,
    suggest_every,
)


def ev(user, day, etype, rev=None, order=None):
    return {
        "user_id": user,
        "event_time": datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=12),
        "event_type": etype,
        "revenue": rev,
        "order_id": order,
        "price": 10.0,
        "quantity": 1.0,
    }


D = date
ROWS = [
    # a: views, carts, buys in January (two orders), buys again in March
    ev("a", D(2024, 1, 3), "view"),
    ev("a", D(2024, 1, 3), "cart"),
    ev("a", D(2024, 1, 3), "purchase", 30.0, "o1"),
    ev("a", D(2024, 1, 3), "purchase", 20.0, "o1"),  # second line of the same order
    ev("a", D(2024, 1, 20), "purchase", 10.0, "o2"),
    ev("a", D(2024, 3, 5), "purchase", 40.0, "o3"),
    # b: views and carts in January, buys once in February, refunds part of it
    ev("b", D(2024, 1, 10), "view"),
    ev("b", D(2024, 1, 10), "cart"),
    ev("b", D(2024, 2, 1), "purchase", 50.0, "o4"),
    ev("b", D(2024, 2, 2), "refund", -10.0, "o4"),
    # c: only views, last seen March 20
    ev("c", D(2024, 2, 15), "view"),
    ev("c", D(2024, 3, 20), "view"),
]


def events(rows=ROWS):
    return pl.DataFrame(rows, schema=EVENTS_SCHEMA)


def test_kpis_by_hand():
    k = store_kpis(events().lazy(), active_days=28)  # last day Mar 20 -> active since Feb 22
    assert k["users"] == 3
    assert k["active_users"] == 2  # a (Mar 5) and c (Mar 20)
    assert k["buyers"] == 2 and k["orders"] == 4
    assert k["revenue"] == pytest.approx(140.0)  # 50 + 10 + 40 + 50 - 10
    assert k["average_order_value"] == pytest.approx(35.0)
    assert k["repeat_rate"] == pytest.approx(0.5)  # a has 3 orders, b has 1
    assert (k["first_day"], k["last_day"]) == (D(2024, 1, 3), D(2024, 3, 20))


def test_monthly_trend_by_hand():
    t = activity_trend(events(), every="1mo")
    assert t["period"].to_list() == [D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1)]
    assert t["users"].to_list() == [2, 2, 2]
    assert t["buyers"].to_list() == [1, 1, 1]
    assert t["orders"].to_list() == [2, 1, 1]
    assert t["revenue"].to_list() == [60.0, 40.0, 40.0]
    assert t["complete"].to_list() == [False, True, False]  # data starts Jan 3, ends Mar 20


def test_cohorts_by_first_purchase():
    c = cohort_retention(events(), every="1mo")
    assert set(c["basis"]) == {"purchase"}
    # a's cohort is January (buys in Jan and Mar), b's is February (buys only in Feb)
    jan = c.filter(pl.col("cohort") == D(2024, 1, 1))
    assert jan["period"].to_list() == [0, 1, 2]
    assert jan["users"].to_list() == [1, 0, 1]
    assert jan["retention"].to_list() == [1.0, 0.0, 1.0]
    feb = c.filter(pl.col("cohort") == D(2024, 2, 1))
    assert feb["period"].to_list() == [0, 1] and feb["users"].to_list() == [1, 0]
    assert c["cohort_users"].to_list() == [1, 1, 1, 1, 1]


def test_cohorts_by_activity_without_purchases_and_weekly():
    rows = [r for r in ROWS if r["event_type"] == "view"]
    c = cohort_retention(events(rows), every="1w")
    assert set(c["basis"]) == {"activity"}
    first = c.filter(pl.col("cohort") == D(2024, 1, 1))  # Monday of the week of Jan 3
    assert first["cohort_users"][0] == 1 and first["period"].max() == 11  # Mar 18 week
    with pytest.raises(SpecError):
        cohort_retention(events(), every="fortnight")


def test_funnel_nested_steps():
    f = funnel(events())
    assert f is not None
    assert f["step"].to_list() == ["Viewed a product", "Added to cart", "Purchased"]
    assert f["users"].to_list() == [3, 2, 2]
    assert f["share_of_viewers"].to_list() == pytest.approx([1.0, 2 / 3, 2 / 3])
    assert f["step_conversion"].to_list() == pytest.approx([1.0, 2 / 3, 1.0])


def test_transactions_only():
    rows = [r for r in ROWS if r["event_type"] in ("purchase", "refund")]
    assert funnel(events(rows)) is None
    k = store_kpis(events(rows))
    assert k["users"] == 2 and k["revenue"] == pytest.approx(140.0)


def test_customer_table_gets_a_clear_message():
    for call in (store_kpis, activity_trend, cohort_retention, funnel, suggest_every):
        with pytest.raises(NotEnoughData, match="customer table"):
            call(empty_events().lazy())


def test_suggest_every():
    assert suggest_every(events()) == "1w"  # 78 days
    assert suggest_every(events(ROWS[:4])) == "1d"


def test_stray_early_events_are_left_out_of_the_charts_only():
    # 200 views over 10 days in March, plus one stray event in January (as in the Taobao sample)
    rows = [ev(f"u{i % 20}", D(2024, 3, 1 + i % 10), "view") for i in range(200)]
    rows.append(ev("stray", D(2024, 1, 2), "view"))
    for r in rows:
        r["price"] = None  # no money in this data
    assert main_start(events(rows)) == (D(2024, 3, 1), 1)
    assert main_start(events(ROWS)) == (D(2024, 1, 3), 0)  # a normal start is kept
    view = store_overview(events(rows))
    assert view.every == "1d" and view.left_out_events == 1
    assert view.trend["period"].min() == D(2024, 3, 1)
    assert view.kpis["users"] == 21  # KPIs still count everyone
    assert view.kpis["has_revenue"] is False and view.funnel is not None
    assert view.rfm["users"].sum() == 21
