"""The Predictions page in a real browser: train with the button, read the card, look up a user."""

from __future__ import annotations

from typing import Any

import pytest

from analytics.core.workspace import Workspace
from tests.browser.conftest import (
    AppServer,
    metric_value,
    open_page,
    save_screenshot,
    wait_for_app,
    wait_for_charts,
)

pytestmark = pytest.mark.browser


def test_train_then_read_the_card_and_a_customer(page: Any, app_server: AppServer) -> None:
    open_page(page, "Predictions")
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Purchase probability: model card").wait_for(timeout=240_000)
    wait_for_app(page)
    assert page.get_by_test_id("stException").count() == 0
    assert metric_value(page, "Model quality") in ("Poor", "Fair", "Good", "Excellent")
    assert metric_value(page, "Horizon").endswith("days")
    wait_for_charts(page)
    assert page.get_by_test_id("stPlotlyChart").count() >= 2
    save_screenshot(page, "predictions")

    reasons = Workspace(app_server.workspace).read_frame("demo", "reasons_purchase")
    user = reasons["user_id"][0]
    page.get_by_role("tab", name="Customer lookup").click()
    box = page.get_by_label("Customer id")
    box.fill(user)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("tab", name="Customer lookup").click()  # a rerun may reopen the first tab
    page.get_by_text(reasons["text"][0]).first.wait_for()
    save_screenshot(page, "predictions_lookup")
