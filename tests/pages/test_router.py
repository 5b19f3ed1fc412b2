"""Every page opens through the router on the demo workspace without an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = ["data", "overview", "segments", "predictions", "recommendations", "campaigns"]


def open_page(ws: Workspace, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    """Run the app once (router + sidebar pick the dataset), then switch to ``page``."""
    monkeypatch.setenv("AUDIENCELAB_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    return at.switch_page(f"pages/{page}.py").run()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_with_its_title_and_no_error(
    page: str, demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(demo_workspace, monkeypatch, page)
    assert not at.exception, at.exception
    assert at.title[0].value == page.capitalize()
    assert not at.error, [e.value for e in at.error]


def test_the_router_lists_every_page() -> None:
    source = Path(APP).read_text()
    for page in PAGES:
        assert f'"pages/{page}.py"' in source, page
