"""Widget helpers: ``show_x(key) -> value``. Each draws one part of a page and returns its input.

Errors a user can cause (``AudienceLabError``) are shown with ``st.error``, never as a traceback.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from analytics.core.artifacts import EXPOSURES, USERS, side_rejects
from analytics.core.errors import AudienceLabError
from analytics.core.schema import Shape
from analytics.core.workspace import DatasetInfo, Workspace
from analytics.demo.service import DEMO_USERS, load_demo
from analytics.ingest.service import (
    AttachResult,
    Detection,
    attach_table,
    dataset_name_for,
    detect,
    ingest_path,
    mappable_fields,
    propose_mapping,
    propose_side_mapping,
    rejects_csv,
    side_table_facts,
    stale_notice,
)
from ui import cache, charts_data, state
from ui.progress import progress_bar

__all__ = [
    "IngestChoice",
    "default_demo_users",
    "demo_users_override",
    "discard_upload",
    "noted_metric",
    "show_append",
    "show_attach",
    "show_attach_result",
    "show_dataset_facts",
    "show_dataset_manager",
    "show_demo_loader",
    "show_detection",
    "show_encoding_choice",
    "show_ingest_report",
    "show_mapping_editor",
    "show_profile",
    "show_side_mapping",
    "show_side_tables",
    "show_stale_notice",
    "show_upload",
    "show_upload_action",
    "showing_errors",
    "source_words",
]

UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "zip", "parquet", "xlsx", "xls", "json", "jsonl"]
_NOT_IN_FILE = "(not in the file)"
_UPLOAD_PREFIX = "audiencelab-upload-"


# --- shared -----------------------------------------------------------------------------------
def noted_metric(where: Any, label: str, value: str, note: str) -> None:
    """``st.metric`` with a grey note under the value (a fact about it, not a change)."""
    where.metric(label, value, note, delta_color="off", delta_arrow="off")


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
    """The demo store size to offer: the override or the built-in size."""
    return demo_users_override() or DEMO_USERS


def _n(report: dict[str, Any], key: str) -> str:
    value = report.get(key)
    return f"{value:,}" if isinstance(value, int | float) else "—"


def _day(value: Any) -> str:
    return str(value)[:10] if value else "—"


def source_words(info: DatasetInfo) -> str:
    """Where a dataset came from, without the temp folder an upload passed through."""
    source = Path(info.source)
    if source.parent.name.startswith(_UPLOAD_PREFIX):
        return f"uploaded file {source.name}"
    return info.source


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
    table = "users" if info.shape == Shape.CUSTOMERS else "events"
    st.markdown(f"**Preview of the canonical {'customers' if table == 'users' else 'events'}**")
    st.dataframe(cache.frame_preview(ws, info.name, info.fingerprint, table), height=300)


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

    with showing_errors(), progress_bar("Generating the demo store") as progress:
        load_demo(ws, users=int(users), progress=progress)
        return "demo"
    return None


def _save_upload(uploaded: Any) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=_UPLOAD_PREFIX))
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
    """What the user confirmed in the mapping step; ``mapping`` is None for the proposed one."""

    name: str
    shape: str
    mapping: dict[str, str] | None
    day_first: bool | None
    missing: str  # what the user must still answer before ingesting; "" when ready

    @property
    def ready(self) -> bool:
        return not self.missing


_SHAPE_WORDS = {
    Shape.EVENTS.value: "an action of a user (events)",
    Shape.TRANSACTIONS.value: "an order line (transactions)",
    Shape.CUSTOMERS.value: "a customer (customer table)",
}


def _show_column_choice(
    columns: list[str], target: str, source: str | None, confidence: float | None, key: str
) -> str | None:
    options = [_NOT_IN_FILE, *columns]
    sure = f" · {confidence:.0%} sure" if source and confidence is not None else ""
    picked = st.selectbox(
        f"{target}{sure}",
        options,
        index=options.index(source) if source in options else 0,
        key=key,
        help=_FIELD_HELP.get(target),
    )
    return None if picked == _NOT_IN_FILE else picked


_FIELD_HELP = {
    "user_id": "Who acted: a customer or visitor id. Rows without one are counted, not dropped.",
    "event_time": "When: a date, date and time, or epoch seconds / milliseconds.",
    "event_type": "What happened: view, cart, fav, purchase, refund (other words are mapped).",
    "revenue": "Money of the row; if absent it is price × quantity for purchases.",
    "order_id": "Invoice or order number; cancelled invoices (e.g. starting with C) are refunds.",
}


ENCODINGS = ("utf-8", "cp1252", "latin-1", "cp1250", "gb18030", "big5", "shift_jis", "utf-16")


def show_encoding_choice(pending: dict[str, Any], key: str) -> None:
    """When the encoding detector is unsure, let the user pick one; the file is read again."""
    detection: Detection = pending["detection"]
    if not detection.encoding_unsure and not pending.get("encoding"):
        return
    detected = pending.get("detected_encoding") or detection.encoding or "utf-8"
    options = [detected, *[e for e in ENCODINGS if e != detected]]
    picked = st.selectbox(
        "The text encoding is not certain: check the preview and pick the one that reads right",
        options,
        index=options.index(pending.get("encoding") or detected),
        key=f"{key}_{pending['file_id']}",
    )
    if picked == (pending.get("encoding") or detected):
        return
    with showing_errors():
        pending = {**pending, "detected_encoding": detected, "encoding": picked}
        pending["detection"] = detect(pending["path"], encoding=picked)
        state.set_upload(pending)
        st.rerun()


def show_detection(detection: Detection) -> None:
    """What was detected: format, encoding, delimiter, header; a preview of the raw rows."""
    facts = [f"format **{detection.format}**"]
    if detection.compression:
        facts.append(f"compressed **{detection.compression}**")
    if detection.encoding:
        facts.append(f"encoding **{detection.encoding}**")
    if detection.delimiter:
        shown = {"\t": "tab", " ": "spaces"}.get(detection.delimiter, detection.delimiter)
        facts.append(f"delimiter **{shown}**")
    if detection.time_format:
        facts.append(f"times **{detection.time_format}**")
    facts.append("with a header row" if detection.has_header else "no header row")
    st.markdown("Detected " + " · ".join(facts))
    st.dataframe(detection.preview, height=210)


def show_mapping_editor(pending: dict[str, Any], key: str) -> IngestChoice:
    """Shape, dataset name, each canonical column's source, and the day/month order if unclear."""
    detection: Detection = pending["detection"]
    key = f"{key}_{pending['file_id']}"
    shapes = [s.value for s in Shape]
    left, right = st.columns(2)
    shape = left.selectbox(
        "One row of this file is…",
        shapes,
        index=shapes.index(str(detection.shape)),
        format_func=_SHAPE_WORDS.get,
        key=f"{key}_shape",
    )
    name = right.text_input(
        "Dataset name", dataset_name_for(pending["name"]), key=f"{key}_name"
    ).strip()
    proposed, confidence = propose_mapping(detection, shape)
    st.markdown(
        "**Which column holds what?** (checked automatically; change any you disagree with)"
    )
    grid = st.columns(3)
    mapping: dict[str, str] = {}
    for i, target in enumerate(mappable_fields(shape)):
        with grid[i % 3]:
            source = _show_column_choice(
                [str(c) for c in detection.columns],
                target,
                proposed.get(target),
                confidence.get(target),
                f"{key}_{shape}_{target}",
            )
        if source:
            mapping[target] = source
    for warning in detection.warnings:
        st.warning(warning, icon=":material/warning:")
    answered, day_first = _show_day_order(detection, key)
    missing = ""
    if not answered:
        missing = "Say how the dates are written (above) to ingest."
    if not name:
        missing = "Give the dataset a name to ingest."
    return IngestChoice(name, shape, None if mapping == proposed else mapping, day_first, missing)


