"""A hand-built event log of three users (a, b, c) in January 2024, shared by feature tests."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from analytics.core.schema import EVENTS_SCHEMA


def _t(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def hand_events_frame() -> pl.DataFrame:
    """a views, carts and buys (20 on Jan 3, 99 on Jan 9); b views twice; c favourites once."""
    return pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c", "a"],
            "event_time": [_t(1), _t(1, 2), _t(3), _t(2), _t(5), _t(2), _t(9)],
            "event_type": ["view", "cart", "purchase", "view", "view", "fav", "purchase"],
            "item_id": ["i1", "i1", "i1", "i2", "i3", None, "i9"],
            "category": ["x", "x", "x", "y", "y", None, "z"],
            "quantity": [1.0] * 7,
            "price": [10.0, 10.0, 10.0, 5.0, 5.0, None, 99.0],
            "revenue": [None, None, 20.0, None, None, None, 99.0],
            "order_id": [None, None, "o1", None, None, None, "o2"],
        },
        schema=EVENTS_SCHEMA,
    )
