"""The Campaigns page in a real browser: build an audience, simulate, download the CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analytics.core.workspace import Workspace
from tests.browser.conftest import AppServer, open_page, save_screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _metric(page: Any, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(has_text=label).first
    return str(metric.get_by_test_id("stMetricValue").inner_text()).strip()


def test_build_simulate_and_download(page: Any, app_server: AppServer) -> None:
    users = Workspace(app_server.workspace).read_frame("demo", "users")
    consent = dict(zip(users["user_id"], users["consent_email"], strict=True))
    opted_in = sum(1 for v in consent.values() if v is True)

    open_page(page, "Campaigns")
    page.get_by_role("heading", name="1. Who").wait_for()
    assert page.get_by_test_id("stException").count() == 0
    assert _metric(page, "Audience") == f"{opted_in:,}"
    # build: leave out recent buyers; the live size drops
    box = page.get_by_label("Leave out who bought in the last N days (0 = nobody)")
    box.fill("14")
    box.press("Enter")
    wait_for_app(page)
    assert int(_metric(page, "Audience").replace(",", "")) < opted_in

    # simulate the top 30% (no uplift model in this workspace: the assumed lift is used)
    page.get_by_text("Go as deep as pays best").click()
    page.get_by_role("button", name="Simulate").click()
    wait_for_app(page)
    page.get_by_role("heading", name="4. Control group").wait_for()
    # "To contact" leaves the control group out; the list holds both groups
    contacts = int(_metric(page, "To contact").replace(",", "")) + int(
        _metric(page, "Control group").replace(",", "")
    )
    assert contacts > 0
    assert page.get_by_test_id("stException").count() == 0

    page.get_by_role("button", name="Prepare the list").click()
    wait_for_app(page)
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    data = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == contacts
    assert {"user_id", "group", "offer"} <= set(rows[0])
    assert all(consent[r["user_id"]] is True for r in rows)  # opted-in only
    assert {r["group"] for r in rows} == {"treatment", "control"}
    # downloading did not rerun the page: the result is still shown
    assert page.get_by_role("heading", name="5. Export").count() == 1
    assert pl.read_csv(io.StringIO(data)).height == contacts
    save_screenshot(page, "campaigns")
