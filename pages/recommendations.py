"""Recommendations page: what the store would show each customer and segment, and how good it is."""

import streamlit as st

from ui import cache, state
from ui import recs_widgets as rw
from ui.widgets import showing_errors

KEY = "recs"

st.title("Recommendations")
ws, dataset = state.require_dataset(
    "Recommendations need a dataset: load the demo store or upload your own file first."
)

with showing_errors():
    result = cache.recommendations(ws, dataset)
    if result is None:
        st.write(
            "Two lists per customer: **buy again** (what they are likely to re-order) and "
            "**new for you** (products they have not bought yet), mixed by their chance of "
            "purchase. Every recommender is first checked on a held-out window against simply "
            "showing the best sellers."
        )
    rw.show_run_button(ws, dataset, done=result is not None, key=KEY)
    if result is not None:
        rw.show_verdict(result)

        st.header("How good are the lists?", divider="gray")
        rw.show_model_comparison(result)

        st.header("One customer", divider="gray")
        item = rw.show_user_lookup(ws, dataset, result, KEY)

        st.subheader("Customers who bought this also bought")
        rw.show_similar_items(ws, dataset, item, KEY)

        st.header("Best sellers per segment", divider="gray")
        rw.show_segment_top_items(ws, dataset)
