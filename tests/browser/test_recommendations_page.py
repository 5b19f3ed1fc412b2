"""The Recommendations page in a real browser: comparison chart and table, one customer's lists.

The recommendations of the shared ``demo`` dataset are computed once here (quick settings, no
sequence model). That adds the ``recs*`` artifacts to ``demo`` and changes nothing else in it.
"""

from __future__ import annotations

from typing import Any

import pytest

from analytics.core.workspace import Workspace
from models.recommend.service import RecommendSpec, load_recommendations, run_recommendations
from tests.browser.conftest import AppServer, open_page, save_screenshot, wait_for_charts

pytestmark = pytest.mark.browser


def test_recommendations_page_shows_models_and_a_customer(page: Any, app_server: AppServer) -> None:
    ws = Workspace(app_server.workspace)
    result = load_recommendations(ws, "demo") or run_recommendations(
        ws, "demo", RecommendSpec(sequential=False)
    )
    open_page(page, "Recommendations")
    page.get_by_role("heading", name="How good are the lists?").wait_for(timeout=120_000)
    assert page.get_by_test_id("stException").count() == 0
    verdict = page.get_by_test_id("stAlertContentSuccess").first.inner_text()
    assert result.report["chosen_label"] in verdict
    wait_for_charts(page)
    assert page.get_by_test_id("stPlotlyChart").count() >= 1
    # the comparison table, the customer's history and lists, the also-bought table
    assert page.get_by_test_id("stDataFrame").count() >= 4
    page.get_by_role("heading", name="Customers who bought this also bought").wait_for()
    save_screenshot(page, "recommendations")
