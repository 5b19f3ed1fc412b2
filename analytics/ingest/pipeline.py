"""Ingest: a user's file (events, transactions or a customer table) into canonical frames.

``detect_file`` sniffs a sample and proposes a shape and a column mapping with confidences;
``ingest_file`` reads the whole file once, lazily and streaming, into canonical events (or a user
table). Every rejected row is kept with its line number and reason, so
``rows_accepted + rows_rejected == rows_read`` always holds. The steps live beside this module:
``detection`` (shape, mapping, spec), ``events`` (the event scan), ``times``, ``parsing``,
``items`` (the item table), ``report`` and ``tables`` (customer and side tables).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from analytics.core.progress import Progress, no_progress
from analytics.core.schema import (
    Shape,
)
from analytics.ingest.detection import (
    Detection,
    IngestSpec,
    check_mapping,
    detect_file,
    resolve_spec,
)
from analytics.ingest.events import ingest_events, scan_dtypes
from analytics.ingest.readers import open_source
from analytics.ingest.report import REJECTS_SCHEMA, IngestResult
from analytics.ingest.tables import SideTable, ingest_customers, ingest_side_file

__all__ = [
    "REJECTS_SCHEMA",
    "Detection",
    "IngestResult",
    "IngestSpec",
    "SideTable",
    "detect_file",
    "ingest_file",
    "ingest_side_file",
    "resolve_spec",
]


def ingest_file(
    path: Path,
    spec: IngestSpec | None = None,
    progress: Progress = no_progress,
    *,
    detection: Detection | None = None,
    encoding: str | None = None,
) -> IngestResult:
    """Read ``path`` whole into canonical frames, following ``spec`` (default: the detection).

    ``detection``: the caller's ``detect_file(path)`` of the same file, to save sniffing again;
    ``encoding``: the text encoding to read with (else detected; ignored given ``detection``).
    """
    path = Path(path)
    progress(0.0, "Looking at the file")
    if detection is None or detection.sniff is None:
        detection = detect_file(path, encoding=encoding)
    spec = spec or resolve_spec(detection)
    check_mapping(spec.mapping, spec.shape, detection.columns)
    sniff = detection.sniff
    assert sniff is not None
    progress(0.1, "Reading the file")
    dtypes = scan_dtypes(spec, sniff) if spec.shape != Shape.CUSTOMERS else None
    with open_source(path, sniff, dtypes) as source:
        if spec.shape == Shape.CUSTOMERS:
            result = ingest_customers(source, spec, sniff)
        else:
            result = ingest_events(source, spec, sniff, progress)
    report = {**result.report, "detection": detection.info()}
    report["warnings"] = [*detection.warnings, *report.get("warnings", [])]
    progress(1.0, "Ingest finished")
    return replace(result, report=report)
