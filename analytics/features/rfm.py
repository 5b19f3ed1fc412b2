"""Classic RFM: recency, frequency and monetary value, quintile scores and the named groups.

Marketers ask for these by name, so they sit beside the learned segments.

Inputs per user, as of a cutoff (UTC, inclusive):

- ``recency_days``: whole days from the last purchase day to the cutoff day (0 = bought on the
  cutoff day); a user who never bought gets ``days since first seen + 1``;
- ``frequency``: orders placed;
- ``monetary``: total spend net of refunds.

Scores (1 = worst, 5 = best) are quintiles among buyers, by average rank so ties share a score:
``score = floor(5 * (rank - 0.5) / n) + 1``. Recency scores rank the most recent buyers highest.
A user without a purchase is not scored (``0`` for all three scores).

Groups, first match wins, with ``FM = (f_score + m_score) / 2``:

1. no purchase: **Inactive**
2. ``R >= 4 and FM >= 4``: **Champions** (bought lately, buy often, spend most)
3. ``R >= 3 and FM >= 3``: **Loyal** (regular, valuable buyers)
4. ``R >= 4``: **Recent** (bought lately, few or small orders so far: new or promising)
5. ``R <= 2 and FM >= 3``: **At risk** (used to buy often or spend well, gone quiet)
6. ``R == 3``: **Needs attention** (middling recency, low frequency and spend)
7. otherwise (``R <= 2 and FM < 3``): **Inactive** (long gone, little history)
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.schema import USER_ID, EventType
from analytics.features.user_features import default_cutoff, prepared_history, to_utc

__all__ = ["RFM_GROUPS", "RFM_RULES", "rfm_scores", "rfm_summary", "rfm_table"]

RFM_GROUPS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Recent",
    "Needs attention",
    "At risk",
    "Inactive",
)
# The rules of the module docstring in words, for the UI (R, F, M are the 1-5 scores).
RFM_RULES: dict[str, str] = {
    "Champions": "bought recently (R 4-5) and buy often and spend most (F and M average 4+)",
    "Loyal": "regular, valuable buyers (R 3+, F and M average 3+) who are not Champions",
    "Recent": "bought recently (R 4-5) but few or small orders so far: new or promising",
    "Needs attention": "middling recency (R 3) with low frequency and spend",
    "At risk": "used to buy often or spend well (F and M average 3+) but gone quiet (R 1-2)",
    "Inactive": "long gone with little history (R 1-2, F and M below 3), or never bought",
}
RFM_COLUMNS = (
    USER_ID,
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_group",
)


def rfm_table(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime | date | None = None
) -> pl.DataFrame:
    """RFM values, scores and group for every user with an event at or before ``cutoff``.

    The one place RFM is computed (the segments, the Overview and the audience builder call it);
    ``cutoff=None`` is the end of the last day with events.
    """
    cutoff = to_utc(cutoff) if cutoff is not None else default_cutoff(events)
    is_buy = pl.col("_type") == EventType.PURCHASE.value
    is_refund = pl.col("_type") == EventType.REFUND.value
    ago = (pl.lit(cutoff.date()) - pl.col("_day")).dt.total_days()
    base = (
        prepared_history(events, cutoff)
        .group_by(USER_ID)
        .agg(
            ago.filter(is_buy).min().alias("recency_days"),
            (ago.max() + 1).alias("_never"),
            pl.col("_order").filter(is_buy).n_unique().alias("frequency"),
            (pl.col("_value").filter(is_buy).sum() - pl.col("_value").filter(is_refund).sum())
            .cast(pl.Float64)
            .alias("monetary"),
        )
        .with_columns(pl.col("recency_days").fill_null(pl.col("_never")))
        .drop("_never")
        .collect()
    )
    if base.height == 0:
        raise NotEnoughData(
            f"There are no events on or before {cutoff:%Y-%m-%d}; pick a later cutoff date."
        )
    return rfm_scores(base)


def rfm_scores(values: pl.DataFrame) -> pl.DataFrame:
    """Scores and groups from ``user_id, recency_days, frequency, monetary`` (sorted by user).

    Also accepts a feature frame of ``analytics.features.user_features``
    (``days_since_last_purchase``,
    ``orders``, ``revenue_total``), so the segmentation step can reuse the features it built.
    """
    if "recency_days" not in values.columns:
        values = values.select(
            USER_ID,
            pl.col("days_since_last_purchase").alias("recency_days"),
            pl.col("orders").alias("frequency"),
            pl.col("revenue_total").alias("monetary"),
        )
    buyer = pl.col("frequency") > 0
    scored = values.with_columns(
        pl.col("recency_days").cast(pl.Int64),
        pl.col("frequency").cast(pl.Int64),
        pl.col("monetary").cast(pl.Float64),
    ).with_columns(
        _quintile(-pl.col("recency_days"), buyer).alias("r_score"),
        _quintile(pl.col("frequency"), buyer).alias("f_score"),
        _quintile(pl.col("monetary"), buyer).alias("m_score"),
    )
    return scored.with_columns(_group(buyer).alias("rfm_group")).select(RFM_COLUMNS).sort(USER_ID)


def _quintile(value: pl.Expr, scored: pl.Expr) -> pl.Expr:
    """1..5 by average rank among the ``scored`` rows (ties share a score); 0 elsewhere."""
    kept = pl.when(scored).then(value)
    n = scored.sum()
    score = ((kept.rank("average") - 0.5) * 5 / n).floor() + 1
    return score.fill_null(0).cast(pl.Int8)


def _group(buyer: pl.Expr) -> pl.Expr:
    r = pl.col("r_score")
    fm = (pl.col("f_score") + pl.col("m_score")).cast(pl.Float64) / 2
    return (
        pl.when(~buyer)
        .then(pl.lit("Inactive"))
        .when((r >= 4) & (fm >= 4))
        .then(pl.lit("Champions"))
        .when((r >= 3) & (fm >= 3))
        .then(pl.lit("Loyal"))
        .when(r >= 4)
        .then(pl.lit("Recent"))
        .when((r <= 2) & (fm >= 3))
        .then(pl.lit("At risk"))
        .when(r == 3)
        .then(pl.lit("Needs attention"))
        .otherwise(pl.lit("Inactive"))
        .cast(pl.Enum(RFM_GROUPS))
    )


def rfm_summary(rfm: pl.DataFrame) -> pl.DataFrame:
    """Per group: ``rfm_group, users, share_users, revenue, share_revenue, avg_recency_days``.

    Every group appears (zero rows included), in the fixed order of ``RFM_GROUPS``.
    """
    groups = pl.DataFrame(
        {"rfm_group": list(RFM_GROUPS)}, schema={"rfm_group": pl.Enum(RFM_GROUPS)}
    )
    stats = rfm.group_by("rfm_group").agg(
        pl.len().alias("users"),
        pl.col("monetary").sum().alias("revenue"),
        pl.col("recency_days").mean().alias("avg_recency_days"),
    )
    total_users = max(rfm.height, 1)
    total_rev = float(rfm["monetary"].clip(lower_bound=0).sum()) or 1.0
    return (
        groups.join(stats.cast({"rfm_group": pl.Enum(RFM_GROUPS)}), on="rfm_group", how="left")
        .with_columns(
            pl.col("users").fill_null(0).cast(pl.Int64),
            pl.col("revenue").fill_null(0.0),
        )
        .with_columns(
            (pl.col("users") / total_users).alias("share_users"),
            (pl.col("revenue").clip(lower_bound=0) / total_rev).alias("share_revenue"),
        )
        .select("rfm_group", "users", "share_users", "revenue", "share_revenue", "avg_recency_days")
    )