_DAY_ORDER = {
    "check": "Check every row, and stop with a question if none settles it",
    "day": "Day first: 04/03/2024 is 4 March",
    "month": "Month first: 04/03/2024 is April 3",
}


def _show_day_order(detection: Detection, key: str) -> tuple[bool, bool | None]:
    """(answered, day_first): the user must answer when the sample leaves the order open."""
    if not detection.ambiguous_dates:
        return True, None
    answer = st.radio(
        "The dates could be read both ways. How are they written in this file?",
        list(_DAY_ORDER),
        index=None,
        format_func=_DAY_ORDER.get,
        key=f"{key}_day_first",
    )
    return answer is not None, {"day": True, "month": False}.get(answer or "")


# --- growing a dataset: append and side tables -------------------------------------------------
NEW, APPEND = "new", "append"
_SIDE_WORDS = {
    USERS: "customer details (users table: e-mail, consent, country ...)",
    EXPOSURES: "campaign sends (exposures table: customer, campaign, arm, time)",
}
_SIDE_FIELD_HELP = {
    "user_id": "The customer id, as in the dataset. Ids the dataset does not know are kept.",
    "consent_email": "E-mail consent: yes/no, true/false, 1/0, Y/N, 是/否 ... (else unknown).",
    "campaign": "Which campaign; without one, the file name is the campaign.",
    "arm": "Treatment or control (the group held out).",
    "event_time": "When the campaign was sent.",
}


def show_upload_action(ws: Workspace, dataset: str | None, key: str) -> str:
    """What to do with the uploaded file: a new dataset, more rows, or a side table."""
    if dataset is None or not ws.has_dataset(dataset):
        return NEW
    options = [NEW, USERS, EXPOSURES]
    if ws.dataset(dataset).shape != Shape.CUSTOMERS:
        options.insert(1, APPEND)
    words = {
        NEW: "Make it a new dataset",
        APPEND: f"Add its rows to '{dataset}'",
        **{t: f"Attach it to '{dataset}' as {w}" for t, w in _SIDE_WORDS.items()},
    }
    picked = st.radio("What is this file?", options, format_func=words.get, key=key)
    return str(picked)


