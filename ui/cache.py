"""Cached reads for the pages: ``st.cache_data`` keyed on (dataset, fingerprint, spec).

The workspace argument is ``_ws`` (not hashed): the fingerprint already identifies the data, so
two tabs, or a rerun after an unrelated widget change, reuse the result. Each domain has its
own section below; add new wrappers to the section of their domain.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import streamlit as st

from analytics.core.schema import EVENT_TIME
from analytics.core.workspace import Workspace
from models.campaigns.audience import AudienceInputs, AudienceSpec

__all__ = [
    "MAX_MAP_POINTS",
    "audience_inputs",
    "audience_preview",
    "cached_segmentation",
    "events_per_day",
    "frame_preview",
    "item_names",
    "map_frame",
    "recommendations",
    "rejects_csv",
    "store_overview",
]

MAX_MAP_POINTS = 200_000  # WebGL draws this many smoothly; beyond, a random sample is drawn

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
    """KPIs, trend, cohorts, funnel and RFM groups of a dataset (``analytics.overview.kpis``)."""
    from analytics.overview.kpis import store_overview as compute

    return compute(_ws.events(dataset), active_days=active_days)


# --- segments (Segments page) -----------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def cached_segmentation(_ws: Workspace, dataset: str, fingerprint: str, stamp: str) -> Any:
    """The persisted segmentation (``stamp`` = the run record's time, so a rerun refreshes it)."""
    from models.segments.service import load_segmentation

    return load_segmentation(_ws, dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def map_frame(_ws: Workspace, dataset: str, fingerprint: str, stamp: str) -> pl.DataFrame:
    """Segments joined with hover features and any ``scores_<target>``, sampled to the cap."""
    seg = _ws.read_frame(dataset, "segments")
    if seg is None:
        return pl.DataFrame()
    feats = _ws.read_frame(dataset, "features")
    if feats is not None:
        keep = [c for c in feats.columns if c != "user_id" and feats[c].dtype.is_numeric()]
        seg = seg.join(feats.select("user_id", *keep), on="user_id", how="left")
    for name in _ws.list_artifacts(dataset):
        if name.startswith("scores_"):
            scores = _ws.read_frame(dataset, name)
            if scores is not None and "score_100" in scores.columns:
                col = pl.col("score_100").cast(pl.Float64).alias(f"score: {name[7:]}")
                seg = seg.join(scores.select("user_id", col), on="user_id", how="left")
    if seg.height > MAX_MAP_POINTS:
        seg = seg.sample(MAX_MAP_POINTS, seed=7)
    return seg


# --- recommendations (Recommendations page) ---------------------------------------------------


def _recs_stamp(ws: Workspace, dataset: str) -> str:
    """Changes whenever recommendations are recomputed (keys the cache below)."""
    path = ws.dataset_dir(dataset) / "recs_report.json"
    return f"{path.stat().st_mtime_ns}" if path.exists() else "none"


@st.cache_data(show_spinner=False, max_entries=8)
def _recommendations(_ws: Workspace, dataset: str, fingerprint: str, stamp: str) -> Any:
    from models.recommend.service import load_recommendations

    return load_recommendations(_ws, dataset)


def recommendations(ws: Workspace, dataset: str) -> Any:
    """The persisted ``RecommendResult`` (None before the first run), refreshed by a rerun."""
    fingerprint = ws.dataset(dataset).fingerprint
    return _recommendations(ws, dataset, fingerprint, _recs_stamp(ws, dataset))


@st.cache_data(show_spinner=False, max_entries=8)
def _item_names(_ws: Workspace, dataset: str, fingerprint: str) -> pl.DataFrame:
    from models.recommend.service import item_names as names

    return names(_ws, dataset)


def item_names(ws: Workspace, dataset: str) -> pl.DataFrame:
    """Item id, name and category of a dataset's catalogue."""
    return _item_names(ws, dataset, ws.dataset(dataset).fingerprint)


# --- campaigns (Campaigns page) ---------------------------------------------------------------


def _campaign_stamp(ws: Workspace, dataset: str) -> str:
    """Changes whenever an artifact or campaign record of the dataset changes: the cache key."""
    files = sorted((p.name, p.stat().st_mtime_ns) for p in ws.dataset_dir(dataset).glob("*"))
    records = [(r.kind, r.key, str(r.created_at)) for r in ws.list_records("campaign", dataset)]
    return json.dumps([ws.dataset(dataset).fingerprint, files, records])


@st.cache_data(show_spinner="Loading segments, scores and lists…", max_entries=8)
def _audience_inputs(_ws: Workspace, dataset: str, stamp: str) -> AudienceInputs:
    from models.campaigns.service import audience_inputs as load

    return load(_ws, dataset)


def audience_inputs(ws: Workspace, dataset: str) -> AudienceInputs:
    """Everything an audience can use, cached until the dataset's artifacts change."""
    return _audience_inputs(ws, dataset, _campaign_stamp(ws, dataset))


@st.cache_data(show_spinner=False, max_entries=64)
def _audience_preview(
    _ws: Workspace, dataset: str, stamp: str, spec_json: str, _spec: AudienceSpec
) -> Any:
    from models.campaigns.service import preview_audience

    return preview_audience(_ws, dataset, _spec, audience_inputs(_ws, dataset))


def audience_preview(ws: Workspace, dataset: str, spec_json: str, spec: AudienceSpec) -> Any:
    """``(audience, summary)`` of an audience spec (``spec_json`` is its hashable key)."""
    return _audience_preview(ws, dataset, _campaign_stamp(ws, dataset), spec_json, spec)
