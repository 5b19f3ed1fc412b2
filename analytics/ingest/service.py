"""Datasets: detect a file, ingest or append it, attach side tables, and read what the Data page
shows (previews, events per day, rejected lines).

The CLI's ``ingest`` and ``attach`` verbs and the Data page call these; the parsing is
``analytics.ingest.pipeline``. Artifacts per dataset (names in ``analytics.core.artifacts``):
``events``, ``rejects`` and, when there is something to hold, ``users``, ``items``,
``anonymous_events`` (rows without customer id), ``exposures`` and the side tables' rejects.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.artifacts import (
    ANONYMOUS_EVENTS,
    EVENTS,
    EXPOSURES,
    ITEMS,
    REJECTS,
    USERS,
    side_rejects,
)
from analytics.core.errors import MappingError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import (
    CAMPAIGN_ID,
    CONSENT_EMAIL,
    EVENT_TIME,
    USER_ID,
    Shape,
)
from analytics.core.workspace import DatasetInfo, Workspace
from analytics.ingest.append import AppendResult, combined_report, merge_items, new_rows
from analytics.ingest.consent import consent_column, consent_expr
from analytics.ingest.mapping import MAPPABLE, auto_map
from analytics.ingest.pipeline import (
    Detection,
    IngestResult,
    detect_file,
    ingest_file,
    resolve_spec,
)
from analytics.ingest.side_tables import (
    SIDE_TABLES,
    AttachResult,
    SideProposal,
    match_ids,
    merge_exposures,
    merge_users,
    propose_side_mapping,
    read_side_table,
)

__all__ = [
    "SIDE_TABLES",
    "AppendResult",
    "AttachResult",
    "Detection",
    "SideProposal",
    "SideTableFacts",
    "StaleNotice",
    "attach_table",
    "dataset_name_for",
    "detect",
    "events_per_day",
    "ingest_path",
    "mappable_fields",
    "propose_mapping",
    "propose_side_mapping",
    "rejects_csv",
    "side_table_facts",
    "stale_notice",
    "summary",
    "table_preview",
]

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
# the tables an ingest or an attach writes; everything else in a dataset is derived from them
_INGEST_TABLES = frozenset(
    {EVENTS, REJECTS, USERS, ITEMS, ANONYMOUS_EVENTS, EXPOSURES}
    | {side_rejects(t) for t in SIDE_TABLES}
)
_STALE = "stale"
_REJECTS_SCHEMA = {"line": pl.Int64(), "reason": pl.String(), "raw": pl.String()}


def detect(path: str | Path, *, encoding: str | None = None) -> Detection:
    """The proposed shape and mapping of a file (a sample is read, not the whole file);
    ``encoding`` overrides the detected text encoding."""
    return detect_file(Path(path), encoding=encoding)


def mappable_fields(shape: str) -> tuple[str, ...]:
    """The canonical fields a column of a file of ``shape`` can be mapped to."""
    return MAPPABLE[Shape(shape)]


def propose_mapping(detection: Detection, shape: str) -> tuple[dict[str, str], dict[str, float]]:
    """The detected mapping and confidences, re-proposed for a shape the user picked."""
    if shape == str(detection.shape) or detection.sniff is None:
        return dict(detection.mapping), dict(detection.confidence)
    proposed = auto_map(detection.sniff.sample, shape=shape)
    return dict(proposed.mapping), dict(proposed.confidence)


def dataset_name_for(path: str | Path) -> str:
    """A valid dataset name from a file name: 'Online Retail.csv.gz' -> 'Online_Retail'."""
    stem = Path(path).name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("_.-")[:80]
    return name or "dataset"


# --- ingest and append --------------------------------------------------------------------------
def ingest_path(
    ws: Workspace,
    path: str | Path,
    *,
    name: str | None = None,
    shape: str | None = None,
    mapping: dict[str, str] | None = None,
    day_first: bool | None = None,
    append: bool = False,
    encoding: str | None = None,
    timezone: str = "UTC",
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Ingest ``path`` as dataset ``name`` (default: from the file name) and return the summary.

    ``mapping`` (canonical -> source column), when given, is the whole mapping and replaces the
    detected one. Replaces an existing dataset of the same name, unless ``append``: then the rows
    are added under the dataset's stored shape and mapping (see ``analytics.ingest.append``) and
    the summary says what was added. ``encoding``: the file's text encoding when the detected
    one is wrong (a Python codec name); ``timezone``: the zone of times written without one.
    """
    path = Path(path)
    name = name or dataset_name_for(path)
    ws.dataset_dir(name)  # validates the name before any work
    read = _Reading(day_first, encoding, timezone)
    if append and ws.has_dataset(name):
        return _append(ws, path, name, read, progress).summary()
    progress(0.0, f"Looking at {path.name}")
    detection = detect_file(path, encoding=encoding)
    spec = resolve_spec(detection, shape=shape, mapping=mapping, day_first=day_first, tz=timezone)
    result = ingest_file(path, spec, progress=scaled(progress, 0.02, 0.85), detection=detection)
    progress(0.9, "Saving the dataset")
    frames = _frames(result)
    ws.save_dataset(
        name,
        shape=str(result.shape),
        source=str(path),
        mapping=result.mapping,
        report=result.report,
        frames=frames,
    )
    progress(1.0, "Dataset saved")
    out = summary(name, result)
    if USERS in frames and CONSENT_EMAIL in frames[USERS].columns:
        out["consent_known"] = int(frames[USERS].get_column(CONSENT_EMAIL).is_not_null().sum())
    return out


