"""Session-state keys and the two things every page shares: the workspace and the dataset.

This module owns ``st.session_state``; pages read and write it only through these helpers.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from analytics.workspace import Workspace, default_workspace_dir

WORKSPACE_DIR = "workspace_dir"
DATASET = "dataset"


@st.cache_resource(show_spinner=False)
def _open_workspace(path: str) -> Workspace:
    return Workspace(path)


def workspace() -> Workspace:
    """The workspace chosen in the sidebar (default ./workspace or $AUDIENCELAB_WORKSPACE)."""
    path = st.session_state.get(WORKSPACE_DIR) or str(default_workspace_dir())
    return _open_workspace(str(Path(path).resolve()))


def dataset_name() -> str | None:
    """The dataset picked in the sidebar, or None when the workspace is empty."""
    return st.session_state.get(DATASET)


def set_dataset(name: str | None) -> None:
    st.session_state[DATASET] = name
