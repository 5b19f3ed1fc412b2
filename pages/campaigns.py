"""Campaigns page (placeholder until the real page lands): says what it will show."""

import streamlit as st

st.title("Campaigns")
st.info(
    "This page will show a campaign simulator: pick an audience, an offer and a budget, see the "
    "expected extra conversions, revenue, profit and ROI with their uncertainty, compare "
    "targeting strategies, and export the list with a random control group for your e-mail or "
    "CRM tool."
)
st.write("It needs a dataset first: load the demo store or upload your own file on the Data page.")
st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
