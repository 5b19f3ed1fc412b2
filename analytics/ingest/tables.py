"""Tables with one row per customer: a customer file ingested as such, and the side tables
(user attributes, campaign exposures) read for an existing dataset. Customer tables without a
user id column get ids "1", "2", ... from the row order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.errors import MappingError
from analytics.core.schema import (
    ARM,
    CAMPAIGN_ID,
    EVENTS_SCHEMA,
    EXPOSURES_SCHEMA,
    SENT_TIME,
    TIME_DTYPE,
    USER_ID,
    Shape,
)
from analytics.ingest.detection import IngestSpec
from analytics.ingest.mapping import MAPPABLE, map_side_table
from analytics.ingest.parsing import REASON, fields_checks, first_reason, id_expr, raw_text
from analytics.ingest.readers import LINE, Sniff, Source, open_source, sniff_file
from analytics.ingest.report import REJECTS_SCHEMA, IngestResult, counts
from analytics.ingest.times import infer_time_format, time_expr


@dataclass(frozen=True)
class SideTable:
    """A side table (campaign exposures or user attributes) read from a file."""

    kind: str
    frame: pl.DataFrame
    rejects: pl.DataFrame
    report: dict[str, Any]


def ingest_customers(source: Source, spec: IngestSpec, sniff: Sniff) -> IngestResult:
    """One row per user: the table becomes ``users``; ``events`` stays empty."""
    frame = source.lazy.collect()
    users, rejects = _table_rows(frame, source, sniff, spec.mapping.get(USER_ID))
    report = counts(users.height, rejects)
    report.update(
        users=users.height,
        rows_without_user=0,
        events_by_type={},
        first_event=None,
        last_event=None,
        revenue_total=0.0,
        warnings=[] if USER_ID in spec.mapping else ["No customer id column: ids are row numbers."],
    )
    return IngestResult(
        shape=Shape.CUSTOMERS,
        mapping=spec.mapping,
        events=pl.DataFrame(schema=EVENTS_SCHEMA),
        users=users,
        items=None,
        rejects=rejects,
        report=report,
    )


def _table_rows(
    frame: pl.DataFrame, source: Source, sniff: Sniff, user_column: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a user-level table into accepted rows (user_id first, typed) and rejects."""
    cols = sniff.columns
    if user_column is None:
        user = pl.int_range(1, pl.len() + 1).cast(pl.String)
    else:
        user = id_expr(pl.col(user_column), sniff.sample.get_column(user_column))
    checks = fields_checks(source, cols, _short(source))
    checks.append(("missing user id", user.is_null()))
    checks.append(("duplicate user id", ~user.is_first_distinct()))
    reason = first_reason(checks)
    raw = raw_text(source, pl.col(REASON))
    frame = frame.with_columns(user.alias("__user"), reason.alias(REASON))
    rejects = frame.filter(pl.col(REASON).is_not_null()).select(
        pl.col(LINE).alias("line"), pl.col(REASON).alias("reason"), raw.alias("raw")
    )
    attrs = [c for c in cols if c != user_column]
    rows = frame.filter(pl.col(REASON).is_null()).select(
        pl.col("__user").alias(USER_ID), *(pl.col(c).alias(_attr_name(c)) for c in attrs)
    )
    if source.text:
        rows = rows.with_columns(_typed(rows.get_column(_attr_name(c))) for c in attrs)
    return rows, rejects.cast(REJECTS_SCHEMA)  # type: ignore[arg-type]


def _short(source: Source) -> pl.Series | None:
    """Lines with too few fields; tables of one row per customer are small: always looked at."""
    return source.short_lines() if source.short_lines is not None else None


def _attr_name(column: str) -> str:
    return f"{column}_source" if column == USER_ID else column


