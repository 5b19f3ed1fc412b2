"""Hand-built interaction logs with known answers, shared by the recommender tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from analytics.core.schema import EVENTS_SCHEMA

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


def events_of(rows: list[tuple[str, str, float, str]]) -> pl.DataFrame:
    """(user, item, day offset, event type) -> canonical events; category = first letter."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event_time": [T0 + timedelta(days=float(r[2])) for r in rows],
            "event_type": [r[3] for r in rows],
            "item_id": [r[1] for r in rows],
            "category": [r[1][0] for r in rows],
            "quantity": [1.0] * len(rows),
            "price": [1.0] * len(rows),
            "revenue": [1.0] * len(rows),
            "order_id": [f"{r[0]}-{r[2]}" for r in rows],
        },
        schema=EVENTS_SCHEMA,
    )


BASKETS = events_of(
    [
        ("A", "x", 0, "purchase"),
        ("A", "y", 0, "purchase"),
        ("B", "x", 1, "purchase"),
        ("B", "y", 1, "purchase"),
        ("B", "z", 1, "purchase"),
        ("C", "x", 2, "purchase"),
        ("C", "z", 2, "purchase"),
        ("D", "w", 3, "view"),
        ("E", "q", 30, "purchase"),  # after the cutoff used below
    ]
)

CUT = date(2024, 1, 10)


def code_of(h, item: str) -> int:
    return int(h.items.filter(pl.col("item_id") == item)["i"][0])


def shop(users: int = 80, days: int = 60, seed: int = 0) -> pl.DataFrame:
    """Users buy their two staples weekly and, once in a while, a new item from their taste."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        taste = "ab"[u % 2]
        staples = [f"{taste}{rng.integers(5)}", f"{taste}{rng.integers(5, 10)}"]
        for d in range(0, days, 7):
            day = d + rng.integers(0, 3)
            rows += [(f"u{u}", s, day, "purchase") for s in staples]
            if rng.random() < 0.4:
                rows.append((f"u{u}", f"{taste}{rng.integers(10, 20)}", day, "purchase"))
            rows.append((f"u{u}", f"{taste}{rng.integers(20)}", day - 0.5, "view"))
    return events_of(rows)
