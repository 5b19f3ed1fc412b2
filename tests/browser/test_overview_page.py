"""The Overview page in a real browser: KPIs that match the data and a drawn cohort heat map."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.core.workspace import Workspace
from tests.browser.conftest import AppServer, open_page, save_screenshot, wait_for_charts

pytestmark = pytest.mark.browser


def _metric(page: Any, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text=label).first
    return str(metric.get_by_test_id("stMetricValue").inner_text()).strip()


def test_overview_shows_kpis_and_the_cohort_heat_map(page: Any, app_server: AppServer) -> None:
    users = Workspace(app_server.workspace).events("demo").select("user_id").collect().n_unique()

    open_page(page, "Overview")
    page.get_by_role("heading", name="Do customers come back?").wait_for()
    assert page.get_by_test_id("stException").count() == 0
    assert _metric(page, "Customers") == f"{users:,}"
    wait_for_charts(page)
    assert page.get_by_test_id("stPlotlyChart").count() == 4
    # the cohort chart is a heat map drawn by plotly (one image layer per heat map)
    assert page.locator(".heatmaplayer").count() >= 1 or page.locator("g.hm").count() >= 1
    save_screenshot(page, "overview")
