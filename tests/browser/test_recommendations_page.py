"""The Recommendations page in a real browser: comparison chart and table, one customer's lists,
the best sellers of each segment.

The recommendations of the shared ``demo`` dataset are computed here (quick settings, no
sequence model), after its segments when no earlier test found them (as the Segments page's
button would). That adds the ``recs*`` and segment artifacts to ``demo``, nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest

from analytics.core.workspace import Workspace
from models.recommend.service import (
    RecommendSpec,
    ensure_recommendations,
    item_names,
    segment_best_sellers,
)
from models.segments.service import load_segmentation, run_segmentation
from tests.browser.conftest import AppServer, open_page, save_screenshot, wait_for_charts

pytestmark = pytest.mark.browser


def test_recommendations_page_shows_models_and_a_customer(page: Any, app_server: AppServer) -> None:
    ws = Workspace(app_server.workspace)
    if load_segmentation(ws, "demo") is None:
        run_segmentation(ws, "demo")
    result = ensure_recommendations(ws, "demo", RecommendSpec(sequential=False))
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
    # a table per segment with recent buyers, and a word for each segment without
    page.get_by_role("heading", name="Best sellers per segment").wait_for()
    best = segment_best_sellers(ws, "demo", item_names(ws, "demo"))
    assert best is not None
    for label in best.table["segment_label"].unique():
        assert page.get_by_text(label, exact=True).count() >= 1
    if best.without:
        assert page.get_by_text("No best sellers for").count() == 1
    save_screenshot(page, "recommendations")
