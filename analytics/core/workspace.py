"""The workspace: a DuckDB catalog plus Parquet/JSON/bytes artifacts in one folder.

Layout (all under ``root``)::

    catalog.duckdb              datasets and records (models, runs, audiences, campaigns, exports)
    .write.lock                 advisory lock that serialises writers across processes
    datasets/<name>/<artifact>  every file derived from one dataset, so deleting is one rmtree

Writes are atomic: a temp file in the same folder, fsync, then ``os.replace``. Writers take an
exclusive ``flock`` on ``.write.lock``; a writer that cannot get it within ``busy_timeout_s`` gets
``WorkspaceBusy``. DuckDB itself allows one process on the file at a time, so every catalog access
opens, works and closes, retrying while another process holds the file.

This is the only module in the core that touches files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analytics.core.errors import DatasetNotFound, SpecError, WorkspaceBusy

__all__ = ["DatasetInfo", "Record", "Workspace", "default_workspace_dir"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
_CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR PRIMARY KEY, shape VARCHAR, source VARCHAR, mapping JSON, fingerprint VARCHAR,
    report JSON, created_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS records (
    kind VARCHAR, dataset VARCHAR, key VARCHAR, payload JSON, created_at TIMESTAMPTZ,
    PRIMARY KEY (kind, dataset, key)
);
CREATE TABLE IF NOT EXISTS artifacts (
    dataset VARCHAR, name VARCHAR, path VARCHAR, meta JSON, created_at TIMESTAMPTZ,
    PRIMARY KEY (dataset, name)
);
"""


def default_workspace_dir() -> Path:
    """``$AUDIENCELAB_WORKSPACE`` or ``./workspace``: the single place the environment is read."""
    return Path(os.environ.get("AUDIENCELAB_WORKSPACE", "workspace"))


@dataclass(frozen=True)
class DatasetInfo:
    """One ingested dataset as the catalog lists it."""

    name: str
    shape: str
    source: str
    mapping: dict[str, Any]
    fingerprint: str
    report: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Record:
    """A catalog record (a model, run, audience, campaign or export) with a JSON payload."""

    kind: str
    dataset: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


