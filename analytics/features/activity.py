"""Purchase activity over time per user: the history's span, binned purchases, net spend.

Inputs for the models that look ahead from inside the known history (the segments' embedding and
value forecast): how long the history is, and what each user bought in fixed day bins or in one
window. All times UTC; days are whole calendar days, as ``user_features`` counts them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from analytics.core.schema import EVENT_TIME, EVENT_TYPE, REVENUE, USER_ID, EventType
from analytics.features.user_features import to_utc

__all__ = ["activity_profile", "first_event_time", "net_revenue", "span_share"]


def first_event_time(events: pl.LazyFrame | pl.DataFrame) -> datetime | None:
    """The earliest event time (UTC), ``None`` without events."""
    first = events.lazy().select(pl.col(EVENT_TIME).min()).collect().item()
    return to_utc(first) if first is not None else None


def span_share(first: datetime | None, cutoff: datetime, parts: int) -> int:
    """``1 / parts`` of the history's span (first event to cutoff), between 1 and 91 days."""
    span = max((cutoff - first).days, 1) if first is not None else 1
    return int(min(max(span // parts, 1), 91))


def activity_profile(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime,
    user_ids: pl.Series,
    *,
    bin_days: int,
    n_bins: int,
) -> np.ndarray:
    """log(1 + purchase revenue) and log(1 + purchase days) per ``bin_days``-day bin, newest first.

    (n_users, 2 * n_bins), rows in ``user_ids`` order; bin 0 holds the cutoff's day and the
    ``bin_days - 1`` days before it (whole UTC days, as the features count them).
    """
    day = pl.col(EVENT_TIME).dt.date()
    binned = (
        events.lazy()
        .filter(
            (pl.col(EVENT_TIME) <= cutoff)
            & (pl.col(EVENT_TYPE).cast(pl.String) == EventType.PURCHASE.value)
        )
        .with_columns(((pl.lit(cutoff.date()) - day).dt.total_days() // bin_days).alias("bin"))
        .filter(pl.col("bin") < n_bins)
        .group_by(USER_ID, "bin")
        .agg(pl.col(REVENUE).sum().alias("revenue"), day.n_unique().alias("days"))
        .collect()
    )
    index = user_ids.to_frame(USER_ID).with_row_index("row")
    binned = binned.join(index, on=USER_ID, how="inner")
    out = np.zeros((len(user_ids), 2 * n_bins))
    rows, bins = binned["row"].to_numpy(), binned["bin"].to_numpy().astype(np.int64)
    out[rows, 2 * bins] = np.log1p(binned["revenue"].clip(lower_bound=0).to_numpy())
    out[rows, 2 * bins + 1] = np.log1p(binned["days"].to_numpy())
    return out


def net_revenue(
    events: pl.LazyFrame | pl.DataFrame, start: datetime, end: datetime, user_ids: pl.Series
) -> np.ndarray:
    """log(1 + purchases minus refunds in ``(start, end]``, floored at 0) per user."""
    kinds = [EventType.PURCHASE.value, EventType.REFUND.value]
    spend = (
        events.lazy()
        .filter(
            (pl.col(EVENT_TIME) > start)
            & (pl.col(EVENT_TIME) <= end)
            & pl.col(EVENT_TYPE).cast(pl.String).is_in(kinds)
        )
        .group_by(USER_ID)
        .agg(pl.col(REVENUE).sum().alias("spend"))
        .collect()
    )
    joined = user_ids.to_frame(USER_ID).join(spend, on=USER_ID, how="left").fill_null(0.0)
    return np.log1p(joined["spend"].clip(lower_bound=0.0).to_numpy().astype(np.float64))
