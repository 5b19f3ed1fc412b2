"""Every page opens through the router on the demo workspace; pages not built yet say what they
will show and link to the Data page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = ["data", "overview", "segments", "predictions", "recommendations", "campaigns"]
# a page is a placeholder until its engineer replaces the file (its docstring says so)
PLACEHOLDERS = [p for p in PAGES if "placeholder" in (ROOT / "pages" / f"{p}.py").read_text()]


def open_page(ws: Workspace, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    """Run the app once (router + sidebar pick the dataset), then switch to ``page``."""
    monkeypatch.setenv("AUDIENCELAB_WORKSPACE", str(ws.root))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    return at.switch_page(f"pages/{page}.py").run()


@pytest.mark.parametrize("page", PLACEHOLDERS)
def test_a_placeholder_says_what_it_will_show_and_links_to_data(
    page: str, demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(demo_workspace, monkeypatch, page)
    assert not at.exception, at.exception
    assert at.title[0].value == page.capitalize()
    assert at.info[0].value.startswith("This page will show ")
    links = at.get("page_link")
    assert [link.proto.page for link in links] == ["data"]  # the Data page's url path


def test_the_router_lists_every_page() -> None:
    source = Path(APP).read_text()
    for page in PAGES:
        assert f'"pages/{page}.py"' in source, page
