"""Overview page: the store at a glance (KPIs, trend, cohorts, funnel, classic RFM groups)."""

import streamlit as st

from analytics.rfm import RFM_RULES
from analytics.schema import Shape
from ui import cache, state
from ui.charts_overview import (
    TREND_METRICS,
    cohort_caption,
    cohort_chart,
    funnel_chart,
    period_word,
    rfm_chart,
    trend_chart,
)
from ui.widgets import showing_errors

ACTIVE_DAYS = 28

st.title("Overview")
name = state.dataset_name()
if name is None:
    st.info("No dataset yet: load the demo store or upload your own file on the Data page.")
    st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
    st.stop()

ws = state.workspace()
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
    st.caption(
        f"{name}: {k['first_day']:%d %b %Y} – {k['last_day']:%d %b %Y} (UTC). "
        "Revenue is net of refunds."
    )

    cols = st.columns(6)
    cols[0].metric("Customers", f"{k['users']:,}", help="People with at least one event.")
    cols[1].metric(
        "Active customers",
        f"{k['active_users']:,}",
        help=f"Customers with any activity in the last {ACTIVE_DAYS} days of the data.",
    )
    cols[2].metric("Orders", f"{k['orders']:,}")
    cols[3].metric("Revenue", f"{k['revenue']:,.0f}", help="Purchases minus refunds.")
    cols[4].metric("Average order value", f"{k['average_order_value']:,.2f}")
    cols[5].metric(
        "Repeat rate",
        f"{k['repeat_rate']:.0%}",
        help="Share of buyers who placed two or more orders.",
    )

    word = period_word(view.every)
    st.subheader(f"Activity per {word}")
    metric = st.segmented_control(
        "Show",
        list(TREND_METRICS),
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
        st.plotly_chart(cohort_chart(view.cohorts, view.every))
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
        st.plotly_chart(rfm_chart(view.rfm))
        with st.expander("How the groups are defined"):
            st.markdown("\n".join(f"- **{g}**: {rule}" for g, rule in RFM_RULES.items()))
