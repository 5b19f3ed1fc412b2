"""Small generated data shared by the predict tests: a two-kind store and tiny LightGBM knobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from models.predict.gbm import GBMConfig

SMALL = {
    "config": GBMConfig(n_estimators=60, early_stopping_rounds=10, min_child_samples=10),
    "n_jobs": 1,
}
USER = "user_id"


def synthetic_store(users: int = 400, days: int = 120, seed: int = 0) -> pl.DataFrame:
    """Two kinds of users: frequent buyers (every ~5 days) and rare ones (every ~60 days)."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for u in range(users):
        frequent = u % 2 == 0
        rate = 1 / 5 if frequent else 1 / 60
        t = rng.uniform(0, 10)
        while t < days:
            cat = "books" if frequent else "garden"
            when = start + timedelta(days=float(t))
            rows.append((f"u{u:03d}", when, "view", cat, None))
            if rng.uniform() < 0.7:
                rows.append((f"u{u:03d}", when + timedelta(minutes=5), "purchase", cat, 20.0))
            t += rng.exponential(1 / rate)
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "event_time": pl.Datetime("us", "UTC"),
            "event_type": pl.String,
            "category": pl.String,
            "revenue": pl.Float64,
        },
        orient="row",
    )
