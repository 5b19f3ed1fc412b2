"""analytics.demo.service: the demo store lands in the workspace as dataset 'demo',
with its truth aside."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from analytics.core.errors import SpecError
from analytics.core.schema import EVENTS_SCHEMA
from analytics.core.workspace import Workspace
from analytics.demo.generator import DemoStore
from analytics.demo.service import ensure_demo, load_demo


def test_demo_dataset_holds_the_generated_frames(
    demo_workspace: Workspace, small_demo: DemoStore
) -> None:
    info = demo_workspace.dataset("demo")
    assert info.shape == "events" and info.source == "built-in demo store (seed 7)"
    assert info.mapping == {name: name for name in EVENTS_SCHEMA}
    for name in ("events", "users", "exposures", "items", "truth", "future"):
        stored = demo_workspace.read_frame("demo", name)
        assert stored is not None and stored.equals(getattr(small_demo, name)), name
    assert demo_workspace.events("demo").collect_schema() == pl.Schema(EVENTS_SCHEMA)


def test_demo_report_has_the_ingest_report_keys_with_true_values(
    demo_workspace: Workspace, small_demo: DemoStore
) -> None:
    report = demo_workspace.dataset("demo").report
    events = small_demo.events
    assert report["rows_read"] == report["rows_accepted"] == events.height
    assert report["rows_rejected"] == 0 and report["rejected_by_reason"] == {}
    assert report["users"] == events["user_id"].n_unique()
    assert sum(report["events_by_type"].values()) == events.height
    assert (
        report["events_by_type"]["refund"] == events.filter(pl.col("event_type") == "refund").height
    )
    assert report["first_event"].startswith("2026-03-01")
    assert report["last_event"].startswith("2026-08-27")
    assert report["revenue_total"] == pytest.approx(events["revenue"].sum(), abs=0.01)


def test_load_demo_returns_a_summary_and_writes_the_truth_file(
    workspace: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "truth" / "demo_truth.parquet"
    summary = load_demo(workspace, users=200, seed=3, truth_out=out)
    assert summary["dataset"] == "demo" and summary["users"] == 200
    events = workspace.read_frame("demo", "events")
    assert events is not None and summary["events"] == events.height
    truth = pl.read_parquet(out)
    assert truth.equals(workspace.read_frame("demo", "truth"))
    load_demo(workspace, users=200, seed=3, truth_out=tmp_path / "truth.csv")
    as_csv = pl.read_csv(tmp_path / "truth.csv")
    assert as_csv.columns == truth.columns and as_csv.height == 200


def test_truth_out_must_be_csv_or_parquet(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"\.csv or \.parquet"):
        load_demo(workspace, users=50, truth_out=tmp_path / "truth.xlsx")
    assert not workspace.has_dataset("demo")


def test_ensure_demo_generates_only_once(workspace: Workspace) -> None:
    messages: list[str] = []
    assert ensure_demo(workspace, lambda f, m: messages.append(m), users=100) is True
    assert messages and messages[-1] == "The demo store is ready"
    created = workspace.dataset("demo").created_at
    assert ensure_demo(workspace, users=100) is False
    assert workspace.dataset("demo").created_at == created
