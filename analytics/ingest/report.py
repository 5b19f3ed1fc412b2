"""The ingest result and its report: counts per reason, users, event types, time span, revenue.

``rows_read == rows_accepted + rows_rejected`` by construction: both counts come from the same
split of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from analytics.core.schema import (
    EVENT_TIME,
    EVENT_TYPE,
    ORDER_ID,
    PRICE,
    QUANTITY,
    REVENUE,
    USER_ID,
    Shape,
)
from analytics.ingest.detection import IngestSpec

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.String(),
}

ANONYMOUS_POLICY = (
    "Rows without a customer id are kept apart from per-user events (table 'anonymous_events'); "
    "they count in the store-level figures (events_by_type, revenue_total, orders)."
)


@dataclass(frozen=True)
class IngestResult:
    """Canonical frames and the ingest report of one file."""

    shape: Shape
    mapping: dict[str, str]
    events: pl.DataFrame  # EVENTS_SCHEMA first, extra source columns after
    users: pl.DataFrame | None
    items: pl.DataFrame | None
    rejects: pl.DataFrame  # line, reason, raw
    report: dict[str, Any]
    anonymous: pl.DataFrame | None = None  # transactions without user id (events columns)


def events_report(
    good: pl.DataFrame, rejects: pl.DataFrame, spec: IngestSpec, warnings: list[str]
) -> dict[str, Any]:
    figures = [
        pl.col(USER_ID).null_count().alias("rows_without_user"),
        pl.col(EVENT_TIME).min().alias("first_event"),
        pl.col(EVENT_TIME).max().alias("last_event"),
        pl.col(REVENUE).sum().alias("revenue_total"),
    ]
    if QUANTITY in spec.mapping:
        figures.append(pl.col(QUANTITY).sum().alias("quantity_total"))
    if ORDER_ID in spec.mapping:
        figures += [
            pl.col(ORDER_ID).drop_nulls().hash().n_unique().alias("orders"),
            pl.col(ORDER_ID).str.starts_with("C").sum().alias("cancelled_lines"),
        ]
    stats = good.select(figures).row(0, named=True)
    has_money = bool({PRICE, REVENUE} & spec.mapping.keys())
    events_by_type = _type_counts(good.get_column(EVENT_TYPE))
    report = counts(good.height, rejects)
    report.update(
        users=_distinct(good.get_column(USER_ID)),
        rows_without_user=int(stats["rows_without_user"]),
        events_by_type=dict(sorted(events_by_type.items(), key=lambda kv: -kv[1])),
        first_event=_iso(stats["first_event"]),
        last_event=_iso(stats["last_event"]),
        revenue_total=round(float(stats["revenue_total"]), 2) if has_money else None,
        quantity_total=float(stats["quantity_total"]) if QUANTITY in spec.mapping else None,
        warnings=list(warnings),
    )
    if ORDER_ID in spec.mapping:
        report["orders"] = int(stats["orders"])
        report["cancelled_lines"] = int(stats["cancelled_lines"] or 0)
    if report["rows_without_user"]:
        report["anonymous_rows_policy"] = ANONYMOUS_POLICY
        report["warnings"].append(
            f"{report['rows_without_user']:,} rows have no customer id: they are kept apart in "
            "'anonymous_events' and count only in the store-level totals."
        )
    return report


def _distinct(ids: pl.Series) -> int:
    """How many distinct non-null ids: their 64-bit hashes counted after one NumPy sort (exact
    unless two ids collide, odds ~ n^2 / 2^65; NumPy's sort beats Polars' n_unique here)."""
    hashes = np.sort(ids.drop_nulls().hash().to_numpy())
    return int(np.count_nonzero(hashes[1:] != hashes[:-1])) + int(hashes.size > 0)


def _type_counts(kinds: pl.Series) -> dict[str, int]:
    """Rows per event type (types that occur), by counting the Enum's codes."""
    names = kinds.dtype.categories.to_list()  # type: ignore[attr-defined]
    codes = kinds.drop_nulls().to_physical().to_numpy()
    counts = np.bincount(codes, minlength=len(names))
    return {names[i]: int(c) for i, c in enumerate(counts) if c}


def counts(accepted: int, rejects: pl.DataFrame) -> dict[str, Any]:
    by_reason = rejects.get_column("reason").value_counts(sort=True)
    return {
        "rows_read": accepted + rejects.height,
        "rows_accepted": accepted,
        "rows_rejected": rejects.height,
        "rejected_by_reason": {str(k): int(v) for k, v in by_reason.iter_rows()},
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
