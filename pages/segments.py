"""Segments page (placeholder until the real page lands): says what it will show."""

import streamlit as st

st.title("Segments")
st.info(
    "This page will show a map of your customers grouped into learned segments: each dot is a "
    "customer placed by their behaviour, each colour a segment with a plain-language name, a "
    "profile (activity, basket value, favourite categories) and the rules that describe it."
)
st.write("It needs a dataset first: load the demo store or upload your own file on the Data page.")
st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
