"""AppTest of the Overview page on the small demo workspace: real numbers, not just no errors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.schema import Shape
from analytics.core.workspace import Workspace
from tests.pages.apptest import metric, open_page
from ui import state

ROOT = Path(__file__).resolve().parents[2]


def run_page(ws: Workspace, dataset: str | None) -> AppTest:
    return open_page("overview", ws, dataset, timeout=120)


def test_kpis_match_the_data(demo_workspace: Workspace):
    at = run_page(demo_workspace, "demo")
    assert not at.exception, at.exception
    assert not at.error
    events = demo_workspace.events("demo").collect()
    users = events["user_id"].n_unique()
    orders = events.filter(pl.col("event_type") == "purchase")["order_id"].n_unique()
    assert metric(at, "Customers") == f"{users:,}"
    assert metric(at, "Orders") == f"{orders:,}"
    net = events.filter(pl.col("event_type") == "purchase")["revenue"].sum() - (
        events.filter(pl.col("event_type") == "refund")["revenue"].abs().sum()
    )
    # compact enough for a sixth of the page; the exact figure is in the help
    assert metric(at, "Revenue") == f"{net / 1e6:,.1f}M"
    revenue = next(m for m in at.metric if m.label == "Revenue")
    assert f"{net:,.0f}" in revenue.help
    # the trend, the cohort heat map, the funnel and the RFM bars are all drawn
    charts = at.get("plotly_chart")
    assert len(charts) == 4
    # no cohort row is dated before the data's first day (weeks start on Monday)
    first = events["event_time"].min().date()
    heat = json.loads(charts[1].proto.spec)["data"][0]
    days = [datetime.strptime(y.split(" (")[0], "%d %b %Y").date() for y in heat["y"]]
    assert min(days) == first
    assert [s.value for s in at.subheader][-1] == "Classic segments (RFM)"


def test_switching_the_trend_metric_reruns_cleanly(demo_workspace: Workspace):
    at = run_page(demo_workspace, "demo")
    control = at.get("button_group")[0]
    control.set_value("revenue").run()
    assert not at.exception, at.exception


def test_no_dataset_points_to_the_data_page(workspace: Workspace):
    # through the router, so the link to the Data page resolves; the first-start demo is skipped
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[state.WORKSPACE_DIR] = str(workspace.root)
    at.session_state[state.FIRST_START_DONE] = True
    at.run()
    at.switch_page("pages/overview.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    assert "No dataset yet" in at.info[0].value


def test_customer_table_gets_a_message(workspace: Workspace):
    users = pl.DataFrame({"user_id": ["1", "2"], "spend": [1.0, 2.0]})
    workspace.save_dataset(
        "crm",
        shape=Shape.CUSTOMERS,
        source="crm.csv",
        mapping={},
        report={},
        frames={"users": users},
    )
    at = run_page(workspace, "crm")
    assert not at.exception
    assert "customer table" in at.info[0].value
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("missing", ["nope"])
def test_unknown_dataset_shows_an_error_not_a_traceback(workspace: Workspace, missing: str):
    at = run_page(workspace, missing)
    assert not at.exception
    assert "no dataset named" in at.error[0].value
