"""Versioned, atomic saves: an operation commits all its files or none, and never loses the old."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import polars as pl
import pytest

from analytics.core.errors import DatasetNotFound, DiskFull, SpecError, WorkspaceBusy
from analytics.core.workspace import Workspace


def _frames(marker: int, n: int = 5) -> dict[str, pl.DataFrame]:
    users = [f"u{i}" for i in range(n)]
    return {
        "events": pl.DataFrame({"user_id": users, "marker": [marker] * n}),
        "users": pl.DataFrame({"user_id": users, "marker": [marker] * n}),
    }


def _ingest(ws: Workspace, marker: int, n: int = 5, name: str = "shop") -> None:
    ws.save_dataset(
        name, shape="events", source="test", mapping={}, report={}, frames=_frames(marker, n)
    )


def _files(ws: Workspace) -> list[str]:
    return sorted(str(p.relative_to(ws.root)) for p in (ws.root / "datasets").rglob("*"))


def test_operation_commits_every_file_together(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    with workspace.operation("shop", "segment") as op:
        workspace.write_frame("shop", "segments", pl.DataFrame({"user_id": ["u0"], "k": [3]}))
        workspace.write_json("shop", "segment_profiles", {"k": 3})
        workspace.put_record("run", "shop", "segments", {"k": 3})
        # staged: this thread reads its own writes, the catalog still has none of them
        assert workspace.read_json("shop", "segment_profiles") == {"k": 3}
        assert Workspace(workspace.root).read_json("shop", "segment_profiles") is None
        assert Workspace(workspace.root).get_record("run", "shop", "segments") is None
    assert op.version == 2
    assert workspace.dataset("shop").version == 2
    assert workspace.read_frame("shop", "segments")["k"].to_list() == [3]
    assert workspace.get_record("run", "shop", "segments").payload == {"k": 3}
    assert workspace.stored_manifest("shop")["dataset"]["version"] == 2


def test_failed_operation_leaves_the_old_version_and_no_files(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    with workspace.operation("shop", "segment"):
        workspace.write_json("shop", "segment_profiles", {"k": 2})
    before = _files(workspace)
    with pytest.raises(RuntimeError), workspace.operation("shop", "segment"):
        workspace.write_json("shop", "segment_profiles", {"k": 3})
        workspace.write_frame("shop", "segments", pl.DataFrame({"user_id": ["u0"]}))
        raise RuntimeError("crash in the middle")
    assert workspace.read_json("shop", "segment_profiles") == {"k": 2}
    assert workspace.read_frame("shop", "segments") is None
    assert _files(workspace) == before
    assert workspace.dataset("shop").version == 2


def test_reingest_replaces_everything_and_prunes_the_old_version(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    workspace.write_json("shop", "segment_profiles", {"k": 2})
    workspace.put_record("run", "shop", "segments", {"k": 2})
    old_folders = {p.name for p in workspace.dataset_dir("shop").iterdir() if p.is_dir()}
    _ingest(workspace, 7, n=3)
    assert workspace.read_frame("shop", "events")["marker"].to_list() == [7, 7, 7]
    assert workspace.read_json("shop", "segment_profiles") is None
    assert workspace.list_records("run", "shop") == []
    folders = {p.name for p in workspace.dataset_dir("shop").iterdir() if p.is_dir()}
    assert len(folders) == 1 and not folders & old_folders
    assert workspace.dataset("shop").version == 4  # ingest, json, record, re-ingest


def test_write_outside_an_operation_commits_one_file(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    path = workspace.write_frame("shop", "rfm", pl.DataFrame({"user_id": ["u1"], "r": [5]}))
    assert path.parent.name.startswith("v000002-")
    assert workspace.read_frame("shop", "rfm")["r"].to_list() == [5]
    assert workspace.list_artifacts("shop") == ["events", "rfm", "users"]
    assert workspace.artifact_meta("shop", "rfm") == {}


def test_full_disk_keeps_the_old_dataset_and_removes_partial_files(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(workspace, 1)
    before = _files(workspace)
    real = pl.DataFrame.write_parquet
    calls = {"n": 0}

    def full_after_one(self: pl.DataFrame, file: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            file.write(b"PAR1 half a file")  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, file, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_after_one)
    with pytest.raises(DiskFull, match=r"disk is full.*previous version is kept"):
        _ingest(workspace, 2)
    assert workspace.read_frame("shop", "events")["marker"].to_list() == [1] * 5
    assert workspace.dataset("shop").version == 1
    assert _files(workspace) == before


def test_second_writer_is_told_busy_at_once(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    other = Workspace(workspace.root)
    with workspace.operation("shop", "segment"):
        started = time.monotonic()
        with pytest.raises(WorkspaceBusy, match=r"^busy: segment on shop since \d{4}-\d\d-\d\d "):
            other.write_json("shop", "segment_profiles", {"k": 1})
        assert time.monotonic() - started < 2.0
        # readers never block, and other datasets stay writable
        assert other.read_frame("shop", "events").height == 5
        _ingest(other, 1, name="other_shop")
    other.write_json("shop", "segment_profiles", {"k": 1})  # free again afterwards


def test_nested_operations_join_the_outer_one(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    with workspace.operation("shop", "train") as outer:
        with workspace.operation("shop", "score") as inner:
            workspace.write_json("shop", "model_purchase", {"auc": 0.7})
        assert inner is outer
        workspace.delete_record("run", "shop", "nothing")
    assert workspace.dataset("shop").version == 2


def test_delete_dataset_removes_catalog_rows_and_folder(workspace: Workspace) -> None:
    _ingest(workspace, 1)
    workspace.put_record("model", "shop", "purchase", {"auc": 0.7})
    workspace.delete_dataset("shop")
    assert not workspace.dataset_dir("shop").exists()
    assert workspace.list_records("model", "shop") == []
    with pytest.raises(DatasetNotFound, match="no dataset named 'shop'"):
        workspace.dataset("shop")


def test_bad_names_are_refused(workspace: Workspace) -> None:
    with pytest.raises(SpecError, match="not a valid dataset name"):
        _ingest(workspace, 1, name="shop\n")
    with pytest.raises(SpecError, match="not a valid artifact name"):
        workspace.write_json("shop", "../escape", {})


def test_older_catalog_without_versions_still_opens(tmp_path: Path) -> None:
    import duckdb

    root = tmp_path / "ws"
    root.mkdir()
    con = duckdb.connect(str(root / "catalog.duckdb"))
    con.execute(
        "CREATE TABLE datasets (name VARCHAR PRIMARY KEY, shape VARCHAR, source VARCHAR, "
        "mapping JSON, fingerprint VARCHAR, report JSON, created_at TIMESTAMPTZ);"
        "CREATE TABLE artifacts (dataset VARCHAR, name VARCHAR, path VARCHAR, meta JSON, "
        "created_at TIMESTAMPTZ, PRIMARY KEY (dataset, name));"
        "INSERT INTO datasets VALUES ('old', 'events', 's', '{}', 'f', '{}', now());"
        "INSERT INTO artifacts VALUES ('old', 'events', 'datasets/old/events.parquet', '{}', now())"
    )
    con.close()
    (root / "datasets" / "old").mkdir(parents=True)
    pl.DataFrame({"user_id": ["a"]}).write_parquet(root / "datasets" / "old" / "events.parquet")
    ws = Workspace(root)
    assert ws.dataset("old").version == 1
    assert ws.read_frame("old", "events")["user_id"].to_list() == ["a"]
    ws.write_json("old", "profile", {"k": 1})  # the first versioned write keeps the old file
    assert ws.read_frame("old", "events")["user_id"].to_list() == ["a"]
    assert ws.dataset("old").version == 2


def test_full_disk_after_the_commit_keeps_the_new_version(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analytics.core.workspace as module
    from analytics.datasets.service import doctor

    _ingest(workspace, 1)

    def no_space(*args: object) -> None:
        raise DiskFull("The disk is full")

    monkeypatch.setattr(module, "write_manifest", no_space)
    workspace.write_json("shop", "segment_profiles", {"k": 2})  # committed: no error
    monkeypatch.undo()
    assert workspace.read_json("shop", "segment_profiles") == {"k": 2}
    assert doctor(workspace).problems == (
        "shop: the manifest does not match the catalog; it is rewritten.",
    )
    assert doctor(workspace, repair=True).repaired and doctor(workspace).ok
