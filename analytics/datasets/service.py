"""Workspace-wide dataset actions: list, delete, ``doctor`` (check and repair), ``erase``.

``doctor`` answers "can I trust what is stored?": it reads the catalog, and when that fails
(missing, truncated, flipped bytes) it can rebuild it from each dataset folder's manifest, listing
exactly what could not be recovered. ``erase`` removes customers from every frame of a dataset in
one operation (all artifacts switch together), marks the models trained on them for retraining
and names the exports that still hold them, which only their owner can recall.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from analytics.core.artifacts import EVENTS, USERS, campaign_artifact
from analytics.core.errors import CatalogDamaged, SpecError
from analytics.core.manifest import broken_artifacts
from analytics.core.schema import USER_ID
from analytics.core.workspace import DatasetInfo, Workspace

__all__ = [
    "DatasetHealth",
    "DoctorReport",
    "EraseReport",
    "delete_dataset",
    "doctor",
    "erase",
    "list_datasets",
    "needs_retraining",
]

RETRAIN = "retrain"  # record kind: a model trained on customers since erased
_TRAINED = ("model", "run")  # record kinds that describe something learned from customers


@dataclass(frozen=True)
class DatasetHealth:
    """One dataset as doctor found it: its committed version and row count (events or users)."""

    name: str
    version: int
    rows: int


@dataclass(frozen=True)
class DoctorReport:
    """``ok`` when nothing is wrong; ``problems`` says what is damaged, repaired or lost."""

    ok: bool
    repaired: bool
    datasets: tuple[DatasetHealth, ...]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "repaired": self.repaired,
            "datasets": [vars(d) for d in self.datasets],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class EraseReport:
    """Rows removed per artifact, models to retrain, and recorded exports that still list them."""

    dataset: str
    users: int
    erased: dict[str, int] = field(default_factory=dict)
    retrain: tuple[str, ...] = ()
    exports_holding: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "users": self.users,
            "erased": dict(self.erased),
            "retrain": list(self.retrain),
            "exports_holding": list(self.exports_holding),
        }


def list_datasets(ws: Workspace) -> list[DatasetInfo]:
    """Every dataset, newest first."""
    return ws.list_datasets()


def delete_dataset(ws: Workspace, name: str) -> None:
    """Delete a dataset and all it derived (``WorkspaceBusy`` while an operation runs on it)."""
    ws.dataset(name)  # DatasetNotFound with the known names
    ws.delete_dataset(name)


# --- doctor -------------------------------------------------------------------------------------


def doctor(ws: Workspace, repair: bool = False) -> DoctorReport:
    """Check the catalog, the manifests and every artifact file; with ``repair``, fix them."""
    problems: list[str] = []
    lost: dict[str, str] = {}
    try:
        ws.list_datasets()
    except CatalogDamaged as err:
        problems.append(str(err).split(" Run ")[0])
        if not repair:
            return DoctorReport(False, False, _from_manifests(ws), tuple(problems))
        lost = ws.rebuild_catalog()
        problems.append("The catalog was rebuilt from the datasets' manifests.")
        problems += [f"Lost: {name}: {why}" for name, why in lost.items()]
    for name in sorted(
        {d.name for d in ws.list_datasets()} | set(ws.dataset_folders()) - set(lost)
    ):
        problems += _check_dataset(ws, name, repair)
    return DoctorReport(not problems, repair and bool(problems), _stored(ws), tuple(problems))


def _stored(ws: Workspace) -> tuple[DatasetHealth, ...]:
    manifests = [ws.catalog_manifest(n) for n in ws.dataset_folders()]
    return tuple(_health(m) for m in manifests if m["dataset"] or m["artifacts"])


def _unknown_folder(ws: Workspace, name: str, repair: bool) -> list[str]:
    """A folder the catalog does not know: uncommitted leftovers, or files it cannot recover."""
    if (ws.dataset_dir(name) / "manifest.json").exists():
        return [f"Lost: {name}: its folder has a damaged manifest, so its files are unreachable."]
    if repair:  # no manifest: nothing was ever committed there (or its delete crashed)
        ws.discard_folder(name)
    return []


def _check_dataset(ws: Workspace, name: str, repair: bool) -> list[str]:
    """Artifacts whose file is gone or damaged, and a manifest that lags the catalog."""
    problems = []
    catalog = ws.catalog_manifest(name)
    if catalog["dataset"] is None and not catalog["artifacts"] and not catalog["records"]:
        return _unknown_folder(ws, name, repair)
    for artifact, what in broken_artifacts(ws.root, catalog).items():
        problems.append(f"Lost: {name}/{artifact}: {what}; run the step that makes it again.")
        if repair:
            ws.forget_artifact(name, artifact)
    try:
        stored = ws.stored_manifest(name)
    except ValueError as err:
        stored = {"error": str(err)}
    if _comparable(stored) != _comparable(ws.catalog_manifest(name)):
        problems.append(f"{name}: the manifest does not match the catalog; it is rewritten.")
    if repair:
        ws.sync_manifest(name)
    return problems


def _comparable(manifest: dict[str, Any]) -> Any:
    """What must agree between a manifest and the catalog (timestamps' spelling aside)."""
    arts = sorted((a["name"], a["path"], a["version"]) for a in manifest.get("artifacts", []))
    recs = sorted((r["kind"], r["key"]) for r in manifest.get("records", []))
    row = manifest.get("dataset") or {}
    return (row.get("version"), row.get("fingerprint"), arts, recs, manifest.get("error"))


def _health(manifest: dict[str, Any]) -> DatasetHealth:
    rows = {a["name"]: a.get("n_rows") for a in manifest.get("artifacts", [])}
    row = manifest.get("dataset") or {}
    n = rows.get(EVENTS) or rows.get(USERS) or 0
    return DatasetHealth(manifest["name"], int(row.get("version") or 0), int(n))


def _from_manifests(ws: Workspace) -> tuple[DatasetHealth, ...]:
    """What the manifests say is stored (while the catalog cannot be read)."""
    found = []
    for name in ws.dataset_folders():
        try:
            found.append(_health(ws.stored_manifest(name)))
        except ValueError:
            continue
    return tuple(found)


# --- erase --------------------------------------------------------------------------------------


def erase(ws: Workspace, dataset: str, user_ids: Iterable[object]) -> EraseReport:
    """Remove customers from every frame of ``dataset`` that has a customer column, at once.

    Models and segment runs trained on them get a ``retrain`` record; exports recorded for a
    campaign whose list held them are named, since those files are outside the workspace.
    """
    ids = sorted({str(u).strip() for u in user_ids} - {""})
    if not ids:
        raise SpecError("Name at least one customer id to erase.")
    ws.dataset(dataset)  # DatasetNotFound with the known names
    erased: dict[str, int] = {}
    with ws.operation(dataset, "erase"):
        for name in ws.list_artifacts(dataset):
            removed = _erase_from(ws, dataset, name, ids)
            if removed:
                erased[name] = removed
        retrain = _mark_for_retraining(ws, dataset, len(ids)) if erased else ()
    exports = tuple(
        {"key": r.key, "campaign": r.payload.get("campaign"), "path": r.payload.get("path")}
        for r in ws.list_records("export", dataset)
        if campaign_artifact(str(r.payload.get("campaign"))) in erased
    )
    return EraseReport(dataset, len(ids), erased, retrain, exports)


def _erase_from(ws: Workspace, dataset: str, name: str, ids: list[str]) -> int:
    """Rewrite one frame without the customers; the number of rows removed (0: untouched)."""
    lf = ws.scan_frame(dataset, name)
    if lf is None or USER_ID not in lf.collect_schema().names():
        return 0
    frame = lf.collect()
    kept = frame.filter(~pl.col(USER_ID).cast(pl.String).is_in(ids))
    if kept.height < frame.height:
        ws.write_frame(dataset, name, kept, ws.artifact_meta(dataset, name))
    return frame.height - kept.height


def _mark_for_retraining(ws: Workspace, dataset: str, n_users: int) -> tuple[str, ...]:
    marked = []
    at = datetime.now(UTC).isoformat()
    for kind in _TRAINED:
        for rec in ws.list_records(kind, dataset):
            key = f"{kind}:{rec.key}"
            ws.put_record(RETRAIN, dataset, key, {"erased_users": n_users, "at": at})
            marked.append(key)
    return tuple(sorted(marked))


def needs_retraining(ws: Workspace, dataset: str) -> list[str]:
    """``kind:key`` of every model or run trained before customers were erased from its data."""
    stale = []
    for mark in ws.list_records(RETRAIN, dataset):
        kind, _, key = mark.key.partition(":")
        rec = ws.get_record(kind, dataset, key)
        trained, marked = (rec.created_at if rec else None), mark.created_at
        if trained is not None and marked is not None and trained <= marked:
            stale.append(mark.key)
    return sorted(stale)
