"""The store at a glance: KPIs, activity over time, cohort retention and the purchase funnel.

Works on canonical events of both the events and the transactions shapes (transactions are
purchase and refund events). A customer table has no events: every function raises
``NotEnoughData`` with a message saying so. All times are UTC; periods are calendar periods
(``every`` as in Polars' ``dt.truncate``: ``"1d"``, ``"1w"`` (weeks start on Monday), ``"1mo"``).

Definitions:

- an order is an ``order_id`` (purchase lines without one are grouped by their timestamp);
- revenue is purchase value net of refunds (value = ``revenue``, else ``price x quantity``);
- a user is active in a period when they have any event in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import EVENT_TIME, USER_ID, EventType
from analytics.features.rfm import rfm_summary, rfm_table
from analytics.features.user_features import default_cutoff, prepared_history

__all__ = [
    "StoreKpis",
    "StoreOverview",
    "activity_trend",
    "cohort_retention",
    "funnel",
    "main_start",
    "store_kpis",
    "store_overview",
    "suggest_every",
]

_BUY = pl.col("_type") == EventType.PURCHASE.value
_REFUND = pl.col("_type") == EventType.REFUND.value
_NO_EVENTS = (
    "This dataset has no events (it is a customer table, or it is empty), so there is no activity "
    "over time to show. The Segments and Campaigns pages work with customer tables."
)


@dataclass(frozen=True)
class StoreKpis:
    """The headline numbers. Money is in the data's currency; days are UTC calendar days."""

    users: int
    active_users: int
    active_days: int
    buyers: int
    orders: int
    revenue: float
    average_order_value: float
    repeat_rate: float
    has_revenue: bool  # False when the data carries no money (no revenue, no prices)
    first_day: date
    last_day: date

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _events(events: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    return prepared_history(events, None)


def store_kpis(events: pl.LazyFrame | pl.DataFrame, *, active_days: int = 28) -> dict:
    """Users, active users (any event in the last ``active_days`` days of the data), orders,
    revenue net of refunds, average order value (revenue / orders) and repeat rate (share of
    buyers with two or more orders). Returns ``StoreKpis.as_dict()``.
    """
    per_user = (
        _events(events)
        .group_by(USER_ID)
        .agg(
            pl.col("_day").max().alias("last"),
            pl.col("_day").min().alias("first"),
            pl.col("_order").filter(_BUY).n_unique().alias("orders"),
            (pl.col("_value").filter(_BUY).sum() - pl.col("_value").filter(_REFUND).sum()).alias(
                "revenue"
            ),
            (pl.col("_value") > 0).any().alias("money"),
        )
        .collect()
    )
    if per_user.height == 0:
        raise NotEnoughData(_NO_EVENTS)
    last_day: date = per_user["last"].max()  # type: ignore[assignment]
    since = last_day - timedelta(days=active_days - 1)
    orders = int(per_user["orders"].sum())
    buyers = int((per_user["orders"] > 0).sum())
    revenue = float(per_user["revenue"].sum())
    return StoreKpis(
        users=per_user.height,
        active_users=int((per_user["last"] >= since).sum()),
        active_days=active_days,
        buyers=buyers,
        orders=orders,
        revenue=revenue,
        average_order_value=revenue / orders if orders else 0.0,
        repeat_rate=int((per_user["orders"] >= 2).sum()) / buyers if buyers else 0.0,
        has_revenue=bool(per_user["money"].any()),
        first_day=per_user["first"].min(),  # type: ignore[arg-type]
        last_day=last_day,
    ).as_dict()


def suggest_every(events: pl.LazyFrame | pl.DataFrame) -> str:
    """A period that gives a readable trend and cohort grid for the data's span.

    Up to 35 days: daily; up to 200 days: weekly; longer: monthly. The span starts at
    ``main_start`` so that a few stray early timestamps do not stretch it.
    """
    start, _ = main_start(events)
    last = _events(events).select(pl.col("_day").max()).collect().item()
    days = (last - start).days + 1
    return "1d" if days <= 35 else "1w" if days <= 200 else "1mo"


def main_start(events: pl.LazyFrame | pl.DataFrame, tail: float = 0.01) -> tuple[date, int]:
    """Where the bulk of the data starts, and how many events come before it.

    Normally the first day. When the earliest ``tail`` share of events is spread over more than
    a tenth of the span (stray timestamps, as in the Taobao sample), the bulk starts at that
    quantile's day instead, so charts are not mostly empty.
    """
    days = _events(events).select(pl.col("_day").cast(pl.Int32))
    first, last, cut = (
        days.select(
            pl.col("_day").min().alias("first"),
            pl.col("_day").max().alias("last"),
            pl.col("_day").quantile(tail, interpolation="lower").alias("cut"),
        )
        .collect()
        .row(0)
    )
    if first is None:
        raise NotEnoughData(_NO_EVENTS)
    if cut - first <= 0.1 * (last - first):
        cut = first
    before = days.filter(pl.col("_day") < cut).select(pl.len()).collect().item()
    return date(1970, 1, 1) + timedelta(days=int(cut)), int(before)


def activity_trend(events: pl.LazyFrame | pl.DataFrame, every: str = "1w") -> pl.DataFrame:
    """Per period: ``period`` (start date), ``users`` (active), ``buyers``, ``orders``,
    ``revenue`` (net of refunds) and ``complete`` (False for a period the data covers only partly,
    so a chart can mark the first and last ones).
    """
    lf = _events(events).with_columns(pl.col("_day").dt.truncate(every).alias("period"))
    out = (
        lf.group_by("period")
        .agg(
            pl.col(USER_ID).n_unique().alias("users"),
            pl.col(USER_ID).filter(_BUY).n_unique().alias("buyers"),
            pl.col("_order").filter(_BUY).n_unique().alias("orders"),
            (pl.col("_value").filter(_BUY).sum() - pl.col("_value").filter(_REFUND).sum()).alias(
                "revenue"
            ),
            pl.col("_day").min().alias("_first"),
            pl.col("_day").max().alias("_last"),
        )
        .sort("period")
        .collect()
    )
    if out.height == 0:
        raise NotEnoughData(_NO_EVENTS)
    first, last = out["_first"].min(), out["_last"].max()
    period_end = pl.col("period").dt.offset_by(every) - pl.duration(days=1)
    return out.select(
        "period",
        pl.col("users").cast(pl.Int64),
        pl.col("buyers").cast(pl.Int64),
        pl.col("orders").cast(pl.Int64),
        pl.col("revenue").cast(pl.Float64),
        ((pl.col("period") >= first) & (period_end <= last)).alias("complete"),
    )


def cohort_retention(
    events: pl.LazyFrame | pl.DataFrame, every: str = "1mo", *, max_periods: int = 24
) -> pl.DataFrame:
    """Cohort retention: ``cohort`` (period start), ``period`` (0, 1, ... periods later),
    ``cohort_users``, ``users`` (of the cohort, active in that period) and ``retention`` (share).

    Cohorts are by first purchase and "active" means purchasing when the data has purchases (a
    repeat-purchase view); otherwise by first event and any activity. ``basis`` says which
    (``"purchase"`` or ``"activity"``). Period 0 is 100% by construction. Only periods the data
    reaches appear, up to ``max_periods``.
    """
    lf = _events(events)
    n_events, has_buys = lf.select(pl.len(), _BUY.any()).collect().row(0)
    if n_events == 0:
        raise NotEnoughData(_NO_EVENTS)
    basis = "purchase" if has_buys else "activity"
    index = _period_index(every)
    last = lf.select(index(pl.col("_day").max().dt.truncate(every))).collect().item()
    acts = (
        (lf.filter(_BUY) if has_buys else lf)
        .select(USER_ID, pl.col("_day").dt.truncate(every).alias("_p"))
        .unique()
        .with_columns(pl.col("_p").min().over(USER_ID).alias("cohort"))
        .with_columns(
            index(pl.col("cohort")).alias("_c"),
            (index(pl.col("_p")) - index(pl.col("cohort"))).alias("period"),
        )
    )
    sizes = acts.filter(pl.col("period") == 0).group_by("cohort", "_c").len("cohort_users")
    counts = acts.group_by("cohort", "period").agg(pl.len().alias("users"))
    # every (cohort, period) the data reaches, zeros included, so the heat map has no holes
    grid = (
        sizes.join(pl.LazyFrame({"period": range(max_periods + 1)}), how="cross")
        .with_columns(pl.col("period").cast(pl.Int64))
        .filter(pl.col("_c") + pl.col("period") <= last)
    )
    return (
        grid.join(counts, on=["cohort", "period"], how="left")
        .select(
            "cohort",
            "period",
            pl.col("cohort_users").cast(pl.Int64),
            pl.col("users").fill_null(0).cast(pl.Int64),
            (pl.col("users").fill_null(0) / pl.col("cohort_users")).alias("retention"),
            pl.lit(basis).alias("basis"),
        )
        .sort("cohort", "period")
        .collect()
    )


_EVERY_RE = re.compile(r"^(\d+)(d|w|mo|y)$")
_EPOCH = date(1970, 1, 1)  # Polars aligns "Nd" and "Nw" periods to the epoch


def _parse_every(every: str) -> tuple[int, str]:
    match = _EVERY_RE.match(every)
    if not match or int(match.group(1)) < 1:
        raise SpecError(f"'{every}' is not a period: use e.g. '1d', '1w', '1mo' or '1y'.")
    return int(match.group(1)), match.group(2)


def _period_index(every: str) -> Callable[[pl.Expr], pl.Expr]:
    """An expression builder giving a whole-number index of a period start date."""
    n, unit = _parse_every(every)
    if unit == "mo":
        return lambda d: (d.dt.year().cast(pl.Int64) * 12 + d.dt.month() - 1) // n
    if unit == "y":
        return lambda d: d.dt.year().cast(pl.Int64) // n
    step = n * (7 if unit == "w" else 1)
    return lambda d: (d - pl.lit(_EPOCH)).dt.total_days() // step


def funnel(events: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame | None:
    """View -> cart -> purchase users, or ``None`` when the data has no views.

    Steps are nested (a user counts at a step when they did it and every earlier step, in any
    order), so each step is a subset of the one before. Columns: ``step``, ``users``,
    ``share_of_viewers`` and ``step_conversion`` (share of the previous step). The cart step is left
    out when the data has no cart events.
    """
    flags = (
        _events(events)
        .group_by(USER_ID)
        .agg(
            (pl.col("_type") == EventType.VIEW.value).any().alias("view"),
            (pl.col("_type") == EventType.CART.value).any().alias("cart"),
            _BUY.any().alias("purchase"),
        )
        .collect()
    )
    if flags.height == 0:
        raise NotEnoughData(_NO_EVENTS)
    if not flags["view"].any():
        return None
    steps = ["view", "cart", "purchase"] if flags["cart"].any() else ["view", "purchase"]
    names = {"view": "Viewed a product", "cart": "Added to cart", "purchase": "Purchased"}
    counts, mask = [], pl.Series([True] * flags.height)
    for step in steps:
        mask = mask & flags[step]
        counts.append(int(mask.sum()))
    return pl.DataFrame(
        {"step": [names[s] for s in steps], "users": counts}, schema_overrides={"users": pl.Int64}
    ).with_columns(
        (pl.col("users") / counts[0]).alias("share_of_viewers"),
        _share(pl.col("users"), pl.col("users").shift(1).fill_null(pl.col("users"))).alias(
            "step_conversion"
        ),
    )


def _share(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(0.0)


@dataclass(frozen=True)
class StoreOverview:
    """Everything the Overview page draws, computed in one go (see ``store_overview``)."""

    kpis: dict
    every: str
    trend: pl.DataFrame
    cohorts: pl.DataFrame
    funnel: pl.DataFrame | None
    rfm: pl.DataFrame  # ``analytics.features.rfm.rfm_summary`` at ``cutoff``
    cutoff: datetime
    charts_start: date  # trend and cohorts start here (see ``main_start``)
    left_out_events: int  # stray early events before ``charts_start``


def store_overview(
    events: pl.LazyFrame | pl.DataFrame, *, active_days: int = 28, every: str | None = None
) -> StoreOverview:
    """KPIs, trend, cohorts, funnel and the classic RFM groups as of the end of the data.

    ``every`` defaults to ``suggest_every``; cohorts use the same period, capped at 24 periods.
    Raises ``NotEnoughData`` for a dataset without events (a customer table).
    """
    every = every or suggest_every(events)
    cutoff = default_cutoff(events)
    start, left_out = main_start(events)
    since = datetime.combine(start, time.min, tzinfo=UTC)
    bulk = events.lazy().filter(pl.col(EVENT_TIME) >= since) if left_out else events
    return StoreOverview(
        kpis=store_kpis(events, active_days=active_days),
        every=every,
        trend=activity_trend(bulk, every),
        cohorts=cohort_retention(bulk, every),
        funnel=funnel(events),
        rfm=rfm_summary(rfm_table(events, cutoff)),
        cutoff=cutoff,
        charts_start=start,
        left_out_events=left_out,
    )
