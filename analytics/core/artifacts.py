"""Artifact names: the one place each name a dataset's files are stored under is spelled.

Services write and read artifacts only through these names (``Workspace.write_frame(dataset,
SEGMENTS, ...)``), so a rename is one edit and ``docs/ARCHITECTURE.md`` lists the same set.
Frames are Parquet, cards are JSON, model files are bytes (LightGBM text, torch ``state_dict``).
"""

from __future__ import annotations

import re

__all__ = [
    "ANONYMOUS_EVENTS",
    "EMBEDDER",
    "EMBEDDINGS",
    "EVENTS",
    "EXPOSURES",
    "FEATURES",
    "FUTURE",
    "ITEMS",
    "RECS",
    "RECS_REPORT",
    "RECS_SEGMENTS",
    "RECS_SIMILAR",
    "REJECTS",
    "RFM",
    "SEGMENTS",
    "SEGMENT_PROFILES",
    "TRUTH",
    "UPLIFT",
    "USERS",
    "audience_artifact",
    "campaign_artifact",
    "model_card",
    "reasons_artifact",
    "scores_artifact",
    "shap_artifact",
    "side_rejects",
    "slug",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")

# --- ingest: the data as the shop brought it, in canonical columns ---
EVENTS = "events"
USERS = "users"
EXPOSURES = "exposures"
ITEMS = "items"
REJECTS = "rejects"
ANONYMOUS_EVENTS = "anonymous_events"
# --- demo store only: for evaluation, never read by a model ---
TRUTH = "truth"
FUTURE = "future"
# --- segments ---
FEATURES = "features"
RFM = "rfm"
SEGMENTS = "segments"
SEGMENT_PROFILES = "segment_profiles"
EMBEDDINGS = "embeddings"
EMBEDDER = "segment_embedder"
# --- recommendations ---
RECS = "recs"
RECS_REPORT = "recs_report"
RECS_SIMILAR = "recs_similar"
RECS_SEGMENTS = "recs_segments"
# --- campaigns ---
UPLIFT = "uplift"


def side_rejects(table: str) -> str:
    """Rejected rows of an attached side table (``users``, ``exposures``)."""
    return f"rejects_{table}"


def scores_artifact(target: str) -> str:
    """Per-customer scores of a predictor (``scores_purchase``)."""
    return f"scores_{target}"


def reasons_artifact(target: str) -> str:
    """Top SHAP reasons per customer of a predictor."""
    return f"reasons_{target}"


def shap_artifact(target: str) -> str:
    """The beeswarm sample of a predictor's SHAP values."""
    return f"shap_{target}"


def model_card(target: str) -> str:
    """The JSON model card of a predictor."""
    return f"model_{target}"


def audience_artifact(slug: str) -> str:
    """A saved audience's customer list."""
    return f"audience_{slug}"


def campaign_artifact(slug: str) -> str:
    """An exported campaign's list (``user_id, group``)."""
    return f"campaign_{slug}"


def slug(name: str) -> str:
    """The file-safe form of an audience or campaign name (``VIP / DE`` -> ``VIP_DE``)."""
    return _UNSAFE.sub("_", str(name)).strip("_.-") or "x"
