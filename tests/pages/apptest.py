"""Running one page under Streamlit's AppTest on a given workspace and dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace
from ui import state

PAGES = Path(__file__).resolve().parents[2] / "pages"


def open_page(
    page: str, ws: Workspace, dataset: str | None, *, timeout: float = 180, **session: Any
) -> AppTest:
    """Run ``pages/<page>.py`` with the sidebar's workspace and dataset (and ``session``) set."""
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=timeout)
    at.session_state[state.WORKSPACE_DIR] = str(ws.root)
    at.session_state[state.DATASET] = dataset
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled ``label``."""
    return next(m.value for m in at.metric if m.label == label)
