"""AppTest of the Recommendations page: model comparison, one customer's lists, the run button."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.artifacts import SEGMENTS
from analytics.core.workspace import Workspace
from analytics.demo.service import load_demo
from models.recommend.service import RecommendSpec, run_recommendations
from tests.pages.apptest import open_page

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recs_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A 400-user demo store with recommendations computed (no sequence model, to stay quick),
    segmented into the customers who ever bought ("Buyers") and those who never did."""
    ws = Workspace(tmp_path_factory.mktemp("recs_page") / "workspace")
    load_demo(ws, users=400, seed=3)
    events = ws.events("demo").collect()
    buyers = events.filter(pl.col("event_type") == "purchase")["user_id"].unique().implode()
    bought = pl.col("user_id").is_in(buyers)
    segments = (
        events.select("user_id")
        .unique()
        .with_columns(
            pl.when(bought).then(0).otherwise(1).alias("segment"),
            pl.when(bought)
            .then(pl.lit("Buyers"))
            .otherwise(pl.lit("Browsers"))
            .alias("segment_name"),
        )
    )
    ws.write_frame("demo", SEGMENTS, segments)
    run_recommendations(ws, "demo", RecommendSpec(sequential=False))
    return ws


def run_page(ws: Workspace, dataset: str | None) -> AppTest:
    return open_page("recommendations", ws, dataset, timeout=300)


def test_page_shows_the_comparison_and_a_customer(recs_workspace: Workspace) -> None:
    at = run_page(recs_workspace, "demo")
    assert not at.exception, at.exception
    assert not at.error
    report = recs_workspace.read_json("demo", "recs_report")
    assert report["chosen_label"] in at.success[0].value
    headers = [h.value for h in at.header]
    assert headers == ["How good are the lists?", "One customer", "Best sellers per segment"]
    # the comparison: every model on both tasks, the baseline beside each
    table = at.dataframe[0].value
    assert {"NDCG", "Baseline NDCG", "x baseline"} <= set(table.columns)
    assert len(table) == len({r["model"] for r in report["evaluation"]["table"]})
    # the customer's lists are named products of the catalogue
    recs = recs_workspace.read_frame("demo", "recs")
    user = at.selectbox[0].value
    shown = recs.filter((pl.col("user_id") == user) & (pl.col("list") == "combined"))
    names = recs_workspace.read_frame("demo", "items")
    expected = shown.join(names, on="item_id").sort("rank")["name"].to_list()
    lists = [df.value for df in at.dataframe if "score" in df.value.columns]
    assert lists[0]["name"].tolist() == expected
    # one best-seller table for the buyers; the browsers are named, with the reason
    assert "**Buyers**" in [m.value for m in at.markdown]
    window = report["best_seller_window_days"]
    reason = "No best sellers for **Browsers**: none of their customers bought anything in the "
    assert reason + f"last {window:.0f} days." in [c.value for c in at.caption]


def test_picking_another_customer_reruns_cleanly(recs_workspace: Workspace) -> None:
    at = run_page(recs_workspace, "demo")
    options = at.selectbox[0].options
    at.selectbox[0].set_value(options[-1]).run()
    assert not at.exception, at.exception
    assert at.selectbox[0].value == options[-1]


def test_without_results_the_page_offers_to_compute(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    load_demo(ws, users=200, seed=1)
    at = run_page(ws, "demo")
    assert not at.exception, at.exception
    assert at.button[0].label == "Compute recommendations"
    assert not at.header


def test_no_dataset_points_to_the_data_page(tmp_path: Path) -> None:
    at = run_page(Workspace(tmp_path / "empty"), None)
    assert at.info[0].value.startswith("Recommendations need a dataset")
