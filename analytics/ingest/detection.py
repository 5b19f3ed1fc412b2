"""Detection: what a cheap sniff of a file proposes (shape, mapping, confidences), and the
``IngestSpec`` the user confirms or edits before the whole file is read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import MappingError
from analytics.core.schema import (
    EVENT_TIME,
    USER_ID,
    Shape,
)
from analytics.ingest.mapping import MAPPABLE, auto_map, experiment_columns
from analytics.ingest.readers import Sniff, sniff_file
from analytics.ingest.times import is_zone

PREVIEW_ROWS = 20


@dataclass(frozen=True)
class Detection:
    """What a cheap sniff of a file proposes; the UI shows it and lets the user edit the mapping."""

    format: str  # csv | parquet | excel | jsonl
    encoding: str | None
    delimiter: str | None  # "," ";" "\t" "|" or " " for runs of whitespace
    has_header: bool
    columns: list[str]
    shape: Shape
    mapping: dict[str, str]  # canonical column -> source column
    confidence: dict[str, float]  # canonical column -> 0..1
    preview: pl.DataFrame  # first rows, as strings
    warnings: list[str]
    compression: str | None = None
    time_format: str | None = None  # e.g. "epoch seconds", "%Y-%m-%d %H:%M:%S"
    ambiguous_dates: bool = False  # day/month order not settled by the sample
    time_zone: str | None = None  # the zone the file writes its times in (None: naive times)
    encoding_confidence: float | None = None  # 0..1, the encoding detector's certainty
    encoding_unsure: bool = False  # the detector hesitated: offer the user a choice
    note: str | None = None  # what the file lacks and what can still be done with it
    test_arm: str | None = None  # a column that looks like a test's arm (customer tables)
    outcomes: tuple[str, ...] = ()  # outcome columns measured after that test
    sniff: Sniff | None = field(default=None, repr=False, compare=False)

    def info(self) -> dict[str, Any]:
        """The detection as JSON-able data (stored in the ingest report)."""
        return {
            "format": self.format,
            "compression": self.compression,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "has_header": self.has_header,
            "columns": self.columns,
            "shape": str(self.shape),
            "mapping": self.mapping,
            "confidence": self.confidence,
            "time_format": self.time_format,
            "ambiguous_dates": self.ambiguous_dates,
            "time_zone": self.time_zone,
            "encoding_confidence": self.encoding_confidence,
            "encoding_unsure": self.encoding_unsure,
            "note": self.note,
            "test_arm": self.test_arm,
            "outcomes": list(self.outcomes),
        }


@dataclass(frozen=True)
class IngestSpec:
    """The shape and mapping to ingest with; ``tz`` is the zone of times written without one."""

    shape: Shape
    mapping: dict[str, str]
    day_first: bool | None = None
    tz: str = "UTC"


def detect_file(path: Path, *, encoding: str | None = None) -> Detection:
    """Sniff ``path`` (a sample, not the whole file) and propose shape and mapping.

    ``encoding``: the user's choice of text encoding (a Python codec name), else detected.
    """
    sniff = sniff_file(Path(path), encoding=encoding)
    mapped = auto_map(sniff.sample)
    layout = sniff.layout
    preview = sniff.sample.head(PREVIEW_ROWS).select(pl.all().cast(pl.String))
    tf = mapped.time_format
    arm, outcomes = (
        experiment_columns(sniff.sample) if mapped.shape == Shape.CUSTOMERS else (None, ())
    )
    return Detection(
        format=sniff.format,
        encoding=layout.encoding if layout else None,
        delimiter=layout.delimiter if layout and sniff.format == "csv" else None,
        has_header=layout.has_header if layout else True,
        columns=sniff.columns,
        shape=mapped.shape,
        mapping=mapped.mapping,
        confidence=mapped.confidence,
        preview=preview,
        warnings=[*sniff.warnings, *mapped.warnings],
        compression=sniff.compression,
        time_format=tf.describe() if tf else None,
        ambiguous_dates=bool(tf and tf.ambiguous),
        time_zone=tf.source_zone if tf else None,
        encoding_confidence=layout.confidence if layout else None,
        encoding_unsure=bool(layout and layout.unsure),
        note=what_is_missing(mapped.shape, mapped.mapping, sniff.columns),
        test_arm=arm,
        outcomes=outcomes,
        sniff=sniff,
    )


def resolve_spec(
    detection: Detection,
    *,
    shape: Shape | str | None = None,
    mapping: dict[str, str] | None = None,
    day_first: bool | None = None,
    tz: str = "UTC",
) -> IngestSpec:
    """The spec to ingest with: the user's ``mapping`` when given (complete: canonical -> source,
    a field left out is not mapped), else the detected one (re-detected for a chosen ``shape``)."""
    chosen = Shape(shape) if shape else detection.shape
    if mapping:
        base = dict(mapping)
    elif chosen != detection.shape:
        assert detection.sniff is not None
        base = auto_map(detection.sniff.sample, shape=chosen).mapping
    else:
        base = dict(detection.mapping)
    check_mapping(base, chosen, detection.columns)
    if not is_zone(tz):
        raise MappingError(
            f"'{tz}' is not a time zone we know; use a name like UTC, Europe/Berlin or "
            "Asia/Shanghai."
        )
    return IngestSpec(shape=chosen, mapping=base, day_first=day_first, tz=tz)


def check_mapping(mapping: dict[str, str], shape: Shape, columns: list[str]) -> None:
    allowed = MAPPABLE[shape]
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise MappingError(
            f"'{unknown[0]}' is not a field of a {shape} file; use one of {', '.join(allowed)}."
        )
    missing = [v for v in mapping.values() if v not in columns]
    if missing:
        raise MappingError(
            f"The file has no column '{missing[0]}'. Its columns are: {', '.join(columns)}."
        )
    note = what_is_missing(shape, mapping, columns)
    if note and shape != Shape.CUSTOMERS:
        raise MappingError(note)


_RELATIVE_TIME = re.compile(
    r"days?[\s_]*since|since[\s_]*(?:prior|last)|days?[\s_]*ago|(?:^|_)dow$|day[\s_]*of[\s_]*week"
    r"|hour[\s_]*of[\s_]*day",
    re.IGNORECASE,
)


def what_is_missing(shape: Shape, mapping: dict[str, str], columns: list[str]) -> str | None:
    """One plain explanation of what a file lacks for its shape and what can still be done."""
    has_user, has_time = USER_ID in mapping, EVENT_TIME in mapping
    if shape == Shape.CUSTOMERS:
        if has_user or has_time:
            return None
        return (
            "This file has no customer ids and no date or time: each row is read as one "
            "customer, numbered 1, 2, ... in file order. Segments can describe these rows; "
            "predictions and campaigns need an event or order file with customer ids and times."
        )
    if has_user and has_time:
        return None
    relative = [c for c in columns if _RELATIVE_TIME.search(c)]
    gaps = (
        f" ({', '.join(repr(c) for c in relative[:3])} count days or hours relative to "
        "something else, not dates)"
        if relative
        else ""
    )
    if not has_user and not has_time:
        return (
            "This file has no customer ids and no date or time column, so it cannot be read as "
            "events or orders: it looks like a table of anonymous sessions or an aggregated "
            f"report{gaps}. You can still ingest it as a customer table (one row per record) "
            "to describe and segment the rows, or export events or orders with a customer id "
            "and a time from your shop system. If a column does hold them, map it (command "
            "line: --map user_id=COLUMN --map event_time=COLUMN)."
        )
    if not has_time:
        return (
            f"This file has customer ids but no date or time column{gaps}, so recency, "
            "predictions and campaign windows cannot be computed. You can still ingest it as "
            "a customer table if each row is one customer, or export the orders with their "
            "dates. If a column holds the time, map it (command line: --map event_time=COLUMN)."
        )
    return (
        "This file has dates but no customer id column, so purchases cannot be tied to "
        "customers. Map the column that holds the customer (command line: --map "
        "user_id=COLUMN), or export the orders with a customer id or e-mail."
    )
