"""Predictions page (placeholder until the real page lands): says what it will show."""

import streamlit as st

st.title("Predictions")
st.info(
    "This page will show for every customer, the chance to buy in the next 7 days, the risk of "
    "churning and the expected revenue, as 0–100 scores and percentiles, with the model's "
    "quality against a simple baseline and the reasons behind each score."
)
st.write("It needs a dataset first: load the demo store or upload your own file on the Data page.")
st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