def _check_name(name: str, what: str = "name") -> str:
    if not _NAME_RE.match(name):
        raise SpecError(
            f"'{name}' is not a valid {what}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, at most 80 characters."
        )
    return name


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_obj)`` on a temp file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Workspace:
    """A folder holding the catalog and the artifacts of every dataset."""

    def __init__(self, root: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.root = Path(root)
        self.busy_timeout_s = busy_timeout_s
        self.root.mkdir(parents=True, exist_ok=True)
        with self._catalog() as con:
            con.execute(_CATALOG_DDL)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / "datasets" / _check_name(dataset, "dataset name")

    @contextlib.contextmanager
    def _catalog(self) -> Iterator[duckdb.DuckDBPyConnection]:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                con = duckdb.connect(str(self.catalog_path))
                break
            except duckdb.IOException as err:  # another process holds the file
                if time.monotonic() > deadline:
                    raise WorkspaceBusy(
                        "The workspace is busy (another AudienceLab process is writing). "
                        "Try again in a moment."
                    ) from err
                time.sleep(0.05)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the cross-process write lock; raises ``WorkspaceBusy`` after the timeout."""
        lock_path = self.root / ".write.lock"
        with open(lock_path, "a+") as fh:
            deadline = time.monotonic() + self.busy_timeout_s
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WorkspaceBusy(
                            "The workspace is busy: another AudienceLab process has been writing "
                            f"for over {self.busy_timeout_s:.0f} s. Try again when it has finished."
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

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

        ``frames`` holds the tables of the dataset (``events``, ``users``, ``exposures``,
        ``rejects`` ...); the fingerprint hashes their Parquet bytes.
        """
        _check_name(name, "dataset name")
        with self.writing():
            self._delete_dataset_unlocked(name)
            digest = hashlib.sha256()
            for frame_name in sorted(frames):
                path = self._write_frame_unlocked(name, frame_name, frames[frame_name], None)
                digest.update(frame_name.encode())
                digest.update(path.read_bytes())
            info = DatasetInfo(
                name=name,
                shape=str(shape),
                source=source,
                mapping=mapping,
                fingerprint=digest.hexdigest()[:16],
                report=report,
                created_at=datetime.now(UTC),
            )
            with self._catalog() as con:
                con.execute(
                    "INSERT OR REPLACE INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        info.name,
                        info.shape,
                        info.source,
                        json.dumps(mapping, default=str),
                        info.fingerprint,
                        json.dumps(report, default=str),
                        info.created_at,
                    ],
                )
        return info

    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset, newest first."""
        with self._catalog() as con:
            rows = con.execute("SELECT * FROM datasets ORDER BY created_at DESC").fetchall()
        return [self._dataset_from_row(r) for r in rows]

    def dataset(self, name: str) -> DatasetInfo:
        """The catalog entry of ``name``; ``DatasetNotFound`` if it is not there."""
        with self._catalog() as con:
            row = con.execute("SELECT * FROM datasets WHERE name = ?", [name]).fetchone()
        if row is None:
            known = ", ".join(d.name for d in self.list_datasets()) or "none yet"
            raise DatasetNotFound(f"There is no dataset named '{name}' (datasets: {known}).")
        return self._dataset_from_row(row)

    def has_dataset(self, name: str) -> bool:
        with self._catalog() as con:
            row = con.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone()
        return row is not None

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset and everything derived from it (artifacts and records)."""
        with self.writing():
            self._delete_dataset_unlocked(name)

    def _delete_dataset_unlocked(self, name: str) -> None:
        with self._catalog() as con:
            con.execute("DELETE FROM datasets WHERE name = ?", [name])
            con.execute("DELETE FROM records WHERE dataset = ?", [name])
            con.execute("DELETE FROM artifacts WHERE dataset = ?", [name])
        shutil.rmtree(self.dataset_dir(name), ignore_errors=True)

    @staticmethod
    def _dataset_from_row(row: tuple[Any, ...]) -> DatasetInfo:
        name, shape, source, mapping, fingerprint, report, created_at = row
        return DatasetInfo(
            name=name,
            shape=shape,
            source=source,
            mapping=json.loads(mapping) if mapping else {},
            fingerprint=fingerprint,
            report=json.loads(report) if report else {},
            created_at=created_at,
        )

    # --- artifacts ------------------------------------------------------------------------------
    def _artifact_path(self, dataset: str, name: str, suffix: str) -> Path:
        _check_name(name, "artifact name")
        return self.dataset_dir(dataset) / f"{name}{suffix}"

    def _record_artifact(self, dataset: str, name: str, path: Path, meta: dict | None) -> None:
        with self._catalog() as con:
            con.execute(
                "INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?)",
                [
                    dataset,
                    name,
                    str(path.relative_to(self.root)),
                    json.dumps(meta or {}, default=str),
                    datetime.now(UTC),
                ],
            )

    def _write_frame_unlocked(
        self, dataset: str, name: str, df: pl.DataFrame, meta: dict | None
    ) -> Path:
        path = self._artifact_path(dataset, name, ".parquet")
        _atomic_write(path, lambda fh: df.write_parquet(fh, compression="zstd", statistics=True))
        self._record_artifact(dataset, name, path, meta)
        return path

    def write_frame(
        self, dataset: str, name: str, df: pl.DataFrame, meta: dict[str, Any] | None = None
    ) -> Path:
        """Store ``df`` as ``datasets/<dataset>/<name>.parquet`` atomically."""
        with self.writing():
            return self._write_frame_unlocked(dataset, name, df, meta)

    def scan_frame(self, dataset: str, name: str) -> pl.LazyFrame | None:
        """A lazy scan of an artifact frame, or ``None`` if it was never written."""
        path = self._artifact_path(dataset, name, ".parquet")
        return pl.scan_parquet(path) if path.exists() else None

    def read_frame(self, dataset: str, name: str) -> pl.DataFrame | None:
        """An artifact frame, or ``None`` if it was never written."""
        path = self._artifact_path(dataset, name, ".parquet")
        return pl.read_parquet(path) if path.exists() else None

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
        """Store opaque bytes (a LightGBM text model, a torch state_dict) atomically."""
        path = self._artifact_path(dataset, name, ".bin")
        with self.writing():
            _atomic_write(path, lambda fh: fh.write(data))
            self._record_artifact(dataset, name, path, meta)
        return path

    def read_bytes(self, dataset: str, name: str) -> bytes | None:
        path = self._artifact_path(dataset, name, ".bin")
        return path.read_bytes() if path.exists() else None

    def write_json(self, dataset: str, name: str, obj: Any) -> Path:
        path = self._artifact_path(dataset, name, ".json")
        payload = json.dumps(obj, default=str, indent=1).encode()
        with self.writing():
            _atomic_write(path, lambda fh: fh.write(payload))
            self._record_artifact(dataset, name, path, None)
        return path

    def read_json(self, dataset: str, name: str) -> Any | None:
        path = self._artifact_path(dataset, name, ".json")
        return json.loads(path.read_text()) if path.exists() else None

    def artifact_meta(self, dataset: str, name: str) -> dict[str, Any] | None:
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
        return [r[0] for r in rows]

    # --- records --------------------------------------------------------------------------------
    def put_record(self, kind: str, dataset: str, key: str, payload: dict[str, Any]) -> Record:
        """Insert or replace a record (e.g. kind='model', 'audience', 'campaign', 'export')."""
        rec = Record(kind, dataset, key, payload, datetime.now(UTC))
        with self.writing(), self._catalog() as con:
            con.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                [kind, dataset, key, json.dumps(payload, default=str), rec.created_at],
            )
        return rec

    def get_record(self, kind: str, dataset: str, key: str) -> Record | None:
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
        return [self._record_from_row(r) for r in rows]

    def delete_record(self, kind: str, dataset: str, key: str) -> None:
        with self.writing(), self._catalog() as con:
            con.execute(
                "DELETE FROM records WHERE kind = ? AND dataset = ? AND key = ?",
                [kind, dataset, key],
            )

    @staticmethod
    def _record_from_row(row: tuple[Any, ...]) -> Record:
        kind, dataset, key, payload, created_at = row
        return Record(kind, dataset, key, json.loads(payload) if payload else {}, created_at)


def frame_to_parquet_bytes(df: pl.DataFrame) -> bytes:
    """Parquet bytes of a frame (for downloads); no file touched."""
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()
