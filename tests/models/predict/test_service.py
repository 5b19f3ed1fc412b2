"""The prediction service on the small demo store: scores, card, reasons, re-scoring, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import cli
from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.workspace import Workspace
from models.predict.service import (
    TrainSpec,
    customer_view,
    load_card,
    score_with_model,
    train_predictor,
    trained_targets,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_demo) -> tuple[Workspace, object]:
    ws = Workspace(tmp_path_factory.mktemp("pred") / "ws")
    frames = {"events": small_demo.events, "users": small_demo.users}
    ws.save_dataset("shop", shape="events", source="test", mapping={}, report={}, frames=frames)
    result = train_predictor(ws, "shop", TrainSpec("purchase", n_estimators=60, sequence=False))
    return ws, result


def test_scores_cover_every_user_seen_with_percentiles(trained, small_demo):
    ws, _ = trained
    scores = ws.read_frame("shop", "scores_purchase")
    assert scores.height == small_demo.events["user_id"].n_unique()
    assert {"user_id", "score", "score_100", "percentile"} <= set(scores.columns)
    assert scores["score"].is_between(0, 1).all() and scores["percentile"].max() == 100
    top = scores.sort("score", descending=True)
    assert top["percentile"][0] == 100 and top["score_100"][0] == round(top["score"][0] * 100)


def test_card_record_and_summary(trained):
    ws, result = trained
    card = load_card(ws, "shop", "purchase")
    assert card["metrics"]["auc"] > 0.6
    assert card["baseline"]["name"] in ("RFM logistic", "BG/NBD")
    assert card["horizon_days"] == 7 and "7-day" in card["horizon_reason"]
    assert len(card["gains"]["decile"]) == 10 and len(card["calibration"]["bin"]) == 10
    rec = ws.get_record("model", "shop", result.model_id)
    assert rec.payload["kind"] == "predictor" and rec.payload["target"] == "purchase"
    summary = result.summary()
    assert {"model", "metrics", "baseline", "device", "seconds"} <= set(summary)
    assert trained_targets(ws, "shop") == ["purchase"]
    # explaining every user costs less than training (the 50% rule is checked in bench/)
    assert card["explain_seconds"] < card["seconds"]


def test_reasons_and_customer_view(trained):
    ws, _ = trained
    reasons = ws.read_frame("shop", "reasons_purchase")
    assert reasons.group_by("user_id").len()["len"].max() == 3
    assert reasons["text"].str.contains(r": [+−][\d.]+ points$").all()
    user = reasons["user_id"][0]
    view = customer_view(ws, "shop", user)
    assert view.scores[0]["target"] == "purchase" and len(view.scores[0]["reasons"]) == 3
    assert view.events["user_id"].unique().to_list() == [user]
    assert "days_since_last_event" in view.features
    with pytest.raises(SpecError, match="no customer"):
        customer_view(ws, "shop", "nobody")


def test_score_with_model_reproduces_the_scores(trained):
    ws, result = trained
    again = score_with_model(ws, result.model_id, "shop")
    joined = again.join(result.scores, on="user_id", suffix="_stored")
    assert joined.height == result.scores.height
    assert (joined["score"] - joined["score_stored"]).abs().max() < 1e-9
    with pytest.raises(SpecError):
        score_with_model(ws, "no-such-model", "shop")


def test_customer_table_is_refused(workspace):
    users = pl.DataFrame({"user_id": ["a", "b"], "age": [30, 40]})
    workspace.save_dataset("crm", shape="customers", source="t", mapping={}, report={},
                           frames={"users": users})  # fmt: skip
    with pytest.raises(NotEnoughData, match="event log"):
        train_predictor(workspace, "crm", TrainSpec("purchase"))


def test_cli_train_and_score(trained, tmp_path: Path, capsys):
    ws, result = trained
    out = tmp_path / "s.csv"
    code = cli.main(["--workspace", str(ws.root), "score", "--model", result.model_id,
                     "--dataset", "shop", "--out", str(out)])  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["rows"] == result.scores.height
    assert pl.read_csv(out).columns == ["user_id", "score"]
    code = cli.main(["--workspace", str(ws.root), "train", "--dataset", "nope", "--target",
                     "churn"])  # fmt: skip
    assert code == 2 and "error" in json.loads(capsys.readouterr().out)


def test_lifetime_value_is_trained_scored_looked_up_and_rescored(trained, small_demo):
    ws, _ = trained  # a dataset of its own: the other tests expect "shop" to hold purchase only
    ws.save_dataset("value", shape="events", source="test", mapping={}, report={},
                    frames={"events": small_demo.events})  # fmt: skip
    result = train_predictor(ws, "value", TrainSpec("clv", horizon_days=60))
    scores = ws.read_frame("value", "scores_clv")
    assert {"score", "lower", "upper", "score_100", "percentile"} <= set(scores.columns)
    assert (scores["lower"] <= scores["upper"]).all() and (scores["score"] >= 0).all()
    card = load_card(ws, "value", "clv")
    assert card["algorithm"].startswith("BG/NBD") and card["horizon_days"] == 60
    assert "coverage" in card["metrics"] or "skipped" in card["metrics"]
    buyer = scores.filter(pl.col("score") > 0)["user_id"][0]
    view = customer_view(ws, "value", buyer)
    clv = next(s for s in view.scores if s["target"] == "clv")
    assert clv["reasons"][0].startswith("Purchase days so far")
    again = score_with_model(ws, result.model_id, "value")
    joined = again.join(scores, on="user_id", suffix="_stored")
    assert (joined["score"] - joined["score_stored"]).abs().max() < 1e-6
    assert "clv" in trained_targets(ws, "value")
    result = train_predictor(ws, "value", TrainSpec("next_order", horizon_days=60))
    soon = ws.read_frame("value", "scores_next_order")
    assert {"score", "lower", "upper", "p_order", "percentile"} <= set(soon.columns)
    assert soon.sort("score")["percentile"][0] == soon["percentile"].max()  # soonest on top
    again = score_with_model(ws, result.model_id, "value")
    assert (
        again.join(soon, on="user_id")
        .select((pl.col("score") - pl.col("score_right")).abs().max())
        .item()
        < 1e-9
    )


def test_model_report_holds_what_the_page_draws(trained):
    from models.predict.service import model_report

    ws, _ = trained
    assert model_report(ws, "shop", "churn") is None
    report = model_report(ws, "shop", "purchase")
    assert report is not None and report.example_user and report.beeswarm.height
    assert report.labels["days_since_last_event"]
