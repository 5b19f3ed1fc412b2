"""The Segments page in a real browser: find segments on the demo store and see the map."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.core.workspace import Workspace
from tests.browser.conftest import AppServer, open_page, save_screenshot, wait_for_app

pytestmark = pytest.mark.browser

_SEGMENT_TIMEOUT_MS = 600_000  # features, embeddings, UMAP (numba compiles once per server)


def test_segments_page_draws_the_map_and_cards(page: Any, app_server: AppServer) -> None:
    open_page(page, "Segments")
    run = page.get_by_role("button", name="Find segments")
    if run.count():  # not segmented yet in this session's workspace
        run.first.click()
        page.get_by_text("Colour the map by").wait_for(timeout=_SEGMENT_TIMEOUT_MS)
    wait_for_app(page, timeout_ms=_SEGMENT_TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.locator(".main-svg").first.wait_for(timeout=60_000)
    # the map is a WebGL scatter: plotly draws it on a gl canvas
    assert chart.locator("canvas").count() >= 1
    record = Workspace(app_server.workspace).get_record("run", "demo", "segment")
    assert record is not None
    k = record.payload["k"]
    assert page.get_by_text("Revenue per customer").count() == k  # one card per segment
    save_screenshot(page, "segments")
    # colour by spend: a log scale with ticks in money, under a plain-words name
    page.get_by_test_id("stSelectbox").filter(has_text="Colour the map by").click()
    page.get_by_role("option", name="Total spend, net of refunds").click()
    wait_for_app(page, timeout_ms=120_000)
    chart.locator(".colorbar").first.wait_for(timeout=60_000)
    assert page.get_by_test_id("stException").count() == 0
    save_screenshot(page, "segments_by_spend")
