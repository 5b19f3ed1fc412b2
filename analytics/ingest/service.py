"""Datasets: detect a file, ingest it into the workspace, add side tables to a dataset.

The CLI's ``ingest`` verb and the Data page call these; the core work is
``analytics.ingest.pipeline``.
Artifacts written per dataset: ``events`` (per-user canonical events), ``rejects`` (line, reason,
raw), and when there is something to hold: ``users``, ``items``, ``anonymous_events``
(transactions without customer id, see ``analytics.ingest.pipeline``), ``exposures``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import MappingError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import CAMPAIGN_ID, USER_ID
from analytics.core.workspace import Workspace
from analytics.ingest.pipeline import (
    Detection,
    IngestResult,
    detect_file,
    ingest_file,
    ingest_side_file,
    resolve_spec,
)

__all__ = ["dataset_name_for", "detect", "ingest_path", "ingest_side_table", "summary"]

_SUMMARY_KEYS = (
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "rejected_by_reason",
    "users",
    "events_by_type",
    "first_event",
    "last_event",
    "rows_without_user",
    "revenue_total",
    "quantity_total",
    "orders",
    "cancelled_lines",
    "warnings",
)


def detect(path: str | Path) -> Detection:
    """The proposed shape and mapping of a file (a sample is read, not the whole file)."""
    return detect_file(Path(path))


def dataset_name_for(path: str | Path) -> str:
    """A valid dataset name from a file name: 'Online Retail.csv.gz' -> 'Online_Retail'."""
    stem = Path(path).name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("_.-")[:80]
    return name or "dataset"


def ingest_path(
    ws: Workspace,
    path: str | Path,
    *,
    name: str | None = None,
    shape: str | None = None,
    mapping: dict[str, str] | None = None,
    day_first: bool | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Ingest ``path`` as dataset ``name`` (default: from the file name) and return the summary.

    ``mapping`` (canonical -> source column), when given, is the whole mapping and replaces the
    detected one. Replaces an existing dataset of the same name.
    """
    path = Path(path)
    name = name or dataset_name_for(path)
    ws.dataset_dir(name)  # validates the name before any work
    progress(0.0, f"Looking at {path.name}")
    detection = detect_file(path)
    spec = resolve_spec(detection, shape=shape, mapping=mapping, day_first=day_first)
    result = ingest_file(
        path, spec, progress=scaled(progress, 0.02, 0.85), detection=detection
    )  # the detection just made: the file is sniffed once
    progress(0.9, "Saving the dataset")
    ws.save_dataset(
        name,
        shape=str(result.shape),
        source=str(path),
        mapping=result.mapping,
        report=result.report,
        frames=_frames(result),
    )
    progress(1.0, "Dataset saved")
    return summary(name, result)


def summary(name: str, result: IngestResult) -> dict[str, Any]:
    """The JSON summary the CLI prints for one ingest."""
    out: dict[str, Any] = {"dataset": name, "shape": str(result.shape)}
    out.update({k: result.report[k] for k in _SUMMARY_KEYS if k in result.report})
    out["mapping"] = result.mapping
    return out


def _frames(result: IngestResult) -> dict[str, pl.DataFrame]:
    frames = {"events": result.events, "rejects": result.rejects}
    if result.users is not None:
        frames["users"] = result.users
    if result.items is not None:
        frames["items"] = result.items
    if result.anonymous is not None and result.anonymous.height:
        frames["anonymous_events"] = result.anonymous
    return frames


def ingest_side_table(
    ws: Workspace,
    dataset: str,
    path: str | Path,
    *,
    kind: str,
    mapping: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Add campaign exposures or user attributes from ``path`` to an existing dataset.

    Exposures are appended (a campaign already present is replaced); user attributes are joined
    onto the dataset's ``users`` by ``user_id`` (new values win for columns in both).
    """
    ws.dataset(dataset)  # DatasetNotFound with the known names
    side = ingest_side_file(Path(path), kind, mapping)
    frame = side.frame
    if kind == "exposures":
        old = ws.read_frame(dataset, "exposures")
        if old is not None:
            campaigns = frame.get_column(CAMPAIGN_ID).unique()
            frame = pl.concat([old.filter(~pl.col(CAMPAIGN_ID).is_in(campaigns)), frame])
    else:
        old = ws.read_frame(dataset, "users")
        if old is not None:
            if old.get_column(USER_ID).dtype != pl.String:
                raise MappingError("The dataset's user table has non-text user ids.")
            kept = [c for c in old.columns if c == USER_ID or c not in frame.columns]
            frame = old.select(kept).join(frame, on=USER_ID, how="full", coalesce=True)
    ws.write_frame(dataset, kind, frame, meta={"source": str(path)})
    ws.write_frame(dataset, f"rejects_{kind}", side.rejects)
    return {"dataset": dataset, "table": kind, "rows": frame.height, **side.report}
