"""Detection: what a cheap sniff of a file proposes (shape, mapping, confidences), and the
``IngestSpec`` the user confirms or edits before the whole file is read."""

from __future__ import annotations

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
from analytics.ingest.mapping import MAPPABLE, auto_map
from analytics.ingest.readers import Sniff, sniff_file

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
        }


@dataclass(frozen=True)
class IngestSpec:
    """The shape and mapping to ingest with; ``tz`` is the zone of times written without one."""

    shape: Shape
    mapping: dict[str, str]
    day_first: bool | None = None
    tz: str = "UTC"


def detect_file(path: Path) -> Detection:
    """Sniff ``path`` (a sample, not the whole file) and propose shape and mapping."""
    sniff = sniff_file(Path(path))
    mapped = auto_map(sniff.sample)
    layout = sniff.layout
    preview = sniff.sample.head(PREVIEW_ROWS).select(pl.all().cast(pl.String))
    tf = mapped.time_format
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
    required = {
        Shape.EVENTS: (USER_ID, EVENT_TIME),
        Shape.TRANSACTIONS: (USER_ID, EVENT_TIME),
        Shape.CUSTOMERS: (),
    }[shape]
    for canonical in required:
        if canonical not in mapping:
            what = {USER_ID: "customer / user id", EVENT_TIME: "date or time"}[canonical]
            raise MappingError(
                f"No column was recognised as the {what} of a {shape} file. Map one "
                f"(command line: --map {canonical}=COLUMN). Columns: {', '.join(columns)}."
            )