def summary(name: str, result: IngestResult) -> dict[str, Any]:
    """The JSON summary the CLI prints for one ingest."""
    out: dict[str, Any] = {"dataset": name, "shape": str(result.shape)}
    out.update({k: result.report[k] for k in _SUMMARY_KEYS if k in result.report})
    out["mapping"] = result.mapping
    return out


def _frames(result: IngestResult) -> dict[str, pl.DataFrame]:
    frames = {EVENTS: result.events, REJECTS: result.rejects}
    users = _with_consent(result)
    if users is not None:
        frames[USERS] = users
    if result.items is not None:
        frames[ITEMS] = result.items
    if result.anonymous is not None and result.anonymous.height:
        frames[ANONYMOUS_EVENTS] = result.anonymous
    return frames


def _with_consent(result: IngestResult) -> pl.DataFrame | None:
    """The users table with consent read from any spelling: from a customer table's consent
    column, or from an events/orders file's (the latest readable value per customer wins)."""
    users = result.users
    if result.shape == Shape.CUSTOMERS:
        column = consent_column(users.columns) if users is not None else None
        if users is None or column is None:
            return users
        users = users.rename({column: CONSENT_EMAIL}) if column != CONSENT_EMAIL else users
        return users.with_columns(consent_expr(CONSENT_EMAIL))
    column = consent_column([c for c in result.events.columns if c != USER_ID])
    if column is None:
        return users
    latest = (
        result.events.select(USER_ID, EVENT_TIME, consent_expr(column).alias(CONSENT_EMAIL))
        .filter(pl.col(USER_ID).is_not_null() & pl.col(CONSENT_EMAIL).is_not_null())
        .sort(EVENT_TIME, maintain_order=True)
        .group_by(USER_ID, maintain_order=True)
        .agg(pl.col(CONSENT_EMAIL).last())
    )
    return merge_users(users, latest)


@dataclass(frozen=True)
class _Reading:
    """How to read the file's text and times (the user's answers, else detected)."""

    day_first: bool | None
    encoding: str | None
    timezone: str


def _append(
    ws: Workspace, path: Path, name: str, read: _Reading, progress: Progress
) -> AppendResult:
    """Add ``path`` to dataset ``name`` under its stored mapping; derived results marked stale."""
    info = ws.dataset(name)
    if info.shape == Shape.CUSTOMERS:
        raise MappingError(
            f"'{name}' is a customer table: it is replaced, not appended to. Attach more customer "
            "attributes as a users table instead."
        )
    progress(0.0, f"Looking at {path.name}")
    detection = detect_file(path, encoding=read.encoding)
    spec = resolve_spec(
        detection,
        shape=info.shape,
        mapping=info.mapping,
        day_first=read.day_first,
        tz=read.timezone,
    )
    new = ingest_file(path, spec, progress=scaled(progress, 0.02, 0.8), detection=detection)
    progress(0.85, "Adding the new rows")
    frames, added = _grown_tables(ws, name, new)
    report = combined_report(info.report, frames[EVENTS], added)
    report["rejected_by_reason"] = _summed(
        info.report.get("rejected_by_reason") or {}, new.report.get("rejected_by_reason") or {}
    )
    result = AppendResult(
        dataset=name,
        source=str(path),
        rows_read=added["rows_read"],
        rows_accepted=int(new.report["rows_accepted"]),
        rows_rejected=added["rows_rejected"],
        duplicates_skipped=added["duplicates_skipped"],
        rows_added=added["rows_added"],
        new_users=int(report["users"]) - int(info.report.get("users") or 0),
        users=int(report["users"]),
        first_event=report.get("first_event"),
        last_event=report.get("last_event"),
    )
    report["appends"] = [*info.report.get("appends", []), result.summary()]
    progress(0.9, "Saving the dataset")
    _save_grown(ws, info, report, frames, result)
    progress(1.0, "Rows added")
    return result


