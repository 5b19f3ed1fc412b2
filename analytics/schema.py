"""Canonical column names, event types and dtypes: the one place column names live.

Every other module imports names from here instead of spelling strings. Times are UTC.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

__all__ = [
    "ARM",
    "CAMPAIGN_ID",
    "CATEGORY",
    "CONSENT_EMAIL",
    "EVENTS_SCHEMA",
    "EVENT_TIME",
    "EVENT_TYPE",
    "EXPOSURES_SCHEMA",
    "ITEM_ID",
    "ORDER_ID",
    "PRICE",
    "QUANTITY",
    "REVENUE",
    "SENT_TIME",
    "USER_ID",
    "EventType",
    "Shape",
    "empty_events",
]

# --- canonical events -------------------------------------------------------------------------
USER_ID = "user_id"
EVENT_TIME = "event_time"
EVENT_TYPE = "event_type"
ITEM_ID = "item_id"
CATEGORY = "category"
QUANTITY = "quantity"
PRICE = "price"
REVENUE = "revenue"
ORDER_ID = "order_id"

# --- side tables ------------------------------------------------------------------------------
CAMPAIGN_ID = "campaign_id"
ARM = "arm"
SENT_TIME = "sent_time"
CONSENT_EMAIL = "consent_email"  # True = opted in, False = opted out, null = unknown
EMAIL = "email"


class EventType(StrEnum):
    """The canonical event vocabulary (DESIGN.md)."""

    VIEW = "view"
    CART = "cart"
    FAV = "fav"
    PURCHASE = "purchase"
    REFUND = "refund"
    OTHER = "other"


class Shape(StrEnum):
    """The three input shapes of DESIGN.md."""

    EVENTS = "events"
    TRANSACTIONS = "transactions"
    CUSTOMERS = "customers"


EVENT_TYPE_DTYPE = pl.Enum([e.value for e in EventType])
TIME_DTYPE = pl.Datetime("us", "UTC")

EVENTS_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    EVENT_TIME: TIME_DTYPE,
    EVENT_TYPE: EVENT_TYPE_DTYPE,
    ITEM_ID: pl.String(),
    CATEGORY: pl.String(),
    QUANTITY: pl.Float64(),
    PRICE: pl.Float64(),
    REVENUE: pl.Float64(),
    ORDER_ID: pl.String(),
}

EXPOSURES_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    CAMPAIGN_ID: pl.String(),
    ARM: pl.String(),
    SENT_TIME: TIME_DTYPE,
}


def empty_events() -> pl.DataFrame:
    """An events frame with the canonical columns and no rows."""
    return pl.DataFrame(schema=EVENTS_SCHEMA)
