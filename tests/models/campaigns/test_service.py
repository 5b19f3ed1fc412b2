"""Campaigns service end to end on a small demo store and a Hillstrom-format customer table."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import polars as pl
import pytest

from analytics.core.errors import SpecError
from analytics.core.workspace import Workspace
from bench.hillstrom import write_hillstrom_csv
from models.campaigns.audience import AudienceSpec
from models.campaigns.export import ExportSpec
from models.campaigns.service import (
    UpliftSpec,
    export_campaign,
    latest_uplift_model,
    list_campaigns,
    measure_campaign,
    preview_audience,
    save_audience,
    save_campaign,
    score_uplift_model,
    simulate,
    train_uplift,
    uplift_card,
)
from models.campaigns.simulation import CampaignSpec
from models.campaigns.uplift import UpliftConfig

TINY = UpliftConfig(num_boost_round=40, learning_rate=0.15, min_data_in_leaf=30, folds=2)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from analytics.demo.service import load_demo

    ws = Workspace(tmp_path_factory.mktemp("campaigns") / "ws")
    load_demo(ws, users=1200, seed=11)
    train_uplift(ws, "demo", UpliftSpec(config=TINY))
    return ws


def test_uplift_model_is_stored_and_scores_every_user(ws: Workspace) -> None:
    model = latest_uplift_model(ws, "demo")
    assert model == "uplift-demo-purchase"
    rec = ws.get_record("model", "demo", model)
    assert rec is not None and rec.payload["kind"] == "uplift"
    assert set(rec.payload["metrics"]["treatment"]) >= {"qini", "uplift_at_30", "learner"}
    scores = score_uplift_model(ws, model, "demo")
    assert scores.columns == ["user_id", "arm", "uplift"]
    assert scores.height == ws.read_frame("demo", "users").height
    assert scores["arm"].unique().to_list() == ["treatment"]
    card = uplift_card(ws, model)
    assert card["source"]["kind"] == "events" and card["shap"]["treatment"]
    # features are as of the send: the training cutoff lies before sent_time
    assert card["source"]["sent_time"].startswith("2026-")


def test_audience_preview_and_save(ws: Workspace) -> None:
    spec = AudienceSpec(exclude_purchased_within_days=7)
    selected, summary = preview_audience(ws, "demo", spec)
    users = ws.read_frame("demo", "users")
    opted_in = users.filter(pl.col("consent_email").fill_null(False)).height
    assert 0 < summary.size <= opted_in and summary.value and summary.value > 0
    saved = save_audience(ws, "demo", "winback", rules=spec)
    assert saved.size == selected.height and saved.dynamic
    assert ws.read_frame("demo", "audience_winback").height == selected.height


def test_simulate_save_export_and_measure(ws: Workspace, tmp_path: Path) -> None:
    spec = CampaignSpec(name="spring", depth_pct=40, draws=200, holdout_pct=20)
    result = simulate(ws, "demo", spec)
    summary = result.summary()
    assert summary["effect_source"] == "model" and summary["contacts"] > 0
    assert {"uplift", "propensity", "random"} <= set(result.strategies["strategy"])
    assert result.qini and result.curve.filter(pl.col("best")).height == 1
    save_campaign(ws, "demo", result)
    out = tmp_path / "list.csv"
    exported = export_campaign(ws, "demo", ExportSpec(campaign_name="spring"), out=out)
    table = pl.read_csv(out)
    assert exported.rows == table.height == summary["contacts"]
    assert table.columns[:3] == ["user_id", "email", "group"]
    users = ws.read_frame("demo", "users")
    consent = dict(zip(users["user_id"], users["consent_email"], strict=True))
    assert all(consent[u] is True for u in table["user_id"])  # opted-in only
    assert exported.control == pytest.approx(0.2 * table.height, abs=6)
    assert ws.list_records("export", "demo")[0].payload["rows"] == table.height
    listed = ws.read_frame("demo", "campaign_spring")
    treat = listed.filter(pl.col("group") == "treatment")["user_id"]
    outcomes = pl.DataFrame({"user_id": treat, "converted": [1] * treat.len()})
    lift = measure_campaign(ws, "demo", "spring", outcomes)
    assert lift.treatment_mean == 1.0 and lift.control_mean == 0.0
    saved = {c["name"]: c for c in list_campaigns(ws, "demo")}
    assert saved["spring"]["exported"] and saved["spring"]["measured"]["lift"] == 1.0
    assert saved["spring"]["exported_rows"] == table.height
    parquet = export_campaign(ws, "demo", ExportSpec(campaign=spec, format="parquet"))
    assert pl.read_parquet(io.BytesIO(parquet.data)).height == table.height


def test_assumed_lift_without_a_model(ws: Workspace) -> None:
    spec = CampaignSpec(effect_source="assumed", assumed_lift_pct=20, depth_pct=50, draws=100)
    result = simulate(ws, "demo", spec)
    assert result.simulation.effect_source == "assumed"
    # no control group: the outcome is still strict JSON (null, never Infinity)
    no_holdout = simulate(ws, "demo", dataclasses.replace(spec, holdout_pct=0.0)).summary()
    assert (
        json.loads(json.dumps(no_holdout, allow_nan=False))["holdout"]["detectable_effect"] is None
    )
    assert "uplift" not in result.strategies["strategy"].to_list()


def test_customer_table_test_end_to_end(ws: Workspace, tmp_path: Path) -> None:
    from analytics.ingest.service import ingest_path

    ingest_path(ws, write_hillstrom_csv(tmp_path / "hill.csv", 4000, seed=1), name="hill")
    ingest_path(ws, write_hillstrom_csv(tmp_path / "new.csv", 500, seed=2), name="hill_new")
    result = train_uplift(ws, "hill", UpliftSpec(treatment="segment", outcome="visit", config=TINY))
    assert result.control == "No E-Mail"
    assert result.arms == ["Mens E-Mail", "Womens E-Mail"]
    assert {"visit", "conversion", "spend", "segment"} <= set(result.excluded)
    scores = score_uplift_model(ws, result.model, "hill_new")
    assert scores.height == 2 * 500
    sim = simulate(ws, "hill_new", CampaignSpec(order_value=80, depth_pct=30, draws=50,
                   audience=AudienceSpec(exclude_no_consent=False)))  # fmt: skip
    assert sim.simulation.contacts == 150
    with pytest.raises(SpecError, match="consent"):
        export_campaign(ws, "hill_new", ExportSpec(campaign=sim.spec))


def test_errors_are_actionable(ws: Workspace) -> None:
    with pytest.raises(SpecError, match="no past campaign"):
        train_uplift(ws, "demo", UpliftSpec(treatment="colour"))
    with pytest.raises(SpecError, match="no uplift model"):
        score_uplift_model(ws, "nope", "demo")
    with pytest.raises(SpecError, match="not been exported"):
        measure_campaign(ws, "demo", "never", pl.DataFrame({"user_id": ["x"], "y": [1]}))
