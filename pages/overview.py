"""Overview page (placeholder until the real page lands): says what it will show."""

import streamlit as st

st.title("Overview")
st.info(
    "This page will show the health of your store at a glance: active users, orders, revenue "
    "and their trend, the classic RFM groups (Champions, Loyal, Recent, Needs attention, At "
    "risk, Inactive) and how many customers sit in each."
)
st.write("It needs a dataset first: load the demo store or upload your own file on the Data page.")
st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
