"""Cached reads for the pages: ``st.cache_data`` keyed on (dataset, fingerprint, spec).

The workspace argument is ``_ws`` (not hashed): the fingerprint already identifies the data, so
two tabs, or a rerun after an unrelated widget change, reuse the result. Each domain has its
own section below; add new wrappers to the section of their domain.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.schema import EVENT_TIME
from analytics.workspace import Workspace

__all__ = ["events_per_day", "frame_preview", "rejects_csv"]

# --- datasets (Data page) ---------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def frame_preview(
    _ws: Workspace, dataset: str, fingerprint: str, table: str = "events", rows: int = 100
) -> pl.DataFrame:
    """The first ``rows`` rows of one of a dataset's tables (``events``, ``users`` ...)."""
    lf = _ws.scan_frame(dataset, table)
    return pl.DataFrame() if lf is None else lf.head(rows).collect()


@st.cache_data(show_spinner=False, max_entries=32)
def events_per_day(_ws: Workspace, dataset: str, fingerprint: str) -> pl.DataFrame:
    """``day`` (UTC date) and ``events`` (count) over the whole dataset."""
    lf = _ws.scan_frame(dataset, "events")
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


@st.cache_data(show_spinner=False, max_entries=32)
def rejects_csv(_ws: Workspace, dataset: str, fingerprint: str) -> bytes:
    """The rejected lines (``line, reason, raw``) as CSV bytes for the download button."""
    rejects = _ws.read_frame(dataset, "rejects")
    if rejects is None:
        rejects = pl.DataFrame(
            schema={"line": pl.Int64(), "reason": pl.String(), "raw": pl.String()}
        )
    return rejects.write_csv().encode("utf-8")


# --- overview (Overview page) -----------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def store_overview(_ws: Workspace, dataset: str, fingerprint: str, active_days: int = 28):
    """KPIs, trend, cohorts, funnel and RFM groups of a dataset (``analytics.overview``)."""
    from analytics.overview import store_overview as compute

    return compute(_ws.events(dataset), active_days=active_days)
