"""Customer lifetime value: each buyer's expected spend over the next days, from the repeat-buying
model (BG/NBD purchase days × spend per purchase day).

``clv_view`` adds the 365-day value to the revenue target's scores where the data spans a year.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.schema import USER_ID
from analytics.features.labels import data_start
from models.predict.baselines import BetaGeo, repeat_summary

__all__ = ["CLV_DAYS", "clv_projection", "clv_view"]

CLV_DAYS = 365


def clv_projection(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime, days: int = CLV_DAYS
) -> pl.DataFrame:
    """``user_id, expected_purchase_days, spend_per_day, clv``: each buyer's value over the next
    ``days`` days: the purchase days BG/NBD expects × their spend per purchase day, shrunk toward
    the buyers' mean with the weight of one purchase day (one order says little about the next).
    Empty when BG/NBD cannot be fit."""
    summary = repeat_summary(events, cutoff)
    args = tuple(summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    try:
        model = BetaGeo().fit(*args)
    except NotEnoughData:
        return pl.DataFrame(
            schema={
                USER_ID: pl.String,
                "expected_purchase_days": pl.Float64,
                "spend_per_day": pl.Float64,
                "clv": pl.Float64,
            }
        )
    n = summary["frequency"].to_numpy() + 1.0
    own = summary["monetary"].fill_null(0.0).clip(lower_bound=0.0).to_numpy()
    spend = (n * own + float(own.mean())) / (n + 1.0)
    expected = model.expected_purchases(float(days), *args)
    return summary.select(USER_ID).with_columns(
        expected_purchase_days=expected, spend_per_day=spend, clv=expected * spend
    )


def clv_view(
    lf: pl.LazyFrame, cutoff: datetime, scores: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Scores with ``clv_365`` and the card's summary where the data spans a year before the
    cutoff (BG/NBD's long-run view needs a year of behaviour behind it); else unchanged."""
    span = (cutoff - data_start(lf)).days
    if span < CLV_DAYS:
        return scores, {"skipped": f"the data spans {span} days; a 365-day value needs a year"}
    clv = clv_projection(lf, cutoff)
    if clv.is_empty():
        return scores, {"skipped": "too few repeat buyers to fit the repeat-buying model"}
    out = scores.join(
        clv.select(USER_ID, pl.col("clv").alias("clv_365")), on=USER_ID, how="left"
    ).with_columns(pl.col("clv_365").fill_null(0.0))
    values = out["clv_365"].sort(descending=True)
    total = float(values.sum())
    return out, {
        "days": CLV_DAYS,
        "total": total,
        "mean": total / max(len(values), 1),
        "top_decile_share": float(values.head(max(1, len(values) // 10)).sum()) / max(total, 1e-9),
        "method": "BG/NBD expected purchase days over 365 days × spend per purchase day",
    }
