"""Labels from a time split: who is in the population at a cutoff, and what happened next.

History is every event at or before the cutoff (UTC, inclusive, as in
``analytics.features.user_features``);
the horizon is ``(cutoff, cutoff + horizon_days]``. Nothing after the cutoff decides who is in the
population, and nothing at or before it decides a label.

Definitions (the product's defaults, adapted to the data's cadence by ``choose_horizon``):

* purchase: users active in the last 28 days; 1 if they buy in the next 7 days.
* churn: users active in the last 7 days; 1 if they do nothing in the next 7 days.
* buyer_churn: every past buyer; 1 if they place no order in the next 90 days.
* revenue: users active in the last 28 days; net spend (purchases − refunds, at least 0) in the
  next 28 days.
* next_category: users active in the last 28 days who buy in the next 7 days; the category of
  their first purchase in the horizon.
* clv (lifetime value): as revenue, over a 365-day horizon; checked on past buyers only.
* next_order: computed by its model from past buyers' histories (no label window here).

For transaction-only data (order lines, no browsing), activity means a purchase, every past buyer
is in the purchase and revenue populations (customers are dormant between orders by nature), and
windows scale with the median gap between a customer's purchase days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import CATEGORY, EVENT_TIME, EVENT_TYPE, REVENUE, USER_ID, EventType
from analytics.features.user_features import to_utc

__all__ = [
    "TARGETS",
    "HorizonChoice",
    "LabelSpec",
    "build_labels",
    "choose_horizon",
    "data_end",
    "data_start",
    "label_window_complete",
    "split_cutoffs",
]

TARGETS = (
    "purchase",
    "churn",
    "buyer_churn",
    "revenue",
    "next_category",
    "clv",
    "next_order",
)
CLASSIFICATION = ("purchase", "churn", "buyer_churn")
_DEFAULTS = {  # target: (horizon days, active window days)
    "purchase": (7, 28),
    "churn": (7, 7),
    "buyer_churn": (90, 90),
    "revenue": (28, 28),
    "next_category": (7, 28),
    "clv": (365, 365),
    "next_order": (365, 365),
}
_NICE_DAYS = (1, 2, 3, 7, 14, 28, 56, 91, 182, 365)
_BUY = EventType.PURCHASE.value
_REFUND = EventType.REFUND.value


@dataclass(frozen=True)
class HorizonChoice:
    """The horizon and population window picked for a target, and why (shown to the user)."""

    horizon_days: int
    active_days: int | None  # None: every past buyer (transaction data)
    purchases_only: bool  # activity = purchase (transaction data)
    reason: str


@dataclass(frozen=True)
class LabelSpec:
    """What to label: ``target`` at ``cutoff`` (UTC, inclusive) over ``horizon_days``."""

    target: str
    cutoff: datetime
    horizon_days: int
    active_days: int | None = 28
    purchases_only: bool = False


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise SpecError(f"Unknown target '{target}': choose one of {', '.join(TARGETS)}.")


def _nice(days: float) -> int:
    """The smallest nice horizon (1, 2, 3, 7, 14, 28, 56, 91, 182, 365 days) at least ``days``."""
    return next((n for n in _NICE_DAYS if n >= days), _NICE_DAYS[-1])


def _cadence(events: pl.LazyFrame, cutoff: datetime) -> tuple[int, float | None, bool]:
    """Span in days, median gap between purchase days of repeat buyers, transactions-only flag."""
    hist = events.filter(pl.col(EVENT_TIME) <= cutoff)
    # the span starts where the data really starts: a few stray early events must not count
    stats = hist.select(
        pl.col(EVENT_TIME).dt.epoch("us").quantile(0.001, "lower").alias("first"),
        pl.col(EVENT_TYPE).cast(pl.String).is_in([_BUY, _REFUND]).all().alias("tx_only"),
    ).collect()
    first = stats["first"][0]
    if first is None:
        raise NotEnoughData(
            f"There are no events on or before {cutoff:%Y-%m-%d}; pick a later cutoff date."
        )
    gap = (
        hist.filter(pl.col(EVENT_TYPE).cast(pl.String) == _BUY)
        .select(USER_ID, pl.col(EVENT_TIME).dt.date().alias("day"))
        .unique()
        .sort(USER_ID, "day")
        .group_by(USER_ID)
        .agg(pl.col("day").diff().dt.total_days().median().alias("gap"))
        .select(pl.col("gap").median())
        .collect()
        .item()
    )
    first_day = datetime.fromtimestamp(first / 1e6, tz=UTC).date()
    span = (cutoff.date() - first_day).days + 1
    return span, None if gap is None else float(gap), bool(stats["tx_only"][0])


def choose_horizon(
    events: pl.LazyFrame | pl.DataFrame,
    target: str,
    cutoff: datetime,
    horizon_days: int | None = None,
) -> HorizonChoice:
    """Pick the horizon and population window for ``target`` from the data's cadence.

    The default horizon grows to the median gap between purchases when customers buy rarely, and
    shrinks to a quarter of the data's span when the data is short (training and validation each
    need one horizon of labels before the cutoff).
    """
    _check_target(target)
    default_h, default_active = _DEFAULTS[target]
    span, gap, tx_only = _cadence(events.lazy(), to_utc(cutoff))
    if horizon_days is not None:
        if horizon_days < 1:
            raise SpecError("The horizon must be at least one day.")
        h, why = int(horizon_days), f"you chose {horizon_days} days"
    elif gap is not None and gap > 4 * default_h:
        h = _nice(gap)
        why = (
            f"customers typically buy every {gap:.0f} days, so a {default_h}-day horizon would "
            f"see almost no purchases; {h} days covers one usual gap"
        )
    else:
        h, why = default_h, f"the standard {default_h}-day horizon fits how often customers buy"
    limit = max(1, span // 4)
    if h > limit and horizon_days is None:
        h = max(d for d in _NICE_DAYS if d <= limit)
        why = f"the data spans only {span} days, so the horizon is cut to {h} days"
    scale = h / default_h
    if target == "buyer_churn":
        active = None
        why += "; the population is every past buyer"
    elif tx_only:
        active = (
            None if target in ("purchase", "revenue") else max(h, _nice(default_active * scale))
        )
        who = "every past buyer" if active is None else f"buyers of the last {active} days"
        why += f"; the data holds purchases only, so the population is {who}"
    elif target in ("purchase", "revenue"):
        # every customer gets a score, so the model learns from every customer seen: one trained
        # on recent visitors only ranks the long-inactive ones poorly
        active = None
        why += "; the model learns from every customer seen before the cutoff"
    else:
        active = max(_nice(default_active * scale), 1)
        why += f"; the population is users active in the last {active} days"
    return HorizonChoice(h, active, tx_only, why[0].upper() + why[1:] + ".")


def data_end(events: pl.LazyFrame | pl.DataFrame) -> datetime:
    """Until when the data records what customers did: the last event's time, or the end of its
    day when timestamps are dates (every event at midnight: the whole last day is recorded)."""
    stats = (
        events.lazy()
        .select(
            pl.col(EVENT_TIME).max().alias("last"),
            (pl.col(EVENT_TIME).dt.time() == pl.time(0)).all().alias("dates"),
        )
        .collect()
    )
    last = stats["last"][0]
    if last is None:
        raise NotEnoughData("This dataset has no dated events, so there is no history to study.")
    last = to_utc(last)
    return to_utc(last.date()) if stats["dates"][0] else last


def data_start(events: pl.LazyFrame | pl.DataFrame) -> datetime:
    """Where the data really starts (UTC): the 0.1% quantile of event times, so a few stray early
    events (Taobao) do not count."""
    first = (
        events.lazy()
        .select(pl.col(EVENT_TIME).dt.epoch("us").quantile(0.001, "lower"))
        .collect()
        .item()
    )
    if first is None:
        raise NotEnoughData("This dataset has no dated events, so there is no history to study.")
    return datetime.fromtimestamp(first / 1e6, tz=UTC)


def label_window_complete(cutoff: datetime, horizon_days: int, end: datetime) -> bool:
    """True when the data covers the horizon after ``cutoff``: at most 5% of it runs past ``end``
    (a log that stops at 16:00 does not cover the rest of that day's 2-day window)."""
    h = timedelta(days=horizon_days)
    return cutoff + h <= end + 0.05 * h


def split_cutoffs(
    cutoff: datetime, horizon_days: int, data_end: datetime
) -> tuple[datetime, datetime]:
    """``(train_cutoff, eval_cutoff)`` for an out-of-time check of a model scored at ``cutoff``.

    ``data_end`` is until when the data records behaviour (``data_end()``). When the data covers
    a full horizon past ``cutoff`` (a backtest), the model is evaluated at the cutoff itself and
    trained one horizon earlier; otherwise evaluation is at the latest day's end at least one
    horizon before the cutoff whose horizon the data covers, and training one horizon earlier.
    A label window the data only partly covers would count customers who buy in its unrecorded
    part as non-buyers.
    """
    h = timedelta(days=horizon_days)
    if label_window_complete(cutoff, horizon_days, data_end):
        eval_cutoff = cutoff
    else:
        latest = min(cutoff - h, data_end + 0.05 * h - h)
        eval_cutoff = to_utc(latest.date())
        if eval_cutoff > latest:  # the end of that day is past it: the day before
            eval_cutoff = to_utc((latest - timedelta(days=1)).date())
    return eval_cutoff - h, eval_cutoff


def _population(lf: pl.LazyFrame, spec: LabelSpec) -> pl.LazyFrame:
    kind = pl.col(EVENT_TYPE).cast(pl.String)
    hist = lf.filter(pl.col(EVENT_TIME) <= spec.cutoff)
    if spec.purchases_only or spec.target == "buyer_churn":
        hist = hist.filter(kind == _BUY)
    if spec.active_days is not None:
        start_day = spec.cutoff.date() - timedelta(days=spec.active_days - 1)
        hist = hist.filter(pl.col(EVENT_TIME).dt.date() >= start_day)
    return hist.select(USER_ID).unique()


def build_labels(events: pl.LazyFrame | pl.DataFrame, spec: LabelSpec) -> pl.DataFrame:
    """``user_id, label`` for the population at ``spec.cutoff``, sorted by user.

    ``label`` is Int8 (purchase, churn, buyer_churn), Float64 (revenue, clv) or String
    (next_category).
    """
    _check_target(spec.target)
    cutoff = to_utc(spec.cutoff)
    spec = LabelSpec(spec.target, cutoff, spec.horizon_days, spec.active_days, spec.purchases_only)
    lf = events.lazy().filter(pl.col(USER_ID).is_not_null())
    end = cutoff + timedelta(days=spec.horizon_days)
    future = lf.filter((pl.col(EVENT_TIME) > cutoff) & (pl.col(EVENT_TIME) <= end))
    kind = pl.col(EVENT_TYPE).cast(pl.String)
    pop = _population(lf, spec)
    if spec.target == "purchase":
        hit = future.filter(kind == _BUY).select(USER_ID).unique().with_columns(label=pl.lit(1))
        out = pop.join(hit, on=USER_ID, how="left").with_columns(
            pl.col("label").fill_null(0).cast(pl.Int8)
        )
    elif spec.target == "buyer_churn":
        bought = future.filter(kind == _BUY).select(USER_ID).unique().with_columns(seen=pl.lit(1))
        out = pop.join(bought, on=USER_ID, how="left").select(
            USER_ID, pl.col("seen").is_null().cast(pl.Int8).alias("label")
        )
    elif spec.target == "churn":
        active = future.filter(kind == _BUY) if spec.purchases_only else future
        seen = active.select(USER_ID).unique().with_columns(seen=pl.lit(1))
        out = pop.join(seen, on=USER_ID, how="left").select(
            USER_ID, pl.col("seen").is_null().cast(pl.Int8).alias("label")
        )
    elif spec.target in ("revenue", "clv"):
        sign = pl.when(kind == _REFUND).then(-1.0).when(kind == _BUY).then(1.0).otherwise(0.0)
        spend = future.group_by(USER_ID).agg(
            (sign * pl.col(REVENUE).cast(pl.Float64).abs().fill_null(0.0)).sum().alias("label")
        )
        out = pop.join(spend, on=USER_ID, how="left").with_columns(
            pl.col("label").fill_null(0.0).clip(lower_bound=0.0)
        )
    else:
        first = (
            future.filter((kind == _BUY) & pl.col(CATEGORY).is_not_null())
            .sort(EVENT_TIME)
            .group_by(USER_ID)
            .agg(pl.col(CATEGORY).first().cast(pl.String).alias("label"))
        )
        out = pop.join(first, on=USER_ID, how="inner")
    return out.select(USER_ID, "label").sort(USER_ID).collect()
