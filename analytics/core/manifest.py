"""The manifest: what the catalog knows about one dataset, kept in the dataset's own folder.

``datasets/<name>/manifest.json`` is rewritten after every committed operation from the catalog
(dataset row, artifacts with their versions and row counts, records), so a lost or damaged
``catalog.duckdb`` can be rebuilt from the folders alone. The catalog stays the truth while it
is readable: a manifest can only lag it (a crash between the two), never lead it, and the files
a lagging manifest names are kept until the next manifest is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analytics.core.files import atomic_write

__all__ = [
    "MANIFEST_FILE",
    "broken_artifacts",
    "dump_manifest",
    "load_manifest",
    "read_manifest",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"
_FORMAT = 1
_DATASET_COLS = "name, shape, source, mapping, fingerprint, report, created_at, version"
_ARTIFACT_COLS = "name, path, meta, created_at, version, n_rows"
_RECORD_COLS = "kind, key, payload, created_at"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, dataset: str) -> list[dict[str, Any]]:
    cur = con.execute(sql, [dataset])
    names = [d[0] for d in cur.description]
    return [
        {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in zip(names, row, strict=True)
        }
        for row in cur.fetchall()
    ]


def dump_manifest(con: duckdb.DuckDBPyConnection, dataset: str) -> dict[str, Any]:
    """The catalog's rows about ``dataset`` as one JSON-ready dict."""
    rows = _rows(con, f"SELECT {_DATASET_COLS} FROM datasets WHERE name = ?", dataset)
    return {
        "format": _FORMAT,
        "name": dataset,
        "dataset": rows[0] if rows else None,
        "artifacts": _rows(
            con, f"SELECT {_ARTIFACT_COLS} FROM artifacts WHERE dataset = ? ORDER BY name", dataset
        ),
        "records": _rows(
            con, f"SELECT {_RECORD_COLS} FROM records WHERE dataset = ? ORDER BY kind, key", dataset
        ),
    }


def broken_artifacts(root: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Artifacts of a manifest whose file is missing or cannot be read: name -> what is wrong."""
    broken = {}
    for art in manifest.get("artifacts", []):
        path = root / str(art.get("path") or "")
        try:
            if path.suffix == ".parquet":
                pl.read_parquet_schema(path)  # reads the footer: catches truncation
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif not path.is_file():
                raise FileNotFoundError(path)
        except FileNotFoundError:
            broken[art["name"]] = "its file is missing"
        except Exception:  # any reader failure means the file is damaged
            broken[art["name"]] = "its file is damaged"
    return broken


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Store ``manifest`` atomically in ``folder``."""
    data = json.dumps(manifest, default=str, indent=1).encode()
    atomic_write(folder / MANIFEST_FILE, lambda fh: fh.write(data))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a dataset folder; ``ValueError`` if it is missing or unreadable."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"no readable manifest ({type(err).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ValueError("the manifest is not in a known format")
    return manifest


def load_manifest(con: duckdb.DuckDBPyConnection, dataset: str, manifest: dict[str, Any]) -> None:
    """Insert a manifest's rows into an (empty for ``dataset``) catalog."""
    row = manifest.get("dataset")
    if row:
        con.execute(
            f"INSERT OR REPLACE INTO datasets ({_DATASET_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row[c.strip()] for c in _DATASET_COLS.split(",")],
        )
    for art in manifest.get("artifacts", []):
        con.execute(
            f"INSERT OR REPLACE INTO artifacts (dataset, {_ARTIFACT_COLS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [dataset, *(art[c.strip()] for c in _ARTIFACT_COLS.split(","))],
        )
    for rec in manifest.get("records", []):
        con.execute(
            f"INSERT OR REPLACE INTO records (dataset, {_RECORD_COLS}) VALUES (?, ?, ?, ?, ?)",
            [dataset, *(rec[c.strip()] for c in _RECORD_COLS.split(","))],
        )