def _grown_tables(
    ws: Workspace, name: str, new: IngestResult
) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """The dataset's ingest tables with ``new`` added, and the counts of what was added."""
    frames = {t: f for t in _INGEST_TABLES if (f := ws.read_frame(name, t)) is not None}
    frames[EVENTS], skipped = new_rows(frames.get(EVENTS), new.events)
    anon_added = 0
    if new.anonymous is not None and new.anonymous.height:
        frames[ANONYMOUS_EVENTS], anon_skipped = new_rows(
            frames.get(ANONYMOUS_EVENTS), new.anonymous
        )
        anon_added, skipped = new.anonymous.height - anon_skipped, skipped + anon_skipped
    frames[REJECTS] = pl.concat([frames.get(REJECTS, new.rejects.clear()), new.rejects])
    if (items := merge_items(frames.get(ITEMS), new.items)) is not None:
        frames[ITEMS] = items
    if (users := _with_consent(new)) is not None:
        frames[USERS] = merge_users(frames.get(USERS), users)
    added = {
        "rows_read": int(new.report["rows_read"]),
        "rows_rejected": int(new.report["rows_rejected"]),
        "duplicates_skipped": skipped,
        "rows_added": int(new.report["rows_accepted"]) - skipped,
        "rows_without_user": anon_added,
    }
    return frames, added


