"""Widget helpers: ``show_x(key) -> value``. Each draws one part of a page and returns its input.

Errors a user can cause (``AudienceLabError``) are shown with ``st.error``, never as a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from analytics.errors import AudienceLabError
from analytics.schema import EVENTS_SCHEMA, USER_ID, Shape
from analytics.workspace import DatasetInfo, Workspace
from ui import cache, charts_data, state
from ui.progress import progress_bar

__all__ = [
    "IngestChoice",
    "default_demo_users",
    "demo_users_override",
    "discard_upload",
    "show_dataset_facts",
    "show_dataset_manager",
    "show_demo_loader",
    "show_detection",
    "show_ingest_report",
    "show_mapping_editor",
    "show_profile",
    "show_upload",
    "showing_errors",
]

UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "zip", "parquet", "xlsx", "xls", "json", "jsonl"]
_NOT_IN_FILE = "(not in the file)"
_DEMO_USERS = 20_000


# --- shared -----------------------------------------------------------------------------------
@contextmanager
def showing_errors() -> Iterator[None]:
    """Show a user error from the core as ``st.error(message)`` and carry on drawing."""
    try:
        yield
    except AudienceLabError as err:
        st.error(str(err), icon=":material/error:")


def demo_users_override() -> int | None:
    """``$AUDIENCELAB_DEMO_USERS`` (so tests and small machines start small), else None."""
    text = os.environ.get("AUDIENCELAB_DEMO_USERS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def default_demo_users() -> int:
    """The demo store size to offer: the override or 20,000."""
    return demo_users_override() or _DEMO_USERS


def _n(report: dict[str, Any], key: str) -> str:
    value = report.get(key)
    return f"{value:,}" if isinstance(value, int | float) else "—"


def _day(value: Any) -> str:
    return str(value)[:10] if value else "—"


def show_dataset_facts(info: DatasetInfo) -> None:
    """A few lines about a dataset: shape, rows, users, date range."""
    r = info.report
    st.caption(
        f"**{info.shape}** · {_n(r, 'rows_accepted')} rows · {_n(r, 'users')} users  \n"
        f"{_day(r.get('first_event'))} → {_day(r.get('last_event'))}  \n"
        f"added {info.created_at:%Y-%m-%d %H:%M}"
    )


# --- ingest report and profile ----------------------------------------------------------------
def show_ingest_report(ws: Workspace, info: DatasetInfo) -> None:
    """Rows read / accepted / rejected (by reason, downloadable) and the ingest warnings."""
    r = info.report
    cols = st.columns(4)
    cols[0].metric("Rows read", _n(r, "rows_read"))
    cols[1].metric("Rows accepted", _n(r, "rows_accepted"))
    cols[2].metric("Rows rejected", _n(r, "rows_rejected"))
    cols[3].metric("Users", _n(r, "users"))
    if r.get("rows_without_user"):
        st.caption(
            f"{_n(r, 'rows_without_user')} accepted rows have no user id: they count in the "
            "store totals but not in per-customer analyses."
        )
    for warning in r.get("warnings") or []:
        st.warning(warning, icon=":material/warning:")
    by_reason = r.get("rejected_by_reason") or {}
    if not by_reason:
        st.success("Every row was accepted.", icon=":material/check_circle:")
        return
    st.markdown("**Rejected rows by reason**")
    st.plotly_chart(charts_data.rejects_chart(by_reason), key="rejects_chart")
    st.download_button(
        "Download the rejected lines (CSV)",
        data=cache.rejects_csv(ws, info.name, info.fingerprint),
        file_name=f"{info.name}-rejected.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
    )


def show_profile(ws: Workspace, info: DatasetInfo) -> None:
    """Users, events by type, date range, revenue, events per day and a preview."""
    r = info.report
    cols = st.columns(3)
    cols[0].metric("First event", _day(r.get("first_event")))
    cols[1].metric("Last event", _day(r.get("last_event")))
    revenue = r.get("revenue_total")
    cols[2].metric("Revenue", f"{revenue:,.2f}" if isinstance(revenue, int | float) else "—")
    left, right = st.columns([1, 2])
    if r.get("events_by_type"):
        left.markdown("**Events by type**")
        left.plotly_chart(charts_data.events_by_type_chart(r["events_by_type"]), key="by_type")
    per_day = cache.events_per_day(ws, info.name, info.fingerprint)
    if per_day.height:
        right.markdown("**Events per day**")
        right.plotly_chart(charts_data.events_per_day_chart(per_day), key="per_day")
    st.markdown("**Preview of the canonical events**")
    st.dataframe(cache.events_preview(ws, info.name, info.fingerprint), height=300)


# --- adding data ------------------------------------------------------------------------------
def show_demo_loader(ws: Workspace, key: str) -> str | None:
    """A size input and a button that (re)generates the demo store; returns 'demo' when done."""
    st.write(
        "A synthetic store with customers of several kinds, 180 days of views, carts, favourites, "
        "purchases and refunds, and a past e-mail campaign. Same seed, same data."
    )
    users = st.number_input(
        "Customers", 500, 200_000, default_demo_users(), step=500, key=f"{key}_users"
    )
    if not st.button("Generate the demo store", key=f"{key}_go", type="primary"):
        return None
    from services.demo import load_demo

    with showing_errors(), progress_bar("Generating the demo store") as progress:
        load_demo(ws, users=int(users), progress=progress)
        return "demo"
    return None


def _save_upload(uploaded: Any) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="audiencelab-upload-"))
    path = folder / (Path(uploaded.name).name or "upload")
    with open(path, "wb") as fh:
        shutil.copyfileobj(uploaded, fh, 1 << 20)
    return path


def discard_upload() -> None:
    """Forget the pending upload and remove its temp copy."""
    pending = state.upload()
    if pending:
        shutil.rmtree(Path(pending["path"]).parent, ignore_errors=True)
    state.set_upload(None)


def show_upload(key: str) -> dict[str, Any] | None:
    """A file uploader; saves the file to a temp copy and detects its layout once per file.

    Returns ``{"file_id", "name", "path", "detection"}`` or None.
    """
    uploaded = st.file_uploader(
        "Your file: events, order lines or a customer table", type=UPLOAD_TYPES, key=key
    )
    pending = state.upload()
    if uploaded is None:
        if pending:
            discard_upload()
        return None
    if pending and pending["file_id"] == uploaded.file_id:
        return pending
    discard_upload()
    from services.datasets import detect

    path = _save_upload(uploaded)
    with showing_errors(), st.spinner("Reading the file"):
        detection = detect(path)
        pending = {"file_id": uploaded.file_id, "name": uploaded.name, "path": str(path)}
        pending["detection"] = detection
        state.set_upload(pending)
        return pending
    shutil.rmtree(path.parent, ignore_errors=True)
    return None


# --- mapping ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestChoice:
    """What the user confirmed in the mapping step; ``mapping`` is None for the detected one."""

    name: str
    shape: str
    mapping: dict[str, str] | None
    day_first: bool | None
    ready: bool


def _dataset_name_from(file_name: str) -> str:
    stem = file_name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("_.-")[:80] or "dataset"


def _targets(shape: str, detection: Any) -> list[str]:
    """Canonical columns the user may map for ``shape``: detected ones first."""
    base = [USER_ID] if shape == Shape.CUSTOMERS else list(EVENTS_SCHEMA)
    detected = list(detection.mapping) if shape == str(detection.shape) else []
    return list(dict.fromkeys(detected + base))


def _confidence(detection: Any, target: str, source: str | None) -> float | None:
    conf = detection.confidence or {}
    value = conf.get(target, conf.get(source) if source else None)
    return float(value) if isinstance(value, int | float) else None


def _show_column_choice(detection: Any, target: str, key: str) -> str | None:
    columns = [str(c) for c in detection.columns]
    source = (detection.mapping or {}).get(target)
    options = [_NOT_IN_FILE, *columns]
    conf = _confidence(detection, target, source)
    help_text = f"Detected with {conf:.0%} confidence." if conf is not None and source else None
    label = f"{target}" + (f" · {conf:.0%} sure" if conf is not None and source else "")
    index = options.index(source) if source in options else 0
    picked = st.selectbox(label, options, index=index, key=key, help=help_text)
    return None if picked == _NOT_IN_FILE else picked


def show_detection(detection: Any) -> None:
    """What was detected: format, encoding, delimiter, header; a preview of the raw rows."""
    facts = [f"format **{detection.format}**", f"encoding **{detection.encoding}**"]
    if detection.delimiter:
        facts.append(f"delimiter **{detection.delimiter!r}**")
    facts.append("with a header row" if detection.has_header else "no header row")
    st.markdown("Detected " + " · ".join(facts))
    if detection.preview is not None:
        st.dataframe(detection.preview, height=200)


def show_mapping_editor(pending: dict[str, Any], key: str) -> IngestChoice:
    """Shape, dataset name, each canonical column's source, and the day/month order if unclear."""
    detection = pending["detection"]
    key = f"{key}_{pending['file_id']}"
    shapes = [s.value for s in Shape]
    detected_shape = str(detection.shape)
    left, right = st.columns(2)
    shape = left.selectbox(
        "One row of this file is…",
        shapes,
        index=shapes.index(detected_shape) if detected_shape in shapes else 0,
        format_func=_SHAPE_WORDS.get,
        key=f"{key}_shape",
    )
    name = right.text_input(
        "Dataset name", _dataset_name_from(pending["name"]), key=f"{key}_name"
    ).strip()
    st.markdown("**Which column holds what?**")
    grid = st.columns(3)
    mapping: dict[str, str] = {}
    for i, target in enumerate(_targets(shape, detection)):
        with grid[i % 3]:
            source = _show_column_choice(detection, target, f"{key}_{shape}_{target}")
        if source:
            mapping[target] = source
    day_first = _show_day_order(detection, key)
    unchanged = shape == detected_shape and mapping == _detected_mapping(detection)
    ready = bool(name) and (day_first is not None or not _dates_ambiguous(detection))
    return IngestChoice(name, shape, None if unchanged else mapping, day_first, ready)


