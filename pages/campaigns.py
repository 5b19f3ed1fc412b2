"""Campaigns page: audience, uplift, simulation, control group, export, saved campaigns."""

import streamlit as st

from ui import cache, state
from ui import campaign_widgets as cw
from ui.widgets import showing_errors

st.title("Campaigns")
ws, dataset = state.require_dataset(
    "Campaigns need a dataset: load the demo store or upload your own file first."
)
KEY = state.dataset_key("cmp")  # this dataset's own state: nothing carries over to another

with showing_errors():
    inputs = cache.audience_inputs(ws, dataset)
    cw.show_missing_inputs(inputs)

    st.header("1. Who", divider="gray")
    audience = cw.show_audience_builder(ws, dataset, inputs, KEY)

    st.header("2. Who is persuadable", divider="gray")
    cw.show_uplift(ws, dataset, KEY)

    st.header("3. Offer and simulation", divider="gray")
    has_history = inputs.last_purchase is not None
    spec = cw.show_campaign_form(audience, has_history, KEY)
    result = cw.show_simulation(ws, dataset, spec, KEY)

    if result is not None:
        st.header("4. Control group", divider="gray")
        cw.show_control_group(result)

        st.header("5. Export", divider="gray")
        cw.show_export(ws, dataset, result, KEY)

    st.header("Saved campaigns", divider="gray")
    cw.show_saved_campaigns(ws, dataset, KEY)
