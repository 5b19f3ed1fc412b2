"""The catalog file: schema, short-lived connections, and telling "locked" from "damaged".

DuckDB lets one process hold the file at a time, so every access opens, works and closes,
retrying while another process holds it. Any other failure to open or read it means the file is
damaged and becomes ``CatalogDamaged`` (never "busy", never a raw DuckDB traceback), which
``analytics.datasets.service.doctor`` can repair from the per-dataset manifests.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from analytics.core.errors import CatalogDamaged, WorkspaceBusy

__all__ = ["CATALOG_FILE", "ensure_schema", "open_catalog"]

CATALOG_FILE = "catalog.duckdb"
_DDL = """
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
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS version BIGINT DEFAULT 1;
ALTER TABLE artifacts ADD COLUMN IF NOT EXISTS version BIGINT DEFAULT 1;
ALTER TABLE artifacts ADD COLUMN IF NOT EXISTS n_rows BIGINT;
"""
# Errors that are our own SQL's fault, not the file's: let them surface as bugs.
_OUR_FAULT = (duckdb.ParserException, duckdb.BinderException, duckdb.ConstraintException)


def _damaged(path: Path, err: BaseException) -> CatalogDamaged:
    return CatalogDamaged(
        f"The workspace catalog ({path.name}) is damaged and cannot be read. Run "
        "`python cli.py doctor --repair` to rebuild it from the datasets' manifests; "
        "it lists anything that could not be recovered."
    )


def _connect(path: Path, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as err:
            if "Could not set lock" not in str(err):
                raise _damaged(path, err) from None
            if time.monotonic() > deadline:
                raise WorkspaceBusy(
                    "busy: another AudienceLab process kept the workspace catalog open for "
                    f"over {timeout_s:.0f} s. Try again in a moment."
                ) from None
            time.sleep(0.02)


@contextlib.contextmanager
def open_catalog(
    path: Path, *, create: bool, timeout_s: float
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the catalog at ``path``, closed on exit.

    ``create=False`` refuses to create a missing file (the caller knows datasets exist that the
    empty catalog would hide) and raises ``CatalogDamaged`` instead.
    """
    if not path.exists() and not create:
        raise CatalogDamaged(
            f"The workspace catalog ({path.name}) is missing while datasets are stored. Run "
            "`python cli.py doctor --repair` to rebuild it from the datasets' manifests."
        )
    con = _connect(path, timeout_s)
    try:
        yield con
    except _OUR_FAULT:
        raise
    except duckdb.Error as err:
        raise _damaged(path, err) from None
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, and add the columns newer versions need to an older catalog."""
    con.execute(_DDL)