_SHAPE_WORDS = {
    Shape.EVENTS.value: "an action of a user (events)",
    Shape.TRANSACTIONS.value: "an order line (transactions)",
    Shape.CUSTOMERS.value: "a customer (customer table)",
}


def _detected_mapping(detection: Any) -> dict[str, str]:
    return {k: str(v) for k, v in (detection.mapping or {}).items() if v}


def _dates_ambiguous(detection: Any) -> bool:
    return any(
        "day" in str(w).lower() and "month" in str(w).lower() for w in detection.warnings or []
    )


def _show_day_order(detection: Any, key: str) -> bool | None:
    for warning in detection.warnings or []:
        st.warning(str(warning), icon=":material/warning:")
    if not _dates_ambiguous(detection):
        return None
    return st.radio(
        "How are the dates in this file written?",
        [True, False],
        index=None,
        format_func=lambda d: (
            "Day first: 04/03/2024 is 4 March" if d else "Month first: 04/03/2024 is April 3"
        ),
        key=f"{key}_day_first",
    )


# --- managing datasets ------------------------------------------------------------------------
def show_dataset_manager(ws: Workspace, key: str) -> str | None:
    """The datasets of the workspace, and a confirmed delete; returns the deleted name."""
    datasets = ws.list_datasets()
    if not datasets:
        st.info("The workspace has no datasets yet.")
        return None
    rows = [
        {
            "dataset": d.name,
            "shape": d.shape,
            "rows": d.report.get("rows_accepted"),
            "users": d.report.get("users"),
            "first event": _day(d.report.get("first_event")),
            "last event": _day(d.report.get("last_event")),
            "added": d.created_at,
        }
        for d in datasets
    ]
    st.dataframe(rows, hide_index=True)
    st.markdown("**Delete a dataset**")
    name = st.selectbox("Dataset to delete", [d.name for d in datasets], key=f"{key}_pick")
    sure = st.checkbox(
        f"Yes, delete '{name}' and everything derived from it (segments, models, scores, "
        "audiences, campaigns).",
        key=f"{key}_sure_{name}",
    )
    if st.button("Delete", key=f"{key}_go", disabled=not sure, icon=":material/delete:"):
        with showing_errors():
            ws.delete_dataset(name)
            return name
    return None
