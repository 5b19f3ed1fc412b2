"""AppTest of the Segments page on a small segmented demo workspace."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace
from analytics.demo.generator import DemoStore
from models.segments.service import SegmentSpec, run_segmentation
from tests.models.segments.test_service import store_demo
from tests.pages.apptest import open_page
from ui.safe_text import plain

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "[x](http://evil) ![](http://beacon/x.png) <b>hi</b>"


def run_page(ws: Workspace, dataset: str | None) -> AppTest:
    return open_page("segments", ws, dataset, timeout=180)


@pytest.fixture(scope="module")
def segmented_ws(small_demo: DemoStore, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("seg_page") / "ws")
    store_demo(ws, small_demo)
    run_segmentation(ws, "demo", SegmentSpec(epochs=1, dims=8, max_events=16, k=5))
    return ws


def test_page_shows_map_cards_and_rfm(segmented_ws: Workspace) -> None:
    at = run_page(segmented_ws, "demo")
    assert not at.exception, at.exception
    assert not at.error
    profiles = segmented_ws.read_json("demo", "segment_profiles")["profiles"]
    text = " ".join(m.value for m in at.markdown)
    for p in profiles:  # every segment card with its name (as literal text)
        assert f"{p['segment']}. {plain(p['name'])}" in text
    customers = [m.value for m in at.metric if m.label == "Customers"]
    assert sorted(customers) == sorted(f"{p['size']:,}" for p in profiles)  # cards in 2 columns
    # the map, one comparison chart per card, the RFM bars
    assert len(at.get("plotly_chart")) == 1 + len(profiles) + 1
    assert "5 segments" in " ".join(c.value for c in at.caption)


def test_colouring_by_a_feature_reruns(segmented_ws: Workspace) -> None:
    at = run_page(segmented_ws, "demo")
    picker = at.selectbox(key="segment_colour")
    assert "Orders placed" in picker.options  # plain words, not column names
    assert "orders" not in picker.options
    picker.set_value("orders").run()
    assert not at.exception, at.exception
    bar = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["marker"]["colorbar"]
    assert bar["title"]["text"] == "Orders placed"
    assert bar["ticktext"][:3] == ["0", "1", "10"]  # counts on a log scale, ticks in orders


def test_hostile_category_names_reach_the_page_as_plain_text(
    small_demo: DemoStore, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    top = small_demo.events["category"].drop_nulls().mode()[0]
    events = small_demo.events.with_columns(pl.col("category").replace(top, HOSTILE))
    ws.save_dataset("demo", shape="events", source="test", mapping={}, report={},
                    frames={"events": events, "users": small_demo.users})  # fmt: skip
    run_segmentation(ws, "demo", SegmentSpec(epochs=1, dims=8, max_events=16, k=5))
    at = run_page(ws, "demo")
    assert not at.exception, at.exception
    shown = [m.value for m in (*at.markdown, *at.caption)]
    assert any(plain(HOSTILE) in v for v in shown)  # the category is there, escaped
    for value in shown:  # no live link, image or tag anywhere
        assert "](http" not in value and "![" not in value and "<b>" not in value
    for chart in at.get("plotly_chart"):
        spec = chart.proto.spec
        assert "<b>hi</b>" not in spec and "<a " not in spec


def test_unsegmented_dataset_offers_to_run(workspace: Workspace, small_demo: DemoStore) -> None:
    store_demo(workspace, small_demo)
    at = run_page(workspace, "demo")
    assert not at.exception, at.exception
    assert any("No segments yet" in i.value for i in at.info)
    assert at.button(key="run_segments")


def test_no_dataset(workspace: Workspace) -> None:
    at = run_page(workspace, None)
    assert any("need a dataset" in i.value for i in at.info)
