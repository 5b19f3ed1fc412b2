"""The shared sidebar: the dataset picker and a few facts about the dataset.

On the first start of a session with an empty workspace it builds the demo store, showing a
progress bar in the main area; later starts find the datasets in the workspace at once.
"""

from __future__ import annotations

import streamlit as st

from analytics.core.errors import AudienceLabError
from analytics.core.workspace import DatasetInfo, Workspace
from analytics.demo.service import DEMO_USERS, ensure_demo, load_demo
from ui import state
from ui.progress import progress_bar
from ui.widgets import demo_users_override, show_dataset_facts

__all__ = ["show_sidebar"]


def show_sidebar() -> None:
    """Draw the sidebar; keeps the workspace and dataset of ``ui.state`` in sync."""
    with st.sidebar:
        ws = _show_workspace_picker()
    if ws is None:
        return
    try:
        _build_demo_on_first_start(ws)
        datasets = ws.list_datasets()
    except AudienceLabError as err:
        st.error(str(err), icon=":material/error:")
        return
    with st.sidebar:
        info = _show_dataset_picker(datasets)
        if info is not None:
            show_dataset_facts(info)


def _show_workspace_picker() -> Workspace | None:
    if state.workspace_change_allowed():
        if state.WORKSPACE_DIR not in st.session_state:
            st.session_state[state.WORKSPACE_DIR] = state.workspace_dir()
        st.text_input(
            "Workspace folder",
            key=state.WORKSPACE_DIR,
            help="Where datasets, models and campaigns are kept. A second tab or the command "
            "line using the same folder sees the same datasets.",
        )
    try:
        return state.workspace()
    except (AudienceLabError, OSError) as err:
        st.error(f"Cannot open the workspace folder: {err}", icon=":material/error:")
        return None


def _build_demo_on_first_start(ws: Workspace) -> None:
    if state.first_start_done():
        return
    state.mark_first_start_done()  # once per session: deleting every dataset later is allowed
    if ws.list_datasets():
        return
    users = demo_users_override()
    note = st.info(
        f"First start: building the demo store ({users or DEMO_USERS:,} customers) so there is "
        "something to explore. This happens once; later starts open it from the workspace.",
        icon=":material/hourglass_top:",
    )
    with progress_bar("Generating the demo store") as progress:
        if users is None:
            ensure_demo(ws, progress=progress)
        else:
            load_demo(ws, users=users, progress=progress)
    note.empty()
    state.set_dataset("demo")


def _show_dataset_picker(datasets: list[DatasetInfo]) -> DatasetInfo | None:
    if not datasets:
        state.set_dataset(None)
        st.caption("No dataset yet: add one on the Data page.")
        return None
    names = [d.name for d in datasets]
    current = state.dataset_name()
    if current not in names:
        current = names[0]
    st.session_state[state.DATASET_PICKER] = current
    picked = st.selectbox(
        "Dataset",
        names,
        key=state.DATASET_PICKER,
        on_change=lambda: state.set_dataset(st.session_state[state.DATASET_PICKER]),
    )
    state.set_dataset(picked)
    return datasets[names.index(picked)]
