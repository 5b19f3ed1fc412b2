"""Cached reads for the pages: ``st.cache_data`` keyed on (dataset, fingerprint, spec).

The workspace argument is ``_ws`` (not hashed): the fingerprint already identifies the data, so
two tabs, or a rerun after an unrelated widget change, reuse the result. Each domain has its
own section below; add new wrappers to the section of their domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
import streamlit as st

from analytics.core.artifacts import EVENTS, REJECTS
from analytics.core.workspace import Workspace
from analytics.ingest import service as datasets
from models.campaigns.service import AudienceInputs, AudienceSpec

if TYPE_CHECKING:  # the segments service imports torch: load it only when a page needs it
    from analytics.overview.service import StoreOverview
    from models.recommend.service import RecommendResult, SegmentBestSellers
    from models.segments.service import ClassicRfm, SegmentationResult, SegmentMap

__all__ = [
    "audience_inputs",
    "audience_preview",
    "cached_segmentation",
    "classic_rfm",
    "events_per_day",
    "frame_preview",
    "item_names",
    "recommendations",
    "rejects_csv",
    "segment_best_sellers",
    "segment_map",
    "segmentation_stamp",
    "similar_products",
    "store_overview",
]

# --- datasets (Data page) ---------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def frame_preview(
    _ws: Workspace, dataset: str, fingerprint: str, table: str = EVENTS, rows: int = 100
) -> pl.DataFrame:
    """The first ``rows`` rows of one of a dataset's tables (``events``, ``users`` ...)."""
    return datasets.table_preview(_ws, dataset, table, rows)


@st.cache_data(show_spinner=False, max_entries=32)
def events_per_day(_ws: Workspace, dataset: str, fingerprint: str) -> pl.DataFrame:
    """``day`` (UTC date) and ``events`` (count) over the whole dataset."""
    return datasets.events_per_day(_ws, dataset)


@st.cache_data(show_spinner=False, max_entries=32)
def rejects_csv(_ws: Workspace, dataset: str, fingerprint: str, table: str = REJECTS) -> bytes:
    """The rejected lines (``line, reason, raw``) as CSV bytes for the download button."""
    return datasets.rejects_csv(_ws, dataset, table)


# --- overview (Overview page) -----------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def store_overview(
    _ws: Workspace, dataset: str, fingerprint: str, active_days: int = 28
) -> StoreOverview:
    """KPIs, trend, cohorts, funnel and RFM groups of a dataset, until its data changes."""
    from analytics.overview.service import store_overview as compute

    return compute(_ws, dataset, active_days=active_days)


# --- segments (Segments page) -----------------------------------------------------------------


def segmentation_stamp(ws: Workspace, dataset: str) -> str | None:
    """The segments' cache key: changes on a segment run or a retrained predictor (None: no run)."""
    from models.segments.service import segmentation_stamp as stamp

    return stamp(ws, dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def cached_segmentation(
    _ws: Workspace, dataset: str, fingerprint: str, stamp: str
) -> SegmentationResult | None:
    """The persisted segmentation (``stamp`` from ``segmentation_stamp``)."""
    from models.segments.service import load_segmentation

    return load_segmentation(_ws, dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def segment_map(_ws: Workspace, dataset: str, fingerprint: str, stamp: str) -> SegmentMap | None:
    """The map's points and colour choices (scores included as soon as a predictor is trained)."""
    from models.segments.service import segment_map as load

    return load(_ws, dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def classic_rfm(_ws: Workspace, dataset: str, fingerprint: str, stamp: str) -> ClassicRfm | None:
    """The classic RFM groups and how the learned segments spread over them."""
    from models.segments.service import classic_rfm as load

    return load(_ws, dataset)


# --- recommendations (Recommendations page) ---------------------------------------------------


def _recs_stamp(ws: Workspace, dataset: str) -> tuple[str, str]:
    """(fingerprint, run stamp): changes with the data or a new run (keys the caches below)."""
    from models.recommend.service import recommendations_stamp

    return ws.dataset(dataset).fingerprint, recommendations_stamp(ws, dataset) or "none"


@st.cache_data(show_spinner=False, max_entries=8)
def _recommendations(
    _ws: Workspace, dataset: str, stamp: tuple[str, str]
) -> RecommendResult | None:
    from models.recommend.service import load_recommendations

    return load_recommendations(_ws, dataset)


def recommendations(ws: Workspace, dataset: str) -> RecommendResult | None:
    """The persisted ``RecommendResult`` (None before the first run), refreshed by a rerun."""
    return _recommendations(ws, dataset, _recs_stamp(ws, dataset))


@st.cache_data(show_spinner=False, max_entries=8)
def _item_names(_ws: Workspace, dataset: str, fingerprint: str) -> pl.DataFrame:
    from models.recommend.service import item_names as names

    return names(_ws, dataset)


def item_names(ws: Workspace, dataset: str) -> pl.DataFrame:
    """Item id, name and category of a dataset's catalogue."""
    return _item_names(ws, dataset, ws.dataset(dataset).fingerprint)


@st.cache_data(show_spinner=False, max_entries=8)
def _similar_products(_ws: Workspace, dataset: str, stamp: tuple[str, str]) -> pl.DataFrame | None:
    from models.recommend.service import similar_products as similar

    return similar(_ws, dataset, item_names(_ws, dataset))


def similar_products(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    """Every product's "also bought" rows with names (None before the first run)."""
    return _similar_products(ws, dataset, _recs_stamp(ws, dataset))


@st.cache_data(show_spinner=False, max_entries=8)
def _segment_best_sellers(
    _ws: Workspace, dataset: str, stamp: tuple[str, str]
) -> SegmentBestSellers | None:
    from models.recommend.service import segment_best_sellers as best

    return best(_ws, dataset, item_names(_ws, dataset))


def segment_best_sellers(ws: Workspace, dataset: str) -> SegmentBestSellers | None:
    """Each segment's recent best sellers, and the segments without any."""
    return _segment_best_sellers(ws, dataset, _recs_stamp(ws, dataset))


# --- campaigns (Campaigns page) ---------------------------------------------------------------


def _campaign_stamp(ws: Workspace, dataset: str) -> str:
    """Changes whenever the data, an artifact or a campaign or audience record changes."""
    from models.campaigns.service import campaign_stamp

    return campaign_stamp(ws, dataset)


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
