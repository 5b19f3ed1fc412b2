"""A tiny planted-type event log for the segmentation tests (three clearly different user types)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from analytics.core.schema import EVENTS_SCHEMA

START = datetime(2024, 1, 1, tzinfo=UTC)
END = START + timedelta(days=120)

# type: (events per day, purchase share, main category, price level, active until day)
_TYPES = {
    "loyal_electronics": (0.8, 0.25, "Electronics", 300.0, 120),
    "bargain_fashion": (0.4, 0.10, "Fashion", 20.0, 120),
    "lapsed_home": (0.3, 0.10, "Home", 60.0, 45),
}


def planted_events(users: int = 90, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(events, truth)``: canonical events and ``user_id, true_type`` for ``users`` users."""
    rng = np.random.default_rng(seed)
    names = list(_TYPES)
    rows: dict[str, list] = {k: [] for k in EVENTS_SCHEMA}
    truth: dict[str, list] = {"user_id": [], "true_type": []}
    categories = ["Electronics", "Fashion", "Home", "Toys"]
    for u in range(users):
        kind = names[u % len(names)]
        rate, buy_share, main_cat, price, until = _TYPES[kind]
        user = f"u{u:04d}"
        truth["user_id"].append(user)
        truth["true_type"].append(kind)
        n = max(2, rng.poisson(rate * until))
        days = np.sort(rng.uniform(0, until, n))
        for i, day in enumerate(days):
            buy = rng.random() < buy_share or i == n - 1
            cat = main_cat if rng.random() < 0.8 else categories[rng.integers(len(categories))]
            p = float(price * rng.lognormal(0, 0.2))
            rows["user_id"].append(user)
            rows["event_time"].append(START + timedelta(days=float(day)))
            rows["event_type"].append("purchase" if buy else "view")
            rows["item_id"].append(f"{cat[:2]}{rng.integers(20)}")
            rows["category"].append(cat)
            rows["quantity"].append(1.0)
            rows["price"].append(p)
            rows["revenue"].append(p if buy else None)
            rows["order_id"].append(f"o{u}-{i}" if buy else None)
    events = pl.DataFrame(rows, schema=EVENTS_SCHEMA).sort("event_time")
    return events, pl.DataFrame(truth)