def show_append(ws: Workspace, pending: dict[str, Any], dataset: str, key: str) -> str | None:
    """The 'Add to this dataset' step; returns the flash message once the rows are added."""
    st.caption(
        f"The rows are read with the column mapping of '{dataset}'. Rows already in it are "
        "counted and skipped; segments, models and lists made before stay and are marked as "
        "made on the older data."
    )
    if not st.button("Add to this dataset", type="primary", key=f"{key}_go"):
        return None
    with showing_errors(), progress_bar("Adding rows") as progress:
        out = ingest_path(
            ws,
            pending["path"],
            name=dataset,
            append=True,
            encoding=pending.get("encoding"),
            progress=progress,
        )
        return (
            f"Added {out['rows_added']:,} rows to '{dataset}' ({out['new_users']:,} new "
            f"customers; {out['duplicates_skipped']:,} rows were already there and skipped)."
        )
    return None


def show_side_mapping(pending: dict[str, Any], table: str, key: str) -> dict[str, str] | None:
    """The proposed mapping of a users or exposures file, editable; None if it cannot be read."""
    with showing_errors():
        proposal = propose_side_mapping(Path(pending["path"]), table)
        st.dataframe(proposal.preview, height=210)
        st.markdown("**Which column holds what?** (checked automatically)")
        grid = st.columns(len(proposal.fields) if len(proposal.fields) <= 4 else 3)
        mapping: dict[str, str] = {}
        for i, target in enumerate(proposal.fields):
            options = [_NOT_IN_FILE, *proposal.columns]
            found = proposal.mapping.get(target)
            picked = grid[i % len(grid)].selectbox(
                target,
                options,
                index=options.index(found) if found in options else 0,
                key=f"{key}_{pending['file_id']}_{table}_{target}",
                help=_SIDE_FIELD_HELP.get(target),
            )
            if picked != _NOT_IN_FILE:
                mapping[target] = picked
        return mapping
    return None


def show_attach(
    ws: Workspace, pending: dict[str, Any], dataset: str, table: str, key: str
) -> AttachResult | None:
    """Mapping preview and the Attach button; the result once attached."""
    mapping = show_side_mapping(pending, table, key)
    if mapping is None:
        return None
    if not st.button("Attach", type="primary", key=f"{key}_go"):
        return None
    with showing_errors(), progress_bar("Attaching") as progress:
        return attach_table(ws, dataset, table, pending["path"], mapping=mapping, progress=progress)
    return None


def show_attach_result(ws: Workspace, result: AttachResult) -> None:
    """Rows read / accepted / rejected, customers matched, and the ids the dataset does not know."""
    cols = st.columns(5)
    cols[0].metric("Rows read", f"{result.rows_read:,}")
    cols[1].metric("Rows accepted", f"{result.rows_accepted:,}")
    cols[2].metric("Rows rejected", f"{result.rows_rejected:,}")
    cols[3].metric("Matched customers", f"{result.matched_users:,}")
    cols[4].metric("Unknown ids", f"{result.unmatched_ids:,}")
    st.success(
        f"Attached the {result.table} table to '{result.dataset}'.", icon=":material/check_circle:"
    )
    if result.unmatched_ids:
        shown = ", ".join(result.unmatched_sample)
        more = " …" if result.unmatched_ids > len(result.unmatched_sample) else ""
        st.warning(
            f"{result.unmatched_ids:,} ids are not customers of '{result.dataset}' (kept, in case "
            f"they buy later): {shown}{more}",
            icon=":material/warning:",
        )
    if result.consent_unread:
        st.caption(f"{result.consent_unread:,} consent values were not yes or no: kept as unknown.")
    if result.rows_rejected:
        st.download_button(
            "Download the rejected lines (CSV)",
            data=rejects_csv(ws, result.dataset, side_rejects(result.table)),
            file_name=f"{result.dataset}-{result.table}-rejected.csv",
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
            key="side_rejects",
        )


def show_side_tables(ws: Workspace, dataset: str) -> None:
    """The attached users and exposures tables: rows, consent counts, campaigns, columns."""
    facts = side_table_facts(ws, dataset)
    if not facts:
        return
    st.subheader("Attached tables")
    for f in facts:
        lines = [f"**{f.table}** · {f.rows:,} rows"]
        if f.source:
            lines.append(f"from {Path(f.source).name}")
        if f.consent is not None:
            lines.append(", ".join(f"{n:,} {k}" for k, n in f.consent.items()) + " (e-mail)")
        if f.campaigns:
            lines.append("campaigns: " + ", ".join(f.campaigns))
        st.markdown(" · ".join(lines))
        st.caption("Columns: " + ", ".join(f.columns))


def show_stale_notice(ws: Workspace, dataset: str) -> None:
    """Say which results were computed before the data last grew."""
    notice = stale_notice(ws, dataset)
    if notice is not None:
        st.info(
            f"{notice.what} on {notice.changed_at[:10]}. Results made before (segments, models, "
            "lists) are kept; run them again to include the new data.",
            icon=":material/update:",
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
            "added": f"{d.created_at:%Y-%m-%d %H:%M}",
        }
        for d in datasets
    ]
    st.dataframe(
        rows,
        hide_index=True,
        column_config={
            "rows": st.column_config.NumberColumn(format="localized"),
            "users": st.column_config.NumberColumn(format="localized"),
        },
    )
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
