"""The workspace: a DuckDB catalog plus versioned Parquet/JSON/bytes artifacts in one folder.

Layout (all under ``root``)::

    catalog.duckdb                       datasets, artifacts (with versions), records
    .locks/<dataset>.lock                one writer per dataset (``analytics.core.locks``)
    datasets/<name>/manifest.json        what the catalog knows about the dataset, to rebuild it
    datasets/<name>/v000007-3fa2c1/...   the files one operation wrote (one version)

Every write belongs to an operation: ``with ws.operation(dataset, "segment"):`` stages each
``write_frame``/``write_json``/``write_bytes``/``put_record`` of that dataset in a fresh version
folder and, at exit, switches the catalog to all of it in one transaction; an exception discards
the folder. A write outside an operation is an operation of its own (one file). The catalog
switch is the commit point, so a crash leaves the old version or the new, whole. Readers never
lock: they resolve an artifact's current file through the catalog.

This module and its helpers (catalog, files, locks, manifest) are the only core code that
touches files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import polars as pl

from analytics.core.catalog import CATALOG_FILE, ensure_schema, open_catalog
from analytics.core.errors import CatalogDamaged, DatasetNotFound, DiskFull, SpecError
from analytics.core.files import atomic_write, disk_full_as_error, fsync_dir
from analytics.core.locks import dataset_lock
from analytics.core.manifest import (
    MANIFEST_FILE,
    dump_manifest,
    load_manifest,
    read_manifest,
    write_manifest,
)

__all__ = ["DatasetInfo", "Operation", "Record", "Workspace", "default_workspace_dir"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
_DATASET_COLS = "name, shape, source, mapping, fingerprint, report, created_at, version"


def default_workspace_dir() -> Path:
    """``$AUDIENCELAB_WORKSPACE`` or ``./workspace``: the single place the environment is read."""
    return Path(os.environ.get("AUDIENCELAB_WORKSPACE", "workspace"))


@dataclass(frozen=True)
class DatasetInfo:
    """One ingested dataset as the catalog lists it; ``version`` grows with every operation."""

    name: str
    shape: str
    source: str
    mapping: dict[str, Any]
    fingerprint: str
    report: dict[str, Any]
    created_at: datetime
    version: int = 1


@dataclass(frozen=True)
class Record:
    """A catalog record (a model, run, audience, campaign or export) with a JSON payload."""

    kind: str
    dataset: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class _Staged:
    path: Path
    meta: dict[str, Any]
    rows: int | None


@dataclass
class Operation:
    """What one operation on a dataset has staged so far; committed together or not at all."""

    dataset: str
    name: str
    version: int
    folder: Path
    replace: bool = False
    info: DatasetInfo | None = None
    files: dict[str, _Staged] = field(default_factory=dict)
    records: dict[tuple[str, str], Record] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        staged = self.files or self.records or self.deleted or self.dropped
        return not (staged or self.info or self.replace)


def _check_name(name: str, what: str = "name") -> str:
    if not _NAME_RE.fullmatch(name):
        raise SpecError(
            f"'{name}' is not a valid {what}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, at most 80 characters."
        )
    return name


def _read_retrying(resolve: Callable[[], Path | None], read: Callable[[Path], Any]) -> Any:
    """Read the current file; if a commit pruned it meanwhile, resolve the new one and retry."""
    for attempt in range(3):
        path = resolve()
        if path is None:
            return None
        try:
            return read(path)
        except FileNotFoundError:
            if attempt == 2:
                raise
    return None


class Workspace:
    """A folder holding the catalog and the versioned artifacts of every dataset."""

    def __init__(self, root: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.root = Path(root)
        self.busy_timeout_s = busy_timeout_s
        self._ops: dict[tuple[int, str], Operation] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        # A damaged or missing catalog must still let doctor() open the workspace: the first
        # catalog access raises CatalogDamaged instead.
        with contextlib.suppress(CatalogDamaged), self._catalog() as con:
            ensure_schema(con)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_FILE

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / "datasets" / _check_name(dataset, "dataset name")

    def _catalog(self, *, create: bool | None = None) -> contextlib.AbstractContextManager[Any]:
        """A short-lived catalog connection. A missing catalog is created only while no dataset
        folder exists (otherwise an empty catalog would silently hide them)."""
        if create is None:
            folders = self.root / "datasets"
            create = not (folders.is_dir() and any(folders.iterdir()))
        return open_catalog(self.catalog_path, create=create, timeout_s=self.busy_timeout_s)

    def _active(self, dataset: str) -> Operation | None:
        return self._ops.get((threading.get_ident(), dataset))

    # --- operations -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def operation(self, dataset: str, name: str, *, replace: bool = False) -> Iterator[Operation]:
        """Stage every write to ``dataset`` in the block; commit them at exit, all or none.

        Takes the dataset's writer lock (``WorkspaceBusy`` at once if another operation holds it).
        Nested calls in the same thread join the outer operation. ``replace`` drops every
        artifact and record the dataset had before (a re-ingest).
        """
        _check_name(dataset, "dataset name")
        active = self._active(dataset)
        if active is not None:
            active.replace = active.replace or replace
            yield active
            return
        with dataset_lock(self.root / ".locks", dataset, name):
            version = self._current_version(dataset) + 1
            folder = self.dataset_dir(dataset) / f"v{version:06d}-{secrets.token_hex(3)}"
            op = Operation(dataset, name, version, folder, replace=replace)
            key = (threading.get_ident(), dataset)
            self._ops[key] = op
            try:
                yield op
                del self._ops[key]
                self._commit(op)
            except BaseException:
                self._ops.pop(key, None)
                shutil.rmtree(folder, ignore_errors=True)
                raise

    def _current_version(self, dataset: str) -> int:
        with self._catalog() as con:
            row = con.execute(
                "SELECT max(v) FROM (SELECT version AS v FROM datasets WHERE name = ? "
                "UNION ALL SELECT version FROM artifacts WHERE dataset = ?)",
                [dataset, dataset],
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _commit(self, op: Operation) -> None:
        """Switch the catalog to the operation's version in one transaction, then tidy up."""
        if op.empty:
            return
        if op.folder.exists():
            with disk_full_as_error():
                fsync_dir(op.folder)
        with self._catalog() as con:
            con.execute("BEGIN TRANSACTION")
            self._apply(con, op)
            con.execute("COMMIT")
            manifest = dump_manifest(con, op.dataset)
            keep = {Path(a["path"]).parts[2] for a in manifest["artifacts"] if a["path"]}
        # Committed: from here on a failure must not remove the new version. A manifest left
        # behind (disk full) is found and rewritten by doctor().
        with contextlib.suppress(OSError, DiskFull, CatalogDamaged):
            write_manifest(self.dataset_dir(op.dataset), manifest)
            self._prune(op.dataset, keep)

    def _apply(self, con: duckdb.DuckDBPyConnection, op: Operation) -> None:
        ds, now = op.dataset, datetime.now(UTC)
        if op.replace:
            for table, col in (
                ("datasets", "name"),
                ("artifacts", "dataset"),
                ("records", "dataset"),
            ):
                con.execute(f"DELETE FROM {table} WHERE {col} = ?", [ds])
        if op.info is not None:
            i = op.info
            con.execute(
                f"INSERT OR REPLACE INTO datasets ({_DATASET_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                [i.name, i.shape, i.source, json.dumps(i.mapping, default=str), i.fingerprint,
                 json.dumps(i.report, default=str), i.created_at, op.version],
            )  # fmt: skip
        con.execute("UPDATE datasets SET version = ? WHERE name = ?", [op.version, ds])
        for name, st in op.files.items():
            con.execute(
                "INSERT OR REPLACE INTO artifacts (dataset, name, path, meta, created_at, version, "
                "n_rows) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [ds, name, str(st.path.relative_to(self.root)), json.dumps(st.meta, default=str),
                 now, op.version, st.rows],
            )  # fmt: skip
        for name in op.dropped - set(op.files):
            con.execute("DELETE FROM artifacts WHERE dataset = ? AND name = ?", [ds, name])
        for kind, key in op.deleted:
            con.execute(
                "DELETE FROM records WHERE kind = ? AND dataset = ? AND key = ?", [kind, ds, key]
            )
        for r in op.records.values():
            con.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                [r.kind, ds, r.key, json.dumps(r.payload, default=str), r.created_at],
            )

    # --- repair (used by analytics.datasets.service.doctor) --------------------------------------
    def dataset_folders(self) -> list[str]:
        """Names of the dataset folders on disk, whether or not the catalog knows them."""
        folders = self.root / "datasets"
        names = [p.name for p in folders.iterdir() if p.is_dir()] if folders.is_dir() else []
        return sorted(n for n in names if _NAME_RE.fullmatch(n))

    def catalog_manifest(self, dataset: str) -> dict[str, Any]:
        """What the catalog knows about ``dataset`` (the manifest it should have on disk)."""
        with self._catalog() as con:
            return dump_manifest(con, dataset)

    def stored_manifest(self, dataset: str) -> dict[str, Any]:
        """The manifest in the dataset's folder; ``ValueError`` if missing or unreadable."""
        return read_manifest(self.dataset_dir(dataset))

    def sync_manifest(self, dataset: str) -> None:
        """Rewrite a dataset's manifest from the catalog and drop files nothing points to."""
        with dataset_lock(self.root / ".locks", dataset, "repair"):
            manifest = self.catalog_manifest(dataset)
            write_manifest(self.dataset_dir(dataset), manifest)
            self._prune(dataset, {Path(a["path"]).parts[2] for a in manifest["artifacts"]})

    def discard_folder(self, dataset: str) -> bool:
        """Remove a dataset folder the catalog knows nothing of (a first save that never
        committed, a delete that crashed part-way); ``False`` if the catalog does know it."""
        with dataset_lock(self.root / ".locks", dataset, "repair"):
            manifest = self.catalog_manifest(dataset)
            if manifest["dataset"] or manifest["artifacts"] or manifest["records"]:
                return False
            shutil.rmtree(self.dataset_dir(dataset), ignore_errors=True)
            return True

    def forget_artifact(self, dataset: str, name: str) -> None:
        """Remove an artifact from the catalog (its file goes with the next prune)."""
        with self.operation(dataset, "repair") as op:
            op.files.pop(name, None)
            op.dropped.add(name)

    def rebuild_catalog(self) -> dict[str, str]:
        """Move the catalog aside and rebuild it from the manifests; returns the datasets lost
        (name -> why)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        for suffix in ("", ".wal"):
            path = self.root / f"{CATALOG_FILE}{suffix}"
            if path.exists():
                os.replace(path, self.root / f"{CATALOG_FILE}{suffix}.damaged-{stamp}")
        lost = {}
        with self._catalog(create=True) as con:
            ensure_schema(con)
            for name in self.dataset_folders():
                if (self.dataset_dir(name) / f".{MANIFEST_FILE}.deleted").exists():
                    continue  # a delete that crashed before removing the folder
                try:
                    load_manifest(con, name, read_manifest(self.dataset_dir(name)))
                except ValueError as err:
                    lost[name] = f"{err}, so its files could not be recovered"
        return lost

    def _prune(self, dataset: str, keep: set[str]) -> None:
        """Remove every version folder (and pre-version file) the catalog no longer points to."""
        folder = self.dataset_dir(dataset)
        for child in folder.iterdir() if folder.is_dir() else []:
            if child.name == MANIFEST_FILE or child.name in keep:
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    # --- datasets -------------------------------------------------------------------------------
    def save_dataset(
        self,
        name: str,
        *,
        shape: str,
        source: str,
        mapping: dict[str, Any],
        report: dict[str, Any],
        frames: dict[str, pl.DataFrame],
    ) -> DatasetInfo:
        """Store a freshly ingested dataset, replacing any dataset of that name and all it derived.

        The old dataset stays whole until the new one is written and committed. ``frames`` holds
        the tables (``events``, ``users``, ``exposures``, ``rejects`` ...); the fingerprint hashes
        their Parquet bytes.
        """
        _check_name(name, "dataset name")
        with self.operation(name, "ingest", replace=True) as op:
            digest = hashlib.sha256()
            for frame_name in sorted(frames):
                path = self.write_frame(name, frame_name, frames[frame_name])
                digest.update(frame_name.encode())
                digest.update(path.read_bytes())
            op.info = DatasetInfo(
                name=name,
                shape=str(shape),
                source=source,
                mapping=mapping,
                fingerprint=digest.hexdigest()[:16],
                report=report,
                created_at=datetime.now(UTC),
                version=op.version,
            )
        return op.info

    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset, newest first."""
        with self._catalog() as con:
            rows = con.execute(
                f"SELECT {_DATASET_COLS} FROM datasets ORDER BY created_at DESC"
            ).fetchall()
        return [self._dataset_from_row(r) for r in rows]

    def dataset(self, name: str) -> DatasetInfo:
        """The catalog entry of ``name``; ``DatasetNotFound`` if it is not there."""
        with self._catalog() as con:
            row = con.execute(
                f"SELECT {_DATASET_COLS} FROM datasets WHERE name = ?", [name]
            ).fetchone()
        if row is None:
            known = ", ".join(d.name for d in self.list_datasets()) or "none yet"
            raise DatasetNotFound(f"There is no dataset named '{name}' (datasets: {known}).")
        return self._dataset_from_row(row)

    def has_dataset(self, name: str) -> bool:
        with self._catalog() as con:
            row = con.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone()
        return row is not None

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset and everything derived from it (artifacts and records).

        The manifest goes first, so a crash part-way can never bring the dataset back from it.
        """
        folder = self.dataset_dir(name)
        with dataset_lock(self.root / ".locks", name, "delete"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(folder / MANIFEST_FILE, folder / f".{MANIFEST_FILE}.deleted")
            with self._catalog() as con:
                con.execute("BEGIN TRANSACTION")
                con.execute("DELETE FROM datasets WHERE name = ?", [name])
                con.execute("DELETE FROM records WHERE dataset = ?", [name])
                con.execute("DELETE FROM artifacts WHERE dataset = ?", [name])
                con.execute("COMMIT")
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _dataset_from_row(row: tuple[Any, ...]) -> DatasetInfo:
        name, shape, source, mapping, fingerprint, report, created_at, version = row
        return DatasetInfo(
            name=name,
            shape=shape,
            source=source,
            mapping=json.loads(mapping) if mapping else {},
            fingerprint=fingerprint,
            report=json.loads(report) if report else {},
            created_at=created_at,
            version=int(version or 1),
        )

    # --- artifacts ------------------------------------------------------------------------------
    def _stage(
        self, dataset: str, name: str, suffix: str, write: Callable[[IO[bytes]], Any],
        meta: dict[str, Any] | None, rows: int | None,
    ) -> Path:  # fmt: skip
        """Write one artifact file into the current operation's version folder."""
        _check_name(name, "artifact name")
        op = self._active(dataset)
        if op is None:  # a write on its own is an operation of its own
            with self.operation(dataset, "write"):
                return self._stage(dataset, name, suffix, write, meta, rows)
        path = op.folder / f"{name}{suffix}"
        atomic_write(path, write)
        op.files[name] = _Staged(path, meta or {}, rows)
        return path

    def artifact_path(self, dataset: str, name: str) -> Path | None:
        """The file holding an artifact's current version (staged in this thread's operation
        first), or ``None`` if it was never written."""
        op = self._active(dataset)
        if op is not None and name in op.files:
            return op.files[name].path
        with self._catalog() as con:
            row = con.execute(
                "SELECT path FROM artifacts WHERE dataset = ? AND name = ?", [dataset, name]
            ).fetchone()
        return self.root / row[0] if row and row[0] else None

    def _resolver(self, dataset: str, name: str, suffix: str) -> Callable[[], Path | None]:
        def resolve() -> Path | None:
            path = self.artifact_path(dataset, name)
            return path if path is not None and path.suffix == suffix else None

        return resolve

    def write_frame(
        self, dataset: str, name: str, df: pl.DataFrame, meta: dict[str, Any] | None = None
    ) -> Path:
        """Store ``df`` as the next version of artifact ``name`` (Parquet)."""

        def write(fh: IO[bytes]) -> None:
            df.write_parquet(fh, compression="zstd", statistics=True)

        return self._stage(dataset, name, ".parquet", write, meta, df.height)

    def scan_frame(self, dataset: str, name: str) -> pl.LazyFrame | None:
        """A lazy scan of an artifact frame, or ``None`` if it was never written."""
        path = self._resolver(dataset, name, ".parquet")()
        return pl.scan_parquet(path) if path is not None and path.exists() else None

    def read_frame(self, dataset: str, name: str) -> pl.DataFrame | None:
        """An artifact frame, or ``None`` if it was never written."""
        return _read_retrying(self._resolver(dataset, name, ".parquet"), pl.read_parquet)

    def events(self, dataset: str) -> pl.LazyFrame:
        """The canonical events of a dataset (empty for a customer table)."""
        self.dataset(dataset)  # raises DatasetNotFound with a helpful message
        lf = self.scan_frame(dataset, "events")
        if lf is None:
            from analytics.core.schema import empty_events

            return empty_events().lazy()
        return lf

    def write_bytes(
        self, dataset: str, name: str, data: bytes, meta: dict[str, Any] | None = None
    ) -> Path:
        """Store opaque bytes (a LightGBM text model, a torch state_dict) as artifact ``name``."""
        return self._stage(dataset, name, ".bin", lambda fh: fh.write(data), meta, None)

    def read_bytes(self, dataset: str, name: str) -> bytes | None:
        return _read_retrying(self._resolver(dataset, name, ".bin"), Path.read_bytes)

    def write_json(self, dataset: str, name: str, obj: Any) -> Path:
        payload = json.dumps(obj, default=str, indent=1).encode()
        return self._stage(dataset, name, ".json", lambda fh: fh.write(payload), None, None)

    def read_json(self, dataset: str, name: str) -> Any | None:
        return _read_retrying(
            self._resolver(dataset, name, ".json"), lambda p: json.loads(p.read_text())
        )

    def artifact_meta(self, dataset: str, name: str) -> dict[str, Any] | None:
        op = self._active(dataset)
        if op is not None and name in op.files:
            return op.files[name].meta
        with self._catalog() as con:
            row = con.execute(
                "SELECT meta FROM artifacts WHERE dataset = ? AND name = ?", [dataset, name]
            ).fetchone()
        return json.loads(row[0]) if row else None

    def list_artifacts(self, dataset: str) -> list[str]:
        with self._catalog() as con:
            rows = con.execute(
                "SELECT name FROM artifacts WHERE dataset = ? ORDER BY name", [dataset]
            ).fetchall()
        op = self._active(dataset)
        return sorted({r[0] for r in rows} | set(op.files if op else ()))

    # --- records --------------------------------------------------------------------------------
    def put_record(self, kind: str, dataset: str, key: str, payload: dict[str, Any]) -> Record:
        """Insert or replace a record (e.g. kind='model', 'audience', 'campaign', 'export')."""
        with self.operation(dataset, f"save {kind}") as op:
            rec = Record(kind, dataset, key, payload, datetime.now(UTC))
            op.deleted.discard((kind, key))
            op.records[(kind, key)] = rec
        return rec

    def get_record(self, kind: str, dataset: str, key: str) -> Record | None:
        op = self._active(dataset)
        if op is not None and (kind, key) in op.records:
            return op.records[(kind, key)]
        if op is not None and (kind, key) in op.deleted:
            return None
        with self._catalog() as con:
            row = con.execute(
                "SELECT * FROM records WHERE kind = ? AND dataset = ? AND key = ?",
                [kind, dataset, key],
            ).fetchone()
        return self._record_from_row(row) if row else None

    def list_records(self, kind: str, dataset: str | None = None) -> list[Record]:
        """Records of one kind, newest first, optionally for one dataset."""
        sql = "SELECT * FROM records WHERE kind = ?"
        params: list[Any] = [kind]
        if dataset is not None:
            sql += " AND dataset = ?"
            params.append(dataset)
        with self._catalog() as con:
            rows = con.execute(sql + " ORDER BY created_at DESC", params).fetchall()
        found = {(r.dataset, r.key): r for r in map(self._record_from_row, rows)}
        for op in list(self._ops.values()):  # what this process has staged but not committed
            if dataset is None or op.dataset == dataset:
                for key in (key for k, key in op.deleted if k == kind):
                    found.pop((op.dataset, key), None)
                found |= {(op.dataset, r.key): r for r in op.records.values() if r.kind == kind}
        return sorted(found.values(), key=lambda r: r.created_at or datetime.min, reverse=True)

    def delete_record(self, kind: str, dataset: str, key: str) -> None:
        with self.operation(dataset, f"delete {kind}") as op:
            op.records.pop((kind, key), None)
            op.deleted.add((kind, key))

    @staticmethod
    def _record_from_row(row: tuple[Any, ...]) -> Record:
        kind, dataset, key, payload, created_at = row
        return Record(kind, dataset, key, json.loads(payload) if payload else {}, created_at)


def frame_to_parquet_bytes(df: pl.DataFrame) -> bytes:
    """Parquet bytes of a frame (for downloads); no file touched."""
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()
