"""Data page: load a file or the demo store, check the mapping, see the ingest report."""

import streamlit as st

st.title("Data")
st.write("Upload a file or use the demo store (being built).")
