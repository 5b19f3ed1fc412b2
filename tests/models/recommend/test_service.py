"""The recommendation service and the ``recommend`` verb end to end on a small demo store."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import polars as pl
import pytest

import cli
from analytics.core.artifacts import SEGMENTS
from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import EVENTS_SCHEMA
from analytics.core.workspace import Workspace
from analytics.demo.service import load_demo
from models.recommend.service import (
    LISTS,
    RecommendSpec,
    ensure_recommendations,
    item_names,
    load_recommendations,
    recommendations_stamp,
    run_recommendations,
    segment_best_sellers,
    similar_products,
    write_recommendations,
)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("recs_service") / "workspace")
    load_demo(ws, users=400, seed=5)
    return ws


def test_run_persists_lists_report_and_record(demo_ws: Workspace) -> None:
    seen: list[float] = []
    result = run_recommendations(
        demo_ws, "demo", RecommendSpec(k=5, sequential=False), progress=lambda f, m: seen.append(f)
    )
    assert seen[-1] == 1.0 and seen == sorted(seen)
    recs = demo_ws.read_frame("demo", "recs")
    assert recs.columns == ["user_id", "list", "rank", "item_id", "score"]
    assert set(recs["list"]) == {"combined", "buy_again", "new"}
    assert recs.group_by("user_id", "list").agg(pl.col("rank").max())["rank"].max() == 5
    # every customer with history gets a full combined list
    users = demo_ws.events("demo").select("user_id").unique().collect()
    combined = recs.filter(pl.col("list") == "combined")
    assert combined["user_id"].n_unique() == users.height
    assert combined.group_by("user_id").len()["len"].min() == 5
    summary = result.summary()
    assert {"metrics", "baseline", "model"} <= set(summary)
    assert summary["metrics"]["ndcg"] > summary["baseline"]["ndcg"]
    assert demo_ws.get_record("model", "demo", "recommend").payload["model"] == summary["model"]
    similar = demo_ws.read_frame("demo", "recs_similar")
    assert similar.filter(pl.col("item_id") == pl.col("similar_item_id")).height == 0
    again = load_recommendations(demo_ws, "demo")
    assert again is not None and again.report["chosen"] == result.report["chosen"]


def test_write_lists_as_csv_and_parquet(demo_ws: Workspace, tmp_path: Path) -> None:
    result = load_recommendations(demo_ws, "demo") or run_recommendations(
        demo_ws, "demo", RecommendSpec(k=5, sequential=False)
    )
    n = write_recommendations(result, tmp_path / "new.parquet", "new")
    out = pl.read_parquet(tmp_path / "new.parquet")
    assert out.columns == ["user_id", "rank", "item_id"] and out.height == n
    with pytest.raises(SpecError):
        write_recommendations(result, tmp_path / "x.csv", "everything")


def test_cli_recommend_with_cutoff(
    demo_ws: Workspace, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the verb's own path, minus the sequence model's training (tests/models covers it): quick
    import models.recommend.service as service

    monkeypatch.setattr(service, "RecommendSpec", partial(RecommendSpec, sequential=False))
    last = demo_ws.events("demo").select(pl.col("event_time").max()).collect().item()
    cutoff = date.fromordinal(last.date().toordinal() - 30)
    out = tmp_path / "recs.csv"
    argv = ["--workspace", str(demo_ws.root), "recommend", "--dataset", "demo"]
    code = cli.main([*argv, "--cutoff", cutoff.isoformat(), "--k", "3", "--out", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0, printed
    assert {"metrics", "baseline"} <= set(printed)
    assert printed["evaluation_cutoff"].startswith(cutoff.isoformat())
    rows = pl.read_csv(out, schema_overrides={"user_id": pl.String, "item_id": pl.String})
    assert rows.columns == ["user_id", "rank", "item_id"]
    assert rows["rank"].max() == 3
    # nothing first seen after the cutoff is recommended
    first = demo_ws.events("demo").group_by("item_id").agg(pl.col("event_time").min()).collect()
    late = first.filter(pl.col("event_time").dt.date() > cutoff)["item_id"]
    assert not set(rows["item_id"]) & set(late)


def test_errors_are_json_and_typed(demo_ws: Workspace, tmp_path: Path, capsys) -> None:
    code = cli.main(
        ["--workspace", str(demo_ws.root), "recommend", "--dataset", "nope", "--out", "x.csv"]
    )
    assert code == 2 and "no dataset named 'nope'" in json.loads(capsys.readouterr().out)["error"]
    with pytest.raises(SpecError):
        run_recommendations(demo_ws, "demo", RecommendSpec(k=0))
    ws = Workspace(tmp_path / "ws")
    no_items = pl.DataFrame(schema=EVENTS_SCHEMA).vstack(
        pl.select(
            pl.lit("a").alias("user_id"),
            pl.datetime(2024, 1, 1, time_zone="UTC")
            .cast(EVENTS_SCHEMA["event_time"])
            .alias("event_time"),
            pl.lit("view").cast(EVENTS_SCHEMA["event_type"]).alias("event_type"),
            *[pl.lit(None, EVENTS_SCHEMA[c]).alias(c) for c in list(EVENTS_SCHEMA)[3:]],
        )
    )
    ws.save_dataset(
        "empty", shape="events", source="t", mapping={}, report={}, frames={"events": no_items}
    )
    with pytest.raises(NotEnoughData, match="no product ids"):
        run_recommendations(ws, "empty")


def _buyer_segments(ws: Workspace) -> pl.DataFrame:
    """Segment 0 "Buyers": every customer who ever bought; 1 "Browsers": those who never did."""
    events = ws.events("demo").collect()
    buyers = events.filter(pl.col("event_type") == "purchase")["user_id"].unique()
    users = events.select("user_id").unique()
    bought = pl.col("user_id").is_in(buyers.implode())
    return users.with_columns(
        pl.when(bought).then(0).otherwise(1).alias("segment"),
        pl.when(bought).then(pl.lit("Buyers")).otherwise(pl.lit("Browsers")).alias("segment_name"),
    )


def test_segment_best_sellers_and_the_segments_without(demo_ws: Workspace) -> None:
    """Best sellers are the share of a segment's customers who bought the item in the recent
    window; a segment nobody in which bought is named, not silently left out."""
    segments = _buyer_segments(demo_ws)
    demo_ws.write_frame("demo", SEGMENTS, segments)
    result = ensure_recommendations(demo_ws, "demo", RecommendSpec(k=5, sequential=False))
    names = item_names(demo_ws, "demo")
    best = segment_best_sellers(demo_ws, "demo", names)
    assert best is not None and best.without == ("Browsers",)
    assert set(best.table["segment_label"]) == {"Buyers"}
    window = result.report["best_seller_window_days"]
    assert best.window_days == window
    # the top item's buyers, counted straight from the events over the same window
    top = best.table.row(0, named=True)
    start = datetime.fromisoformat(result.report["cutoff"]) - timedelta(days=window)
    recent = demo_ws.events("demo").filter(
        (pl.col("event_type") == "purchase")
        & (pl.col("event_time") >= start)
        & (pl.col("item_id") == top["item_id"])
    )
    n = recent.select(pl.col("user_id").n_unique()).collect().item()
    size = segments.filter(pl.col("segment") == 0).height
    assert top["rank"] == 1 and top["buyers"] == n
    assert top["score"] == pytest.approx(n / size)
    assert top["name"] == names.filter(pl.col("item_id") == top["item_id"])["name"][0]
    similar = similar_products(demo_ws, "demo", names)
    assert similar is not None and similar["name"].null_count() == 0


def test_a_second_list_reuses_the_stored_run(
    demo_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same spec, data and segments: the stored lists come back without a refit, so every list
    can be exported from one run; another spec runs again."""
    import models.recommend.service as service

    spec = RecommendSpec(k=5, sequential=False)
    first = ensure_recommendations(demo_ws, "demo", spec)
    runs: list[RecommendSpec] = []
    monkeypatch.setattr(service, "run_recommendations", lambda ws, d, s, p: runs.append(s))
    again = ensure_recommendations(demo_ws, "demo", spec)
    assert runs == [] and again.stamp == first.stamp != ""
    assert again.recs.sort("user_id", "list", "rank").equals(
        first.recs.sort("user_id", "list", "rank")
    )
    rows = {name: write_recommendations(again, tmp_path / f"{name}.csv", name) for name in LISTS}
    assert rows["combined"] == first.recs.filter(pl.col("list") == "combined").height
    ensure_recommendations(demo_ws, "demo", RecommendSpec(k=3, sequential=False))
    assert runs == [RecommendSpec(k=3, sequential=False)]
    with pytest.raises(SpecError):
        ensure_recommendations(demo_ws, "demo", RecommendSpec(k=0))


def test_page_reads_before_any_run(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    load_demo(ws, users=60, seed=2)
    names = item_names(ws, "demo")
    assert load_recommendations(ws, "demo") is None
    assert recommendations_stamp(ws, "demo") is None
    assert similar_products(ws, "demo", names) is None
    assert segment_best_sellers(ws, "demo", names) is None
