"""Saved audiences: fixed lists (a selection, a snapshot) and dynamic rules re-run on new data."""

from __future__ import annotations

import polars as pl
import pytest

from analytics.core.artifacts import USERS, audience_artifact
from analytics.core.errors import SpecError
from analytics.core.workspace import Workspace
from models.campaigns.audience import AttributeFilter, AudienceSpec
from models.campaigns.audience_service import (
    audience_inputs,
    list_audiences,
    preview_audience,
    save_audience,
)

IN_DE = AudienceSpec(filters=(AttributeFilter("country", "in", ["DE"]),), exclude_no_consent=False)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    from analytics.demo.service import load_demo

    ws = Workspace(tmp_path / "ws")
    load_demo(ws, users=300, seed=3)
    return ws


def test_a_selection_is_saved_as_a_fixed_list(ws: Workspace) -> None:
    ids = ws.read_frame("demo", USERS)["user_id"].head(5).to_list()
    saved = save_audience(ws, "demo", "my picks!", user_ids=[*ids, ids[0]], source="map selection")
    assert saved.summary() == {
        "audience": "my_picks", "size": 5, "kind": "fixed", "source": "map selection",
        "rules": None,
    }  # fmt: skip
    assert ws.read_frame("demo", audience_artifact("my_picks"))["user_id"].to_list() == ids
    record = ws.get_record("audience", "demo", "my_picks")
    assert record is not None and record.payload["kind"] == "fixed"
    assert record.payload["source"] == "map selection" and record.payload["size"] == 5


def test_saving_says_what_is_wrong(ws: Workspace) -> None:
    with pytest.raises(SpecError, match="empty"):
        save_audience(ws, "demo", "none", user_ids=[])
    with pytest.raises(SpecError, match="name"):
        save_audience(ws, "demo", " -_ ", user_ids=["U000001"])
    with pytest.raises(SpecError, match="not both"):
        save_audience(ws, "demo", "both", rules=IN_DE, user_ids=["U000001"])
    with pytest.raises(SpecError, match="not both"):
        save_audience(ws, "demo", "neither")


def test_a_dynamic_audience_follows_the_data_and_a_snapshot_does_not(ws: Workspace) -> None:
    users = ws.read_frame("demo", USERS)
    german = sorted(users.filter(pl.col("country") == "DE")["user_id"].to_list())
    assert german, "the demo store has German customers"
    dynamic = save_audience(ws, "demo", "germany", rules=IN_DE)
    fixed = save_audience(ws, "demo", "germany_then", rules=IN_DE, dynamic=False)
    assert dynamic.size == fixed.size == len(german)
    assert [a.name for a in list_audiences(ws, "demo")] == ["germany_then", "germany"]
    # five customers move to Germany: the dynamic audience has them, the snapshot does not
    movers = users.filter(pl.col("country") != "DE")["user_id"].head(5).to_list()
    moved = users.with_columns(
        pl.when(pl.col("user_id").is_in(movers)).then(pl.lit("DE")).otherwise("country")
        .alias("country")
    )  # fmt: skip
    ws.write_frame("demo", USERS, moved)
    inputs = audience_inputs(ws, "demo")
    assert inputs.audience_kinds == {"germany": "dynamic", "germany_then": "fixed"}
    assert sorted(inputs.audiences["germany"]["user_id"]) == sorted([*german, *movers])
    assert sorted(inputs.audiences["germany_then"]["user_id"]) == german
    # a campaign audience built on the dynamic one sees the movers too
    selected, _ = preview_audience(
        ws, "demo", AudienceSpec(audiences=("germany",), exclude_no_consent=False), inputs
    )
    assert selected.height == len(german) + 5


def test_a_dynamic_audience_whose_rules_no_longer_apply_keeps_its_list(ws: Workspace) -> None:
    save_audience(ws, "demo", "by_band", rules=IN_DE)
    ws.write_frame("demo", USERS, ws.read_frame("demo", USERS).drop("country"))
    inputs = audience_inputs(ws, "demo")
    assert inputs.audience_kinds["by_band"].startswith("fixed (its rules no longer apply")
    assert inputs.audiences["by_band"].height > 0
