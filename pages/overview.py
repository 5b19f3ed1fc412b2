"""Overview page: the store at a glance (KPIs, trend, cohorts, funnel, classic RFM groups)."""

import streamlit as st

from analytics.core.schema import Shape
from analytics.overview.service import RFM_RULES
from ui import cache, state
from ui.charts_overview import (
    TREND_METRICS,
    cohort_caption,
    cohort_chart,
    compact_number,
    funnel_chart,
    period_word,
    rfm_chart,
    trend_chart,
)
from ui.widgets import showing_errors

ACTIVE_DAYS = 28

st.title("Overview")
ws, name = state.require_dataset(
    "No dataset yet: load the demo store or upload your own file on the Data page."
)
with showing_errors():
    info = ws.dataset(name)
    if info.shape == Shape.CUSTOMERS:
        st.info(
            f"'{name}' is a customer table: one row per customer, no activity over time, so there "
            "are no trends, cohorts or funnel to show. Its customers are grouped on the Segments "
            "page, and past campaigns in it are analysed on the Campaigns page."
        )
        st.stop()
    with st.spinner("Summing up the store…"):
        view = cache.store_overview(ws, name, info.fingerprint, ACTIVE_DAYS)
    k = view.kpis
    money = k["has_revenue"]
    st.caption(
        f"{name}: {k['first_day']:%d %b %Y} – {k['last_day']:%d %b %Y} (UTC). "
        + ("Revenue is net of refunds." if money else "This data has no prices or revenue.")
    )
    kpis = [
        ("Customers", f"{k['users']:,}", "People with at least one event."),
        (
            "Active customers",
            f"{k['active_users']:,}",
            f"Any activity in the last {ACTIVE_DAYS} days.",
        ),
        ("Orders", f"{k['orders']:,}", "Orders placed (order lines grouped by order)."),
        (
            "Revenue",
            compact_number(k["revenue"]) if money else "n/a",
            f"Purchases minus refunds: {k['revenue']:,.0f}." if money else None,
        ),
        ("Average order value", f"{k['average_order_value']:,.2f}" if money else "n/a", None),
        ("Repeat rate", f"{k['repeat_rate']:.0%}", "Share of buyers with two or more orders."),
    ]
    for col, (label, value, why) in zip(st.columns(len(kpis)), kpis, strict=True):
        col.metric(label, value, help=why)
    if view.left_out_events:
        st.caption(
            f"The charts start on {view.charts_start:%d %b %Y}, where the bulk of the data begins; "
            f"{view.left_out_events:,} earlier stray events are counted above but not drawn."
        )

    word = period_word(view.every)
    st.subheader(f"Activity per {word}")
    metric = st.segmented_control(
        "Show",
        [m for m in TREND_METRICS if money or m != "revenue"],
        format_func=TREND_METRICS.get,
        default="users",
        key="overview_trend_metric",
        label_visibility="collapsed",
    )
    st.plotly_chart(trend_chart(view.trend, metric or "users", view.every))

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Do customers come back?")
        st.caption(cohort_caption(view.cohorts, view.every))
        st.plotly_chart(cohort_chart(view.cohorts, view.every, start=view.charts_start))
    with right:
        st.subheader("From view to purchase")
        if view.funnel is None:
            st.info("This data has no product views (only orders), so there is no funnel to show.")
        else:
            st.caption("Customers who viewed a product, of them who added to cart, and bought.")
            st.plotly_chart(funnel_chart(view.funnel))

    with st.container(border=True):
        st.subheader("Classic segments (RFM)")
        st.caption(
            f"Recency, frequency and spend as of {view.cutoff:%d %b %Y}, scored 1–5 against the "
            "other buyers. Customers who never bought count as Inactive."
        )
        st.plotly_chart(rfm_chart(view.rfm, with_revenue=money))
        with st.expander("How the groups are defined"):
            st.markdown("\n".join(f"- **{g}**: {rule}" for g, rule in RFM_RULES.items()))
