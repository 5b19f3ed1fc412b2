"""Recommendations page (placeholder until the real page lands): says what it will show."""

import streamlit as st

st.title("Recommendations")
st.info(
    "This page will show the products each customer is most likely to want next (buy again, or "
    "new to them), with how much better these lists do than simply recommending best sellers."
)
st.write("It needs a dataset first: load the demo store or upload your own file on the Data page.")
st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
