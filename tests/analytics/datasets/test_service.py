"""Doctor (check and rebuild the catalog) and erase (remove customers everywhere)."""

from __future__ import annotations

import time

import polars as pl
import pytest

from analytics.core.errors import CatalogDamaged, DatasetNotFound, SpecError
from analytics.core.workspace import Workspace
from analytics.datasets.service import delete_dataset, doctor, erase, needs_retraining


def _shop(ws: Workspace, name: str = "shop", n_events: int = 6) -> None:
    """Events of u1 (2 rows), u2 (1 row), u3 (the rest); users; a derived segments frame."""
    users = ["u1", "u1", "u2"] + ["u3"] * (n_events - 3)
    ws.save_dataset(
        name,
        shape="events",
        source="test",
        mapping={},
        report={},
        frames={
            "events": pl.DataFrame({"user_id": users, "price": [1.0] * n_events}),
            "users": pl.DataFrame({"user_id": ["u1", "u2", "u3"], "country": ["DE", "FR", "DE"]}),
            "exposures": pl.DataFrame({"user_id": ["u1", "u3"], "campaign": ["c", "c"]}),
        },
    )
    with ws.operation(name, "segment"):
        ws.write_frame(
            name, "segments", pl.DataFrame({"user_id": ["u1", "u2", "u3"], "s": [0, 1, 1]})
        )
        ws.write_json(name, "segment_profiles", {"k": 2})
        ws.put_record("run", name, "segments", {"k": 2})


def _damage(ws: Workspace, how: str) -> None:
    path = ws.catalog_path
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size // 3)
    else:  # flipped bytes in the header
        with open(path, "r+b") as fh:
            fh.seek(100)
            data = fh.read(64)
            fh.seek(100)
            fh.write(bytes(b ^ 0xFF for b in data))


def test_doctor_on_a_healthy_workspace(workspace: Workspace) -> None:
    _shop(workspace)
    report = doctor(workspace)
    assert report.ok and not report.repaired and report.problems == ()
    assert report.to_dict()["datasets"] == [{"name": "shop", "version": 2, "rows": 6}]


@pytest.mark.parametrize("how", ["deleted", "truncated", "flipped"])
def test_damaged_catalog_is_said_at_once_and_rebuilt(workspace: Workspace, how: str) -> None:
    _shop(workspace)
    _shop(workspace, "other", n_events=9)
    _damage(workspace, how)
    started = time.monotonic()
    ws = Workspace(workspace.root)  # opening never fails: doctor must be able to run
    with pytest.raises(CatalogDamaged, match="doctor --repair"):
        ws.list_datasets()
    assert time.monotonic() - started < 2.0  # not "busy" after a long wait
    found = doctor(ws)
    assert not found.ok and "catalog" in found.problems[0]
    assert [d.name for d in found.datasets] == ["other", "shop"]  # read from the manifests
    fixed = doctor(ws, repair=True)
    assert fixed.repaired and not any(p.startswith("Lost") for p in fixed.problems)
    assert [(d.name, d.version, d.rows) for d in fixed.datasets] == [
        ("other", 2, 9),
        ("shop", 2, 6),
    ]
    assert ws.read_frame("other", "events").height == 9
    assert ws.get_record("run", "shop", "segments").payload == {"k": 2}
    assert doctor(ws).ok


def test_rebuild_lists_what_could_not_be_recovered(workspace: Workspace) -> None:
    _shop(workspace)
    _shop(workspace, "other")
    (workspace.dataset_dir("other") / "manifest.json").write_text("{ not json")
    segments = workspace.artifact_path("shop", "segments")
    segments.write_bytes(segments.read_bytes()[:20])  # a truncated artifact file
    _damage(workspace, "deleted")
    report = doctor(workspace, repair=True)
    lost = [p for p in report.problems if p.startswith("Lost")]
    assert lost == [
        "Lost: other: no readable manifest (JSONDecodeError), so its files could not be recovered",
        "Lost: shop/segments: its file is damaged; run the step that makes it again.",
    ]
    assert [d.name for d in report.datasets] == ["shop"]
    assert workspace.read_frame("shop", "segments") is None
    assert workspace.read_frame("shop", "events").height == 6
    # the unreadable folder stays on disk (for a person to look at) and keeps being reported
    again = doctor(workspace)
    assert again.problems == (
        "Lost: other: its folder has a damaged manifest, so its files are unreachable.",
    )


def test_repair_removes_a_first_save_that_never_committed(workspace: Workspace) -> None:
    _shop(workspace)
    leftover = workspace.root / "datasets" / "fresh" / "v000001-abcdef"
    leftover.mkdir(parents=True)
    (leftover / "events.parquet").write_bytes(b"half")
    assert doctor(workspace).ok
    doctor(workspace, repair=True)
    assert not leftover.parent.exists()


def test_doctor_rewrites_a_manifest_that_lags_the_catalog(workspace: Workspace) -> None:
    _shop(workspace)
    stale = workspace.stored_manifest("shop")
    workspace.write_json("shop", "recs_report", {"ok": True})
    (workspace.dataset_dir("shop") / "manifest.json").write_text(__import__("json").dumps(stale))
    found = doctor(workspace)
    assert found.problems == ("shop: the manifest does not match the catalog; it is rewritten.",)
    assert doctor(workspace, repair=True).repaired
    assert doctor(workspace).ok


def test_erase_removes_exactly_the_customers_rows(workspace: Workspace) -> None:
    _shop(workspace)
    workspace.put_record("model", "shop", "purchase", {"auc": 0.7})
    workspace.write_frame("shop", "campaign_spring", pl.DataFrame({"user_id": ["u1", "u3"]}))
    workspace.put_record("export", "shop", "k1", {"campaign": "spring", "path": "/tmp/s.csv"})
    workspace.put_record("export", "shop", "k2", {"campaign": "autumn", "path": None})
    before = workspace.read_frame("shop", "events")
    report = erase(workspace, "shop", ["u1", "nobody"])
    assert report.erased == {
        "campaign_spring": 1, "events": 2, "exposures": 1, "segments": 1, "users": 1,
    }  # fmt: skip
    assert report.retrain == ("model:purchase", "run:segments")
    assert report.exports_holding == ({"key": "k1", "campaign": "spring", "path": "/tmp/s.csv"},)
    after = workspace.read_frame("shop", "events")
    assert after.equals(before.filter(pl.col("user_id") != "u1"))
    assert workspace.read_frame("shop", "users")["user_id"].to_list() == ["u2", "u3"]
    assert needs_retraining(workspace, "shop") == ["model:purchase", "run:segments"]
    workspace.put_record("model", "shop", "purchase", {"auc": 0.71})  # retrained
    assert needs_retraining(workspace, "shop") == ["run:segments"]


def test_erase_error_paths(workspace: Workspace) -> None:
    _shop(workspace)
    with pytest.raises(DatasetNotFound, match="no dataset named 'nope'"):
        erase(workspace, "nope", ["u1"])
    with pytest.raises(SpecError, match="at least one customer"):
        erase(workspace, "shop", [" "])
    assert erase(workspace, "shop", ["nobody"]).erased == {}


def test_delete_dataset_checks_the_name(workspace: Workspace) -> None:
    _shop(workspace)
    delete_dataset(workspace, "shop")
    with pytest.raises(DatasetNotFound):
        delete_dataset(workspace, "shop")
