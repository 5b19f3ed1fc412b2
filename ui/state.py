"""Session-state keys and the two things every page shares: the workspace and the dataset.

This module owns ``st.session_state``; pages read and write it only through these helpers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from analytics.core.workspace import Workspace, default_workspace_dir

WORKSPACE_DIR = "workspace_dir"
DATASET = "dataset"
DATASET_PICKER = "_dataset_picker"  # the sidebar selectbox; mirrors DATASET
FIRST_START_DONE = "_first_start_done"  # the empty-workspace demo check ran in this session
UPLOAD = "_upload"  # the uploaded file being mapped: {"file_id", "name", "path", "detection"}
DATA_TAB = "_data_tab"  # the open tab of the Data page
DATA_TAB_NEXT = "_data_tab_next"  # a tab to open on the next run (set after the tabs are drawn)
FLASH = "_flash"  # a one-shot success message shown after a rerun


@st.cache_resource(show_spinner=False)
def _open_workspace(path: str) -> Workspace:
    return Workspace(path)


def workspace_change_allowed() -> bool:
    """Whether a visitor may switch the workspace folder (``AUDIENCELAB_ALLOW_WORKSPACE_CHANGE=1``).

    Off by default: the folder is the server's configuration (``AUDIENCELAB_WORKSPACE``), so a
    visitor can neither open nor create folders on the server.
    """
    return os.environ.get("AUDIENCELAB_ALLOW_WORKSPACE_CHANGE", "").strip() == "1"


def workspace_dir() -> str:
    """The configured workspace folder, or the one typed in the sidebar where that is allowed."""
    if workspace_change_allowed():
        return st.session_state.get(WORKSPACE_DIR) or str(default_workspace_dir())
    return str(default_workspace_dir())


def dataset_key(base: str) -> str:
    """A session-state key that belongs to the current dataset and its version.

    Page state kept under it can never show or export another dataset's result: switching
    datasets, or re-ingesting one, changes the key.
    """
    name = dataset_name()
    if name is None:
        return f"{base}::"
    try:
        version = workspace().dataset(name).fingerprint
    except Exception:  # the dataset just went away: a key no result is stored under
        version = "gone"
    return f"{base}::{name}::{version}"


def workspace() -> Workspace:
    """The workspace chosen in the sidebar (default ./workspace or $AUDIENCELAB_WORKSPACE)."""
    return _open_workspace(str(Path(workspace_dir()).expanduser().resolve()))


def dataset_name() -> str | None:
    """The dataset picked in the sidebar, or None when the workspace is empty."""
    return st.session_state.get(DATASET)


def set_dataset(name: str | None) -> None:
    st.session_state[DATASET] = name


def first_start_done() -> bool:
    return bool(st.session_state.get(FIRST_START_DONE))


def mark_first_start_done() -> None:
    st.session_state[FIRST_START_DONE] = True


def upload() -> dict[str, Any] | None:
    """The uploaded file waiting to be ingested, with its detection, or None."""
    return st.session_state.get(UPLOAD)


def set_upload(value: dict[str, Any] | None) -> None:
    st.session_state[UPLOAD] = value


def open_data_tab(tab: str) -> None:
    """Ask the Data page to show ``tab`` on its next run."""
    st.session_state[DATA_TAB_NEXT] = tab


def data_tab_key() -> str:
    """The key of the Data page's tabs, after applying a pending ``open_data_tab`` request.

    A widget's state cannot change once it is drawn in a run, hence the request for the next.
    """
    if DATA_TAB_NEXT in st.session_state:
        st.session_state[DATA_TAB] = st.session_state.pop(DATA_TAB_NEXT)
    return DATA_TAB


def flash(message: str) -> None:
    """Keep a success message for the next run (e.g. across ``st.rerun``)."""
    st.session_state[FLASH] = message


def pop_flash() -> str | None:
    return st.session_state.pop(FLASH, None)


def require_dataset(message: str) -> tuple[Workspace, str]:
    """The workspace and the picked dataset; without a dataset, say ``message``, link to the
    Data page and stop the page."""
    name = dataset_name()
    if name is None:
        st.info(message)
        st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload_file:")
        st.stop()
    return workspace(), name
