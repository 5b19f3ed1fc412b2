"""Errors a user can cause. Each carries a message a marketer can act on; the UI shows it as is."""

from __future__ import annotations

__all__ = [
    "AudienceLabError",
    "CatalogDamaged",
    "DatasetNotFound",
    "DiskFull",
    "IngestError",
    "MappingError",
    "NotEnoughData",
    "SpecError",
    "WorkspaceBusy",
]


class AudienceLabError(Exception):
    """Base of every user-facing error: ``str(err)`` is the message to show."""


class IngestError(AudienceLabError):
    """The file cannot be read at all (wrong format, hostile, empty)."""


class MappingError(AudienceLabError):
    """The columns cannot be mapped to the canonical schema as asked."""


class WorkspaceBusy(AudienceLabError):
    """Another operation is writing this dataset (or the catalog stayed locked too long)."""


class CatalogDamaged(AudienceLabError):
    """The workspace catalog is missing or unreadable; ``doctor --repair`` rebuilds it."""


class DiskFull(AudienceLabError):
    """The disk filled up while saving; the previous version was kept and partial files removed."""


class DatasetNotFound(AudienceLabError):
    """The named dataset is not in the workspace."""


class NotEnoughData(AudienceLabError):
    """The data is too small or too short for the asked computation."""


class SpecError(AudienceLabError):
    """A spec (audience, campaign, export) is malformed or refers to missing things."""
