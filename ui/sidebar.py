"""The shared sidebar: workspace folder and dataset picker."""

from __future__ import annotations

import streamlit as st

from ui import state


def show_sidebar() -> None:
    """Draw the workspace and dataset pickers; keeps ``ui.state`` in sync."""
    with st.sidebar:
        ws = state.workspace()
        names = [d.name for d in ws.list_datasets()]
        if names:
            current = state.dataset_name()
            index = names.index(current) if current in names else 0
            state.set_dataset(st.selectbox("Dataset", names, index=index))
        else:
            state.set_dataset(None)
            st.caption("No dataset yet.")
