"""The sidebar: the workspace folder is the server's configuration, not a visitor's choice."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace
from ui import state

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app(ws: Workspace, monkeypatch: pytest.MonkeyPatch, **session: object) -> AppTest:
    monkeypatch.setenv("AUDIENCELAB_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[state.FIRST_START_DONE] = True  # no demo build: an empty workspace is enough
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def test_a_visitor_cannot_open_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDIENCELAB_ALLOW_WORKSPACE_CHANGE", raising=False)
    elsewhere = tmp_path / "elsewhere"
    at = run_app(Workspace(tmp_path / "ws"), monkeypatch, **{state.WORKSPACE_DIR: str(elsewhere)})
    assert not at.exception, at.exception
    assert not [t for t in at.text_input if t.label == "Workspace folder"]
    assert not elsewhere.exists(), "a folder typed by a visitor was created on the server"


def test_an_admin_switch_allows_choosing_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIENCELAB_ALLOW_WORKSPACE_CHANGE", "1")
    elsewhere = tmp_path / "elsewhere"
    at = run_app(Workspace(tmp_path / "ws"), monkeypatch, **{state.WORKSPACE_DIR: str(elsewhere)})
    assert not at.exception, at.exception
    assert [t for t in at.text_input if t.label == "Workspace folder"]
    assert elsewhere.exists()