def _summed(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = int(out.get(key, 0)) + int(value)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _save_grown(
    ws: Workspace,
    info: DatasetInfo,
    report: dict[str, Any],
    frames: dict[str, pl.DataFrame],
    appended: AppendResult,
) -> None:
    """Store the grown tables in one operation that keeps every derived artifact and record,
    and mark those stale with what changed."""
    derived, records = _derived(ws.catalog_manifest(info.name))
    with ws.operation(info.name, "append") as op:
        paths = [ws.write_frame(info.name, t, frames[t]) for t in sorted(frames)]
        fingerprint = _fingerprint(info.fingerprint, paths)
        op.info = replace(info, fingerprint=fingerprint, report=report)
        if derived or records:
            payload = {
                "changed_at": datetime.now(UTC).isoformat(),
                "version": op.version,
                "what": (
                    f"{appended.rows_added:,} rows and {appended.new_users:,} new customers were "
                    f"added from {Path(appended.source).name}"
                ),
                "artifacts": sorted(derived),
                "records": sorted(records),
            }
            ws.put_record(_STALE, info.name, "data", payload)


def _derived(
    manifest: dict[str, Any], *, version: int | None = None, before: datetime | None = None
) -> tuple[dict[str, int], dict[str, datetime]]:
    """The derived artifacts (name -> version) and records ('kind:key' -> time) of a dataset's
    catalog manifest; with ``version`` / ``before``, only those written earlier."""
    artifacts = {
        str(a["name"]): int(a["version"])
        for a in manifest["artifacts"]
        if a["name"] not in _INGEST_TABLES and (version is None or int(a["version"]) < version)
    }
    records = {}
    for r in manifest["records"]:
        made = datetime.fromisoformat(str(r["created_at"]))
        if r["kind"] != _STALE and (before is None or made < before):
            records[f"{r['kind']}:{r['key']}"] = made
    return artifacts, records


def _fingerprint(old: str, paths: list[Path]) -> str:
    """A new fingerprint for a dataset whose tables at ``paths`` were just rewritten."""
    digest = hashlib.sha256(old.encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class StaleNotice:
    """Results computed before the data last grew: what changed, when, and which results."""

    changed_at: str
    what: str
    artifacts: tuple[str, ...]
    records: tuple[str, ...]


def stale_notice(ws: Workspace, dataset: str) -> StaleNotice | None:
    """Which derived results predate the data's last growth, and what changed (``None`` when
    nothing was appended since, or every result has been made again)."""
    record = ws.get_record(_STALE, dataset, "data")
    if record is None:
        return None
    p = record.payload
    changed = datetime.fromisoformat(p["changed_at"])
    artifacts, records = _derived(
        ws.catalog_manifest(dataset), version=int(p["version"]), before=changed
    )
    stale_artifacts = tuple(sorted(set(artifacts) & set(p["artifacts"])))
    stale_records = tuple(sorted(set(records) & set(p["records"])))
    if not stale_artifacts and not stale_records:
        return None
    return StaleNotice(p["changed_at"], p["what"], stale_artifacts, stale_records)


# --- side tables --------------------------------------------------------------------------------
def attach_table(
    ws: Workspace,
    dataset: str,
    table: str,
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    progress: Progress = no_progress,
) -> AttachResult:
    """Attach a users or exposures table to a dataset; unmatched ids are kept and counted.

    ``users`` are joined onto the dataset's users by ``user_id`` (new values win for columns in
    both); ``exposures`` are added per campaign (a campaign already present is replaced).
    ``mapping``: canonical -> source column (``campaign=``, ``arm=``, ``event_time=`` ...).
    """
    info = ws.dataset(dataset)  # DatasetNotFound with the known names
    path = Path(path)
    progress(0.0, f"Reading {path.name}")
    side = read_side_table(path, table, mapping)
    progress(0.6, "Matching customers")
    known = ws.scan_frame(dataset, USERS if info.shape == Shape.CUSTOMERS else EVENTS)
    if known is None:
        known = pl.LazyFrame(schema={USER_ID: pl.String()})
    matched, unmatched, sample = match_ids(side.frame.get_column(USER_ID), known)
    old = ws.read_frame(dataset, table)
    merged = merge_users(old, side.frame) if table == USERS else merge_exposures(old, side.frame)
    progress(0.8, "Saving the table")
    with ws.operation(dataset, f"attach {table}") as op:
        paths = [
            ws.write_frame(dataset, table, merged, meta={"source": str(path)}),
            ws.write_frame(dataset, side_rejects(table), side.rejects),
        ]  # a new fingerprint: pages keyed on it show the attached table at once
        op.info = replace(info, fingerprint=_fingerprint(info.fingerprint, paths))
    progress(1.0, "Table attached")
    r = side.report
    campaigns = side.frame.get_column(CAMPAIGN_ID).unique() if table == EXPOSURES else None
    return AttachResult(
        dataset=dataset,
        table=table,
        rows_read=int(r["rows_read"]),
        rows_accepted=int(r["rows_accepted"]),
        rows_rejected=int(r["rows_rejected"]),
        matched_users=matched,
        unmatched_ids=unmatched,
        unmatched_sample=sample,
        rejected_by_reason=dict(r.get("rejected_by_reason") or {}),
        mapping=dict(r["mapping"]),
        consent_unread=int(r.get("consent_unread", 0)),
        campaigns=tuple(sorted(campaigns.to_list())) if campaigns is not None else (),
    )


@dataclass(frozen=True)
class SideTableFacts:
    """What an attached side table holds, for the Data page."""

    table: str
    rows: int
    columns: tuple[str, ...]
    source: str | None
    consent: dict[str, int] | None = None  # opted in / opted out / unknown (users only)
    campaigns: tuple[str, ...] = ()  # exposures only


def side_table_facts(ws: Workspace, dataset: str) -> list[SideTableFacts]:
    """The users and exposures tables of a dataset (none when nothing is attached)."""
    facts = []
    for table in SIDE_TABLES:
        lf = ws.scan_frame(dataset, table)
        if lf is None:
            continue
        frame = lf.collect()
        source = (ws.artifact_meta(dataset, table) or {}).get("source")
        consent = None
        if CONSENT_EMAIL in frame.columns:
            values = frame.get_column(CONSENT_EMAIL)
            consent = {
                "opted in": int(values.eq(True).sum()),
                "opted out": int(values.eq(False).sum()),
                "unknown": int(values.null_count()),
            }
        campaigns = ()
        if CAMPAIGN_ID in frame.columns:
            campaigns = tuple(sorted(frame.get_column(CAMPAIGN_ID).drop_nulls().unique()))
        facts.append(
            SideTableFacts(table, frame.height, tuple(frame.columns), source, consent, campaigns)
        )
    return facts


# --- what the Data page reads -------------------------------------------------------------------
def table_preview(
    ws: Workspace, dataset: str, table: str = EVENTS, rows: int = 100
) -> pl.DataFrame:
    """The first ``rows`` rows of one of a dataset's tables (empty when it has none)."""
    lf = ws.scan_frame(dataset, table)
    return pl.DataFrame() if lf is None else lf.head(rows).collect()


def events_per_day(ws: Workspace, dataset: str) -> pl.DataFrame:
    """``day`` (UTC date) and ``events`` (count) over the whole dataset."""
    lf = ws.scan_frame(dataset, EVENTS)
    if lf is None:
        return pl.DataFrame(schema={"day": pl.Date(), "events": pl.UInt32()})
    return (
        lf.select(pl.col(EVENT_TIME).dt.date().alias("day"))
        .drop_nulls()
        .group_by("day")
        .len(name="events")
        .sort("day")
        .collect()
    )


def rejects_csv(ws: Workspace, dataset: str, table: str = REJECTS) -> bytes:
    """Rejected lines (``line, reason, raw``) as CSV bytes; ``table``: ``rejects`` or a side
    table's (``side_rejects('users')``)."""
    rejects = ws.read_frame(dataset, table)
    if rejects is None:
        rejects = pl.DataFrame(schema=_REJECTS_SCHEMA)
    return rejects.write_csv().encode("utf-8")
