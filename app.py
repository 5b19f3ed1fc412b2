"""AudienceLab: page config, the shared sidebar, and the router. Nothing else lives here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.sidebar import show_sidebar

ICON = Path(__file__).parent / "ui" / "favicon.png"

# A local icon: a :material/...: favicon would be fetched from the internet.
st.set_page_config(page_title="AudienceLab", page_icon=str(ICON), layout="wide")

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/bubble_chart:"),
    st.Page("pages/predictions.py", title="Predictions", icon=":material/insights:"),
    st.Page("pages/recommendations.py", title="Recommendations", icon=":material/recommend:"),
    st.Page("pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
]
navigation = st.navigation(pages)
show_sidebar()
navigation.run()
