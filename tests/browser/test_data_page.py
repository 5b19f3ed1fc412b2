"""The Data page in a real browser: the demo store's ingest report is there and true."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.core.workspace import Workspace
from tests.browser.conftest import AppServer, metric_value, open_page, save_screenshot

pytestmark = pytest.mark.browser


def test_data_page_shows_the_demo_ingest_report(page: Any, app_server: AppServer) -> None:
    report = Workspace(app_server.workspace).dataset("demo").report

    page.get_by_role("heading", name="Ingest report: demo").wait_for()
    assert metric_value(page, "Rows read") == f"{report['rows_read']:,}"
    assert metric_value(page, "Rows accepted") == f"{report['rows_accepted']:,}"
    assert metric_value(page, "Users") == f"{report['users']:,}"
    page.get_by_text("Events per day", exact=True).wait_for()
    save_screenshot(page, "data_page")


def test_every_page_opens_from_the_sidebar(page: Any) -> None:
    for title in ["Overview", "Segments", "Predictions", "Recommendations", "Campaigns", "Data"]:
        open_page(page, title)
        assert page.get_by_test_id("stException").count() == 0, title
        assert page.locator("h1").count() >= 1, title
