"""AppTest of the Campaigns page: live audience numbers, uplift card, simulate, export, reopen."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace
from models.campaigns.service import UpliftConfig
from tests.pages.apptest import metric, open_page
from ui import state
from ui.campaign_widgets import _LEARNER_NAMES

ROOT = Path(__file__).resolve().parents[2]
LEARNER_WORDS = list(_LEARNER_NAMES.values())
TINY = UpliftConfig(num_boost_round=30, learning_rate=0.2, min_data_in_leaf=30, n_jobs=1)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from analytics.demo.service import load_demo
    from models.campaigns.service import UpliftSpec, train_uplift

    ws = Workspace(tmp_path_factory.mktemp("campaigns_page") / "ws")
    load_demo(ws, users=800, seed=5)
    train_uplift(ws, "demo", UpliftSpec(config=TINY))
    return ws


def run_page(ws: Workspace, dataset: str | None) -> AppTest:
    return open_page("campaigns", ws, dataset, timeout=180)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_audience_numbers_uplift_card_and_full_flow(ws: Workspace) -> None:
    at = run_page(ws, "demo")
    assert not at.exception, at.exception
    users = ws.read_frame("demo", "users")
    opted_in = users.filter(pl.col("consent_email").fill_null(False)).height
    assert metric(at, "Audience") == f"{opted_in:,}"
    assert metric(at, "Qini, treatment")  # the uplift model's card is shown
    qini = next(m for m in at.metric if m.label == "Qini, treatment")
    # the learner is named in words, not by its identifier
    assert any(qini.delta.startswith(f"learner: {w} (") for w in LEARNER_WORDS), qini.delta
    # the retrain form says which arm is the control and lets the user pick another
    control = next(b for b in at.selectbox if b.label.startswith("Control group (who was not"))
    assert control.value == "control" and control.options == ["control", "treatment"]
    # the picker's chips wrap instead of scrolling in one row (the first one was cut off)
    assert next(m for m in at.multiselect if m.label == "Segments").proto.wrap
    # a rule narrows the live count
    next(n for n in at.number_input if n.label.startswith("Leave out who bought")).set_value(
        30
    ).run()
    assert int(metric(at, "Audience").replace(",", "")) < opted_in
    # simulate with a fixed depth
    next(c for c in at.checkbox if c.label == "Go as deep as pays best").uncheck()
    button(at, "Simulate").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    to_contact = int(metric(at, "To contact").replace(",", ""))
    control = int(metric(at, "Control group").replace(",", ""))
    assert to_contact > 0 and control > 0
    # "To contact" leaves the control group out, as the export does
    held = next(m for m in at.metric if m.label == "To contact").delta
    assert held == f"of {to_contact + control:,} selected; {control:,} held out as control"
    assert len(at.get("plotly_chart")) >= 4  # SHAP, Qini, depth curve, strategies (+ Qini)
    button(at, "Prepare the list").click().run()
    exported = ws.list_records("export", "demo")[0].payload
    assert exported["treatment"] == to_contact and exported["control"] == control
    assert any(f"{to_contact:,} to contact" in s.value for s in at.success)
    # exported before saving: the saved-campaigns table still shows how many were listed
    table = next(d.value for d in at.dataframe if "expected profit" in d.value.columns)
    assert table["selected"].to_list() == [to_contact + control]
    button(at, "Save campaign").click().run()
    assert ws.get_record("campaign", "demo", "campaign") is not None


def test_reopen_a_saved_campaign(ws: Workspace) -> None:
    from models.campaigns.service import CampaignSpec, Offer, save_campaign, simulate

    spec = CampaignSpec(name="reopen_me", offer=Offer(discount_pct=25), depth_pct=20, draws=50)
    save_campaign(ws, "demo", simulate(ws, "demo", spec))
    at = run_page(ws, "demo")
    next(s for s in at.selectbox if s.label == "Campaign").set_value("reopen_me").run()
    button(at, "Reopen in the form").click().run()
    assert not at.exception, at.exception
    assert next(n for n in at.number_input if n.label == "Discount %").value == 25.0
    assert next(t for t in at.text_input if t.label == "Campaign name").value == "reopen_me"


def test_no_dataset_says_what_to_do(tmp_path: Path) -> None:
    # through the router, so the link to the Data page resolves; the first-start demo is skipped
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[state.WORKSPACE_DIR] = str(Workspace(tmp_path / "empty").root)
    at.session_state[state.FIRST_START_DONE] = True
    at.run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception, at.exception
    assert any("need a dataset" in i.value for i in at.info)


def _second_shop(ws: Workspace, name: str = "shop") -> None:
    """Another events dataset (no past campaign) beside the demo store."""
    from analytics.core.artifacts import EVENTS, USERS
    from analytics.demo.generator import DemoSpec, generate_demo

    store = generate_demo(DemoSpec(users=300, seed=9))
    ws.save_dataset(
        name, shape="events", source="test", mapping={}, report={},
        frames={EVENTS: store.events, USERS: store.users},
    )  # fmt: skip


def _simulate(at: AppTest, campaign: str) -> AppTest:
    next(t for t in at.text_input if t.label == "Campaign name").set_value(campaign)
    next(c for c in at.checkbox if c.label == "Go as deep as pays best").uncheck()
    return button(at, "Simulate").click().run()


def test_switching_datasets_never_shows_or_exports_another_datasets_result(
    ws: Workspace,
) -> None:
    _second_shop(ws)
    at = _simulate(run_page(ws, "demo"), "demo_spring")
    button(at, "Prepare the list").click().run()
    assert not at.exception, at.exception
    assert [b.label for b in at.get("download_button")] == ["Download demo_spring.csv"]
    # switch to the other shop mid-campaign: none of the demo's result, list or download
    at.session_state[state.DATASET] = "shop"
    at.run()
    assert not at.exception, at.exception
    assert not [m for m in at.metric if m.label == "To contact"]
    assert not at.get("download_button") and not [b for b in at.button if "Prepare" in b.label]
    assert any("press Simulate" in c.value for c in at.caption)
    shop_users = ws.read_frame("shop", "users")
    assert metric(at, "Audience") == f"{shop_users['consent_email'].sum():,}"
    # a campaign on the shop, then back to the demo: exporting there writes the demo's list
    _simulate(at, "shop_autumn")
    assert metric(at, "To contact")
    at.session_state[state.DATASET] = "demo"
    at.run()
    button(at, "Prepare the list").click().run()
    assert [b.label for b in at.get("download_button")] == ["Download demo_spring.csv"]
    exports = [r.payload for r in ws.list_records("export", "demo")]
    assert exports[0]["campaign"] == "demo_spring"
    listed = ws.read_frame("demo", "campaign_demo_spring")
    assert set(listed["user_id"]) <= set(ws.read_frame("demo", "users")["user_id"])
    assert ws.list_records("export", "shop") == []
    assert ws.read_frame("demo", "campaign_shop_autumn") is None
