"""AppTest of the Predictions page: the card, charts and the customer lookup on a trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace
from models.predict.service import TrainSpec, train_predictor
from tests.pages.apptest import open_page

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ws(tmp_path_factory, small_demo) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("predpage") / "ws")
    frames = {"events": small_demo.events, "users": small_demo.users}
    ws.save_dataset("shop", shape="events", source="test", mapping={}, report={}, frames=frames)
    train_predictor(ws, "shop", TrainSpec("purchase", n_estimators=40, sequence=False))
    return ws


def run_page(ws: Workspace, dataset: str | None) -> AppTest:
    return open_page("predictions", ws, dataset, timeout=180)


def test_card_shows_quality_baseline_and_horizon(ws):
    at = run_page(ws, "shop")
    assert not at.exception, at.exception
    labels = {m.label: m for m in at.metric}
    assert labels["Model quality"].value in ("Poor", "Fair", "Good", "Excellent")
    assert labels["Model quality"].delta.startswith("AUC 0.")
    assert any(label.startswith("Baseline (") for label in labels)
    assert labels["Horizon"].value == "7 days"
    assert any("out of time" in c.value for c in at.caption)


def test_customer_lookup_shows_reasons(ws):
    at = run_page(ws, "shop")
    user = ws.read_frame("shop", "reasons_purchase")["user_id"][0]
    at.text_input[0].input(user).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Purchase probability" in text and "points" in text


def test_unknown_customer_is_an_error_message(ws):
    at = run_page(ws, "shop")
    at.text_input[0].input("nobody").run()
    assert at.error and "no customer" in at.error[0].value


def test_untrained_target_and_no_dataset(ws):
    at = run_page(ws, "shop")
    at.selectbox[0].select("churn").run()
    assert any("No churn risk model yet" in i.value for i in at.info)
    at = run_page(ws, None)
    assert at.info and "No dataset yet" in at.info[0].value


def test_lifetime_value_card_and_lookup(ws):
    train_predictor(ws, "shop", TrainSpec("clv", horizon_days=60))
    at = run_page(ws, "shop")
    at.selectbox[0].select("clv").run()
    assert not at.exception, at.exception
    assert any("repeat-buying model" in c.value for c in at.caption)
    user = ws.read_frame("shop", "scores_clv").sort("score", descending=True)["user_id"][0]
    at.text_input[0].input(user).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Lifetime value" in text and "80% range" in text


def test_next_order_card_and_lookup(ws):
    train_predictor(ws, "shop", TrainSpec("next_order", horizon_days=60))
    at = run_page(ws, "shop")
    at.selectbox[0].select("next_order").run()
    assert not at.exception, at.exception
    user = ws.read_frame("shop", "scores_next_order")["user_id"][0]
    at.text_input[0].input(user).run()
    assert not at.exception, at.exception
    assert "Next order (days)" in " ".join(m.value for m in at.markdown)