def _typed(values: pl.Series) -> pl.Series:
    """A text column as Int64, Float64 or Boolean when every value is one (ids like 007 stay)."""
    text = values.drop_nulls()
    if text.len() == 0:
        return values
    if text.str.contains(r"^0\d").any():
        return values
    lowered = text.str.to_lowercase()
    if lowered.is_in(["true", "false"]).all():
        return values.str.to_lowercase() == "true"
    for dtype in (pl.Int64, pl.Float64):
        cast = values.cast(dtype, strict=False)
        if cast.null_count() == values.null_count():
            return cast
    return values


def ingest_side_file(
    path: Path, kind: str, mapping: dict[str, str] | None = None, *, tz: str = "UTC"
) -> SideTable:
    """Read campaign exposures (``kind='exposures'``) or user attributes (``kind='users'``)."""
    if kind not in ("exposures", "users"):
        raise MappingError(f"A side table is 'exposures' or 'users', not '{kind}'.")
    path = Path(path)
    sniff = sniff_file(path)
    detected, _ = map_side_table(sniff.sample, kind)
    for canonical, source_col in (mapping or {}).items():
        detected = {k: v for k, v in detected.items() if v != source_col}
        detected[canonical] = source_col
    allowed = MAPPABLE[kind]
    for canonical, source_col in detected.items():
        if canonical not in allowed:
            raise MappingError(f"'{canonical}' is not a field of {kind}; use {', '.join(allowed)}.")
        if source_col not in sniff.columns:
            raise MappingError(f"The file has no column '{source_col}'.")
    needed = (USER_ID, ARM) if kind == "exposures" else (USER_ID,)
    for canonical in needed:
        if canonical not in detected:
            raise MappingError(
                f"No column was recognised as {canonical} in '{path.name}'; map one "
                f"({canonical}=COLUMN). Columns: {', '.join(sniff.columns)}."
            )
    with open_source(path, sniff) as source:
        frame = source.lazy.collect()
        rows, rejects = (
            _table_rows(frame, source, sniff, detected[USER_ID])
            if kind == "users"
            else _exposure_rows(frame, source, sniff, detected, path, tz)
        )
    report = {**counts(rows.height, rejects), "mapping": detected}
    return SideTable(kind=kind, frame=rows, rejects=rejects, report=report)


def _exposure_rows(
    frame: pl.DataFrame,
    source: Source,
    sniff: Sniff,
    m: dict[str, str],
    path: Path,
    tz: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    user = id_expr(pl.col(m[USER_ID]), sniff.sample.get_column(m[USER_ID]))
    arm = pl.col(m[ARM]).cast(pl.String).str.strip_chars()
    campaign = (
        pl.col(m[CAMPAIGN_ID]).cast(pl.String)
        if CAMPAIGN_ID in m
        else pl.lit(path.stem.split(".")[0])
    )
    sent = pl.lit(None, TIME_DTYPE)
    checks = fields_checks(source, sniff.columns, _short(source))
    checks += [("missing user id", user.is_null()), ("missing arm", arm.is_null())]
    if SENT_TIME in m:
        tf = infer_time_format(sniff.sample.get_column(m[SENT_TIME]))
        if tf is None or tf.ambiguous:
            raise MappingError(f"Column '{m[SENT_TIME]}' does not hold unambiguous dates.")
        sent = time_expr(pl.col(m[SENT_TIME]), tf, tz)
        checks.append(("unreadable sent time", pl.col(m[SENT_TIME]).is_not_null() & sent.is_null()))
    reason = first_reason(checks)
    raw = raw_text(source, pl.col(REASON))
    frame = frame.with_columns(reason.alias(REASON))
    rejects = frame.filter(pl.col(REASON).is_not_null()).select(
        pl.col(LINE).alias("line"), pl.col(REASON).alias("reason"), raw.alias("raw")
    )
    rows = frame.filter(pl.col(REASON).is_null()).select(
        user.alias(USER_ID), campaign.alias(CAMPAIGN_ID), arm.alias(ARM), sent.alias(SENT_TIME)
    )
    return rows.cast(EXPOSURES_SCHEMA), rejects.cast(REJECTS_SCHEMA)  # type: ignore[arg-type]
