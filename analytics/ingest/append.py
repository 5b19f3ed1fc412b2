"""Growing a dataset: new rows added under the stored mapping, exact duplicates skipped.

Next month's orders go on top of this month's instead of starting over. A new row that equals a
stored event on every canonical column (user, time, type, item, category, quantity, price,
revenue, order) is a duplicate: counted and skipped, so appending the same file twice adds
nothing. Rows keep file order, old first, so appending the second half of a history to the first
half gives the same events as ingesting it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from analytics.core.schema import (
    EVENT_TIME,
    EVENT_TYPE,
    EVENTS_SCHEMA,
    ITEM_ID,
    ORDER_ID,
    REVENUE,
    USER_ID,
)

__all__ = ["AppendResult", "combined_report", "merge_items", "new_rows"]


@dataclass(frozen=True)
class AppendResult:
    """What one append added to a dataset."""

    dataset: str
    source: str
    rows_read: int
    rows_accepted: int  # rows of the file that parsed (added + duplicates)
    rows_rejected: int
    duplicates_skipped: int  # accepted rows already in the dataset
    rows_added: int
    new_users: int  # customers the dataset did not have before
    users: int  # customers after the append
    first_event: str | None
    last_event: str | None

    def summary(self) -> dict[str, Any]:
        """The JSON summary the CLI prints for ``ingest --append``."""
        return {
            "dataset": self.dataset,
            "appended": True,
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "duplicates_skipped": self.duplicates_skipped,
            "rows_added": self.rows_added,
            "new_users": self.new_users,
            "users": self.users,
            "first_event": self.first_event,
            "last_event": self.last_event,
        }


def new_rows(old: pl.DataFrame | None, new: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``old`` with the rows of ``new`` it does not hold appended, and how many were skipped."""
    if old is None or old.height == 0:
        return new, 0
    keys = [c for c in EVENTS_SCHEMA if c in old.columns and c in new.columns]
    fresh = new.join(old.select(keys).unique(), on=keys, how="anti", nulls_equal=True)
    merged = pl.concat([old, fresh], how="diagonal_relaxed")
    return merged, new.height - fresh.height


def merge_items(old: pl.DataFrame | None, new: pl.DataFrame | None) -> pl.DataFrame | None:
    """The item table after an append: an item already known keeps its row, new items join."""
    if old is None or new is None:
        return new if old is None else old
    both = pl.concat([old, new], how="diagonal_relaxed")
    return both.unique(ITEM_ID, keep="first", maintain_order=True).sort(ITEM_ID)


def combined_report(
    old: dict[str, Any], events: pl.DataFrame, added: dict[str, int]
) -> dict[str, Any]:
    """The dataset's ingest report after an append: totals over every row now stored.

    ``added`` holds the append's ``rows_read``, ``rows_rejected``, ``duplicates_skipped``,
    ``rows_added`` and ``rows_without_user`` (added rows without a customer id); ``rows_read``
    counts every row of every file, so it is accepted + rejected + duplicates skipped.
    """
    stats = events.select(
        pl.col(USER_ID).drop_nulls().n_unique().alias("users"),
        pl.col(EVENT_TIME).min().alias("first"),
        pl.col(EVENT_TIME).max().alias("last"),
        pl.col(REVENUE).sum().alias("revenue"),
    ).row(0, named=True)
    by_type = events.get_column(EVENT_TYPE).cast(pl.String).value_counts(sort=True)
    report = dict(old)
    report.update(
        rows_read=int(old.get("rows_read", 0)) + added["rows_read"],
        rows_rejected=int(old.get("rows_rejected", 0)) + added["rows_rejected"],
        rows_accepted=int(old.get("rows_accepted", 0)) + added["rows_added"],
        rows_without_user=int(old.get("rows_without_user", 0) or 0) + added["rows_without_user"],
        duplicates_skipped=int(old.get("duplicates_skipped", 0)) + added["duplicates_skipped"],
        users=int(stats["users"]),
        events_by_type={str(k): int(v) for k, v in by_type.iter_rows()},
        first_event=_iso(stats["first"]),
        last_event=_iso(stats["last"]),
    )
    if old.get("revenue_total") is not None:
        report["revenue_total"] = round(float(stats["revenue"] or 0.0), 2)
    if ORDER_ID in events.columns and "orders" in old:
        report["orders"] = int(events.get_column(ORDER_ID).drop_nulls().n_unique())
    return report


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
