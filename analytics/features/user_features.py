"""User features as of a cutoff: one numeric row per user, built lazily in Polars.

History is every event with ``event_time <= cutoff`` (UTC, inclusive); nothing after the cutoff
reaches a feature. Day arithmetic is in whole UTC calendar days: an event on the cutoff's own day is
"0 days ago", and a 7-day window holds the cutoff day and the 6 days before it.

Column families (stable order, plain snake_case names; ``feature_labels`` describes each):

- recency and tenure: ``days_since_last_event``, ``days_since_last_purchase``,
  ``days_since_first_event``;
- frequency and value: ``orders``, ``purchase_days``, ``items_purchased``, ``revenue_total`` (net of
  refunds), ``avg_order_value``, ``refunds``, ``refund_rate``;
- gaps between purchase days: ``purchase_gap_mean_days``, ``purchase_gap_median_days``,
  ``purchase_gap_std_days``, ``overdue_ratio``;
- breadth: ``events_total``, ``active_days``, ``distinct_items``, ``distinct_categories``;
- windows (per resolved window ``w``): ``views_{w}d``, ``carts_{w}d``, ``favs_{w}d`` (only for event
  types the data has), ``purchases_{w}d`` (orders), ``revenue_{w}d``, ``active_days_{w}d``;
- trend: ``activity_trend`` = (active days in the last ``w`` days + 1) / (active days in the ``w``
  days before + 1), with ``w`` the middle window (days, not events: order lines do not inflate it);
- funnel (only when the data has views or carts): ``view_to_cart_rate``,
  ``cart_to_purchase_rate``, ``has_views``;
- price: ``price_level`` (when prices vary across items), ``discount_share`` (when the price of one
  item varies, i.e. there were discounts);
- taste: ``cat_share_<slug>`` over the top categories.

Fill rules (no nulls, no NaN, no inf anywhere):

- a user who never purchased gets ``days_since_last_purchase = days_since_first_event + 1`` ("longer
  than we have known them") and zeros for orders, revenue and the like;
- with fewer than two purchase days the gap mean and median are ``days_since_first_event + 1`` (the
  gap is at least that long) and the gap std is 0;
- rates whose denominator is 0 are 0 (``has_views`` says whether view-based rates mean anything);
- ``price_level`` is 1.0 (typical) for a user without priced views or purchases.

Stable columns across cutoffs: windows, event types and top categories adapt to the data, so a
caller that builds features at two cutoffs (train and validate, or score another dataset) should
resolve the spec once with ``resolve_feature_spec`` and pass the resolved spec to every call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.schema import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    ITEM_ID,
    ORDER_ID,
    PRICE,
    QUANTITY,
    REVENUE,
    USER_ID,
    EventType,
)

__all__ = [
    "FeatureSpec",
    "build_user_features",
    "category_slug",
    "customer_table_features",
    "default_cutoff",
    "describe_feature",
    "feature_labels",
    "history",
    "prepared_history",
    "resolve_feature_spec",
    "to_utc",
]

# Event types that get their own per-window counts, with the plural used in column names.
_COUNTED_TYPES: dict[str, str] = {
    EventType.VIEW.value: "views",
    EventType.CART.value: "carts",
    EventType.FAV.value: "favs",
}
_FAST_WINDOWS = (7, 28, 90)  # most users come back within weeks
_SLOW_WINDOWS = (28, 90, 365)  # customers buy every month or two (e.g. CDNOW, Online Retail)
_SHORT_WINDOWS = (1, 3, 7)  # data spanning under four weeks (e.g. the 9-day Taobao sample)
_DISCOUNT_THRESHOLD = 0.95  # a purchase below 95% of the item's median price counts as discounted


@dataclass(frozen=True)
class FeatureSpec:
    """What to build. ``None`` fields are resolved from the data (see ``resolve_feature_spec``).

    windows_days: look-back windows in days for per-window counts; ``None`` adapts to the data's
        span and purchase cadence (7/28/90, 28/90/365 for slow buyers, 1/3/7 for short data).
    top_categories: how many of the most frequent categories get a ``cat_share_*`` column.
    include_categories: whether to build category shares at all.
    categories: the categories to share over; ``None`` = the top ones in the history.
    event_types: which of view/cart/fav get counts; ``None`` = those present in the history.
    prices_vary: build ``price_level``; ``None`` = when prices differ between items.
    discounts_seen: build ``discount_share``; ``None`` = when one item was sold at several prices.
    """

    windows_days: tuple[int, ...] | None = None
    top_categories: int = 10
    include_categories: bool = True
    categories: tuple[str, ...] | None = None
    event_types: tuple[str, ...] | None = None
    prices_vary: bool | None = None
    discounts_seen: bool | None = None


# --- time helpers -------------------------------------------------------------------------------
def to_utc(moment: datetime | date) -> datetime:
    """An aware UTC datetime; a naive value is read as UTC, a date as the end of that day."""
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time.max, tzinfo=UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _lazy(events: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    return events.lazy() if isinstance(events, pl.DataFrame) else events


def history(events: pl.LazyFrame | pl.DataFrame, cutoff: datetime | date | None) -> pl.LazyFrame:
    """Events at or before ``cutoff`` (UTC, inclusive; ``None`` = all), a null user dropped."""
    keep = pl.col(USER_ID).is_not_null() & pl.col(EVENT_TIME).is_not_null()
    if cutoff is not None:
        keep &= pl.col(EVENT_TIME) <= to_utc(cutoff)
    return _lazy(events).filter(keep)


def default_cutoff(events: pl.LazyFrame | pl.DataFrame) -> datetime:
    """The end (23:59:59.999999 UTC) of the last day with events; ``NotEnoughData`` if none."""
    last = _lazy(events).select(pl.col(EVENT_TIME).max()).collect().item()
    if last is None:
        raise NotEnoughData("This dataset has no dated events, so there is no history to study.")
    return to_utc(to_utc(last).date())


# --- labels -------------------------------------------------------------------------------------
_STATIC_LABELS: dict[str, str] = {
    "days_since_last_event": "days since the last visit or action",
    "days_since_last_purchase": "days since the last purchase",
    "days_since_first_event": "days since we first saw the customer",
    "orders": "orders placed",
    "purchase_days": "days with a purchase",
    "items_purchased": "items bought",
    "revenue_total": "total spend, net of refunds",
    "avg_order_value": "average order value",
    "refunds": "refunds",
    "refund_rate": "share of spend that was refunded",
    "purchase_gap_mean_days": "average days between purchases",
    "purchase_gap_median_days": "typical days between purchases",
    "purchase_gap_std_days": "how irregular the days between purchases are",
    "overdue_ratio": "days since the last purchase relative to the usual gap",
    "events_total": "actions in total",
    "active_days": "active days",
    "distinct_items": "different products touched",
    "distinct_categories": "different categories touched",
    "activity_trend": "active days lately compared with the period before",
    "view_to_cart_rate": "share of product views that led to a cart add",
    "cart_to_purchase_rate": "share of cart adds that led to a purchase",
    "has_views": "has any product views",
    "price_level": "price level of products looked at, relative to their category",
    "discount_share": "share of purchases made below the usual price",
}
_WINDOW_LABELS = {
    "views": "product views",
    "carts": "cart adds",
    "favs": "favourites",
    "purchases": "purchases",
    "revenue": "spend",
    "active_days": "active days",
}
_WINDOW_RE = re.compile(r"^(views|carts|favs|purchases|revenue|active_days)_(\d+)d$")


def describe_feature(name: str) -> str:
    """Plain-language description of one feature column (falls back to the name in words)."""
    if name in _STATIC_LABELS:
        return _STATIC_LABELS[name]
    match = _WINDOW_RE.match(name)
    if match:
        what, days = match.group(1), int(match.group(2))
        span = "day" if days == 1 else f"{days} days"
        return f"{_WINDOW_LABELS[what]} in the last {span}"
    if name.startswith("cat_share_"):
        return f"share of activity in {name.removeprefix('cat_share_').replace('_', ' ')}"
    return name.replace("_", " ")


def feature_labels(columns: Sequence[str] | None = None) -> dict[str, str]:
    """Column -> plain-language description, for reasons and hover cards.

    Without ``columns``: the fixed columns plus the default windows' columns; pass a feature frame's
    columns to describe every column it has (windows and ``cat_share_*`` included).
    """
    if columns is None:
        windows = sorted(set(_FAST_WINDOWS + _SLOW_WINDOWS + _SHORT_WINDOWS))
        columns = [*_STATIC_LABELS, *(f"{w}_{d}d" for d in windows for w in _WINDOW_LABELS)]
    return {c: describe_feature(c) for c in columns if c != USER_ID}


def category_slug(category: str) -> str:
    """A snake_case slug of a category name (non-ASCII letters kept, e.g. Chinese names)."""
    slug = re.sub(r"[^\w]+", "_", str(category).strip().lower()).strip("_")
    return slug or "blank"


# --- spec resolution ----------------------------------------------------------------------------
def prepared_history(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime | date | None
) -> pl.LazyFrame:
    """History with normalised helper columns, shared by features, RFM and the overview.

    Adds ``_type`` (event type as text), ``_qty`` (quantity, 1 when missing), ``_value`` (absolute
    money value: revenue, else price x quantity, else 0), ``_order`` (order key: the order id, else
    the timestamp, hashed) and ``_day`` (UTC date).
    """
    lf = history(events, cutoff)
    names = lf.collect_schema().names()
    for col, dtype in ((ITEM_ID, pl.String), (CATEGORY, pl.String), (ORDER_ID, pl.String)):
        if col not in names:
            lf = lf.with_columns(pl.lit(None, dtype).alias(col))
    for col in (QUANTITY, PRICE, REVENUE):
        if col not in names:
            lf = lf.with_columns(pl.lit(None, pl.Float64).alias(col))
    etype = pl.col(EVENT_TYPE).cast(pl.String)
    qty = pl.col(QUANTITY).cast(pl.Float64).fill_null(1.0)
    value = pl.col(REVENUE).cast(pl.Float64).fill_null(pl.col(PRICE).cast(pl.Float64) * qty)
    return lf.select(
        pl.col(USER_ID).cast(pl.String),
        pl.col(EVENT_TIME),
        etype.alias("_type"),
        pl.col(ITEM_ID).cast(pl.String),
        pl.col(CATEGORY).cast(pl.String),
        pl.col(PRICE).cast(pl.Float64),
        qty.abs().alias("_qty"),
        value.fill_null(0.0).abs().alias("_value"),
        # an order is its id; lines without one are grouped by their timestamp (hashed: cheap)
        pl.when(pl.col(ORDER_ID).is_not_null())
        .then(pl.col(ORDER_ID).cast(pl.String).hash(1))
        .otherwise(pl.col(EVENT_TIME).dt.epoch("us").hash(2))
        .alias("_order"),
        pl.col(EVENT_TIME).dt.date().alias("_day"),
    )


def _choose_windows(span_days: int, median_gap: float | None) -> tuple[int, ...]:
    if span_days < 28:
        base = _SHORT_WINDOWS
    elif median_gap is not None and median_gap > 21:
        base = _SLOW_WINDOWS
    else:
        base = _FAST_WINDOWS
    kept = tuple(w for w in base if w <= max(span_days, 1))
    return kept or (max(span_days, 1),)


def resolve_feature_spec(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime | date, spec: FeatureSpec = FeatureSpec()
) -> FeatureSpec:
    """Fill every ``None`` of ``spec`` from the history up to ``cutoff`` (one small query)."""
    cutoff = to_utc(cutoff)
    if _is_resolved(spec):
        return spec
    lf = prepared_history(events, cutoff)
    summary = lf.select(
        # where the data really starts: a few stray early events (Taobao) must not widen windows
        pl.col("_day").cast(pl.Int32).quantile(0.001, "lower").alias("first"),
        pl.col("_type").unique().implode().alias("types"),
        (pl.col(PRICE).drop_nulls().n_unique() > 1).alias("vary"),
        (pl.col(PRICE).drop_nulls().n_unique().over(ITEM_ID) > 1).any().alias("discounts"),
    ).collect()
    first = summary["first"][0]
    if first is None:
        raise NotEnoughData(
            f"There are no events on or before {cutoff:%Y-%m-%d}; pick a later cutoff date."
        )
    first = date(1970, 1, 1) + timedelta(days=int(first))
    types = set(summary["types"][0])
    windows = spec.windows_days
    if windows is None:
        windows = _choose_windows((cutoff.date() - first).days + 1, _median_gap(lf))
    event_types = spec.event_types
    if event_types is None:
        event_types = tuple(t for t in _COUNTED_TYPES if t in types)
    categories = spec.categories
    if categories is None:
        categories = _top_categories(lf, spec.top_categories) if spec.include_categories else ()
    prices_vary = spec.prices_vary if spec.prices_vary is not None else bool(summary["vary"][0])
    discounts = spec.discounts_seen
    if discounts is None:
        discounts = bool(summary["discounts"][0])
    return replace(
        spec,
        windows_days=tuple(sorted(set(windows))),
        event_types=event_types,
        categories=categories,
        prices_vary=prices_vary,
        discounts_seen=discounts,
    )


def _is_resolved(spec: FeatureSpec) -> bool:
    return None not in (
        spec.windows_days,
        spec.categories,
        spec.event_types,
        spec.prices_vary,
        spec.discounts_seen,
    )


def _median_gap(lf: pl.LazyFrame) -> float | None:
    """Median over repeat buyers of their median days between purchase days."""
    gaps = (
        _purchase_gaps(lf)
        .group_by(USER_ID)
        .agg(pl.col("_gap").median())
        .select(pl.col("_gap").median())
        .collect()
        .item()
    )
    return None if gaps is None else float(gaps)


def _purchase_gaps(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``user_id, _gap``: days between each purchase day and the user's previous one.

    A window ``diff().over`` on a sorted frame: several times cheaper than per-group list ops.
    """
    return (
        lf.filter(pl.col("_type") == EventType.PURCHASE.value)
        .select(USER_ID, pl.col("_day").cast(pl.Int32))
        .unique()
        .sort("_day")
        .select(USER_ID, pl.col("_day").diff().over(USER_ID).cast(pl.Float64).alias("_gap"))
    )


def _top_categories(lf: pl.LazyFrame, n: int) -> tuple[str, ...]:
    if n <= 0:
        return ()
    top = (
        lf.filter(pl.col(CATEGORY).is_not_null())
        .group_by(CATEGORY)
        .len()
        .sort(["len", CATEGORY], descending=[True, False])
        .head(n)
        .collect()
    )
    return tuple(top[CATEGORY].to_list())


# --- the features -------------------------------------------------------------------------------
def build_user_features(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime | date,
    spec: FeatureSpec = FeatureSpec(),
) -> pl.DataFrame:
    """One row per user with any event at or before ``cutoff``; ``user_id`` then numeric features.

    See the module docstring for the columns and fill rules. Rows are sorted by ``user_id``.
    Raises ``NotEnoughData`` when the history is empty.
    """
    cutoff = to_utc(cutoff)
    spec = resolve_feature_spec(events, cutoff, spec)
    lf = prepared_history(events, cutoff).with_columns(
        (pl.lit(cutoff.date()) - pl.col("_day")).dt.total_days().alias("_ago")
    )
    if spec.prices_vary or spec.discounts_seen:
        lf = lf.pipe(_with_relative_prices)
    exprs = [*_core_exprs(), *_window_exprs(spec)]
    if spec.prices_vary or spec.discounts_seen:
        exprs += _price_exprs()
    exprs += _category_exprs(spec.categories or ())
    # one group_by holds every plain aggregate; the purchase gaps come from a sorted side frame
    out = (
        lf.group_by(USER_ID)
        .agg(exprs)
        .join(_gap_features(lf), on=USER_ID, how="left")
        .pipe(_derived_features, spec)
        .sort(USER_ID)
    )
    frame = out.collect()
    if frame.height == 0:
        raise NotEnoughData(
            f"There are no events on or before {cutoff:%Y-%m-%d}; pick a later cutoff date."
        )
    return _finalise(frame, spec)


_IS_BUY = pl.col("_type") == EventType.PURCHASE.value
_IS_REFUND = pl.col("_type") == EventType.REFUND.value


def _core_exprs() -> list[pl.Expr]:
    gross = pl.col("_value").filter(_IS_BUY).sum()
    refunded = pl.col("_value").filter(_IS_REFUND).sum()
    return [
        pl.col("_ago").min().alias("days_since_last_event"),
        pl.col("_ago").filter(_IS_BUY).min().alias("days_since_last_purchase"),
        pl.col("_ago").max().alias("days_since_first_event"),
        pl.col("_order").filter(_IS_BUY).n_unique().alias("orders"),
        pl.col("_day").filter(_IS_BUY).n_unique().alias("purchase_days"),
        pl.col("_qty").filter(_IS_BUY).sum().alias("items_purchased"),
        (gross - refunded).alias("revenue_total"),
        _IS_REFUND.sum().alias("refunds"),
        pl.when(gross > 0)
        .then((refunded / gross).clip(0.0, 1.0))
        .otherwise(0.0)
        .alias("refund_rate"),
        pl.len().alias("events_total"),
        pl.col("_day").n_unique().alias("active_days"),
        pl.col(ITEM_ID).drop_nulls().n_unique().alias("distinct_items"),
        pl.col(CATEGORY).drop_nulls().n_unique().alias("distinct_categories"),
    ]


def _gap_features(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Mean, median and std of the gaps between purchase days (null for fewer than two)."""
    gap = pl.col("_gap")
    return (
        _purchase_gaps(lf)
        .group_by(USER_ID)
        .agg(
            gap.mean().alias("purchase_gap_mean_days"),
            gap.median().alias("purchase_gap_median_days"),
            gap.std(ddof=0).alias("purchase_gap_std_days"),
        )
    )


def _window_exprs(spec: FeatureSpec) -> list[pl.Expr]:
    assert spec.windows_days is not None and spec.event_types is not None
    exprs: list[pl.Expr] = []
    for w in spec.windows_days:
        inside = pl.col("_ago") < w
        for etype in spec.event_types:
            exprs.append(
                (inside & (pl.col("_type") == etype)).sum().alias(f"{_COUNTED_TYPES[etype]}_{w}d")
            )
        exprs += [
            pl.col("_order").filter(inside & _IS_BUY).n_unique().alias(f"purchases_{w}d"),
            pl.col("_value").filter(inside & _IS_BUY).sum().alias(f"revenue_{w}d"),
            pl.col("_day").filter(inside).n_unique().alias(f"active_days_{w}d"),
        ]
    mid = _trend_window(spec.windows_days)
    recent = pl.col("_day").filter(pl.col("_ago") < mid).n_unique()
    earlier = pl.col("_day").filter((pl.col("_ago") >= mid) & (pl.col("_ago") < 2 * mid)).n_unique()
    exprs.append(((recent + 1) / (earlier + 1)).cast(pl.Float64).alias("activity_trend"))
    if _has_funnel(spec):
        exprs += [
            (pl.col("_type") == EventType.VIEW.value).sum().alias("_views"),
            (pl.col("_type") == EventType.CART.value).sum().alias("_carts"),
            pl.col("_order").filter(_IS_BUY).n_unique().alias("_orders"),
        ]
    return exprs


def _has_funnel(spec: FeatureSpec) -> bool:
    types = spec.event_types or ()
    return EventType.VIEW.value in types or EventType.CART.value in types


def _trend_window(windows: tuple[int, ...]) -> int:
    return windows[len(windows) // 2]


def _with_relative_prices(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Each priced event's price relative to its category median, and whether it was discounted."""
    price = pl.when(pl.col(PRICE) > 0).then(pl.col(PRICE))
    group = pl.coalesce(pl.col(CATEGORY), pl.lit("\0all"))
    item_median = price.median().over(pl.col(ITEM_ID).fill_null(""))
    return lf.with_columns(
        (price / price.median().over(group)).alias("_rel"),
        (price < _DISCOUNT_THRESHOLD * item_median).alias("_cheap"),
    )


def _price_exprs() -> list[pl.Expr]:
    looked = pl.col("_type").is_in([EventType.VIEW.value, EventType.PURCHASE.value])
    return [
        pl.col("_rel").filter(looked).mean().alias("price_level"),
        pl.col("_cheap").filter(_IS_BUY).mean().alias("discount_share"),
    ]


def _category_exprs(categories: tuple[str, ...]) -> list[pl.Expr]:
    known = pl.col(CATEGORY).is_not_null().sum()
    return [
        pl.when(known > 0).then((pl.col(CATEGORY) == cat).sum() / known).otherwise(0.0).alias(name)
        for name, cat in _category_columns(categories)
    ]


def _category_columns(categories: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(column, category)`` pairs with unique slugs (a clash gets ``_2``, ``_3`` ...)."""
    seen: dict[str, int] = {}
    out = []
    for cat in categories:
        slug = category_slug(cat)
        seen[slug] = seen.get(slug, 0) + 1
        suffix = "" if seen[slug] == 1 else f"_{seen[slug]}"
        out.append((f"cat_share_{slug}{suffix}", cat))
    return out


def _derived_features(lf: pl.LazyFrame, spec: FeatureSpec) -> pl.LazyFrame:
    never = pl.col("days_since_first_event") + 1
    last_buy = pl.col("days_since_last_purchase").fill_null(never)
    mean_gap = pl.col("purchase_gap_mean_days").fill_null(never.cast(pl.Float64))
    lf = lf.with_columns(
        last_buy.alias("days_since_last_purchase"),
        mean_gap.alias("purchase_gap_mean_days"),
        pl.col("purchase_gap_median_days").fill_null(never.cast(pl.Float64)),
        pl.col("purchase_gap_std_days").fill_null(0.0),
        pl.when(pl.col("orders") > 0)
        .then(pl.col("revenue_total") / pl.col("orders"))
        .otherwise(0.0)
        .alias("avg_order_value"),
    ).with_columns((last_buy / pl.max_horizontal(mean_gap, 1.0)).alias("overdue_ratio"))
    if "_views" in lf.collect_schema().names():
        lf = lf.with_columns(
            _rate(pl.col("_carts"), pl.col("_views")).alias("view_to_cart_rate"),
            _rate(pl.col("_orders"), pl.col("_carts")).alias("cart_to_purchase_rate"),
            (pl.col("_views") > 0).cast(pl.Int64).alias("has_views"),
        )
    if spec.prices_vary:
        lf = lf.with_columns(pl.col("price_level").fill_null(1.0))
    if spec.discounts_seen:
        lf = lf.with_columns(pl.col("discount_share").fill_null(0.0))
    return lf.select(_column_order(spec))


def _rate(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then((num / den).clip(0.0, 1.0)).otherwise(0.0)


def _column_order(spec: FeatureSpec) -> list[str]:
    assert spec.windows_days is not None and spec.event_types is not None
    cols = [
        USER_ID,
        "days_since_last_event",
        "days_since_last_purchase",
        "days_since_first_event",
        "orders",
        "purchase_days",
        "items_purchased",
        "revenue_total",
        "avg_order_value",
        "refunds",
        "refund_rate",
        "purchase_gap_mean_days",
        "purchase_gap_median_days",
        "purchase_gap_std_days",
        "overdue_ratio",
        "events_total",
        "active_days",
        "distinct_items",
        "distinct_categories",
    ]
    for w in spec.windows_days:
        cols += [f"{_COUNTED_TYPES[t]}_{w}d" for t in spec.event_types]
        cols += [f"purchases_{w}d", f"revenue_{w}d", f"active_days_{w}d"]
    cols.append("activity_trend")
    if _has_funnel(spec):
        cols += ["view_to_cart_rate", "cart_to_purchase_rate", "has_views"]
    if spec.prices_vary:
        cols.append("price_level")
    if spec.discounts_seen:
        cols.append("discount_share")
    cols += [name for name, _ in _category_columns(spec.categories or ())]
    return cols


def _finalise(frame: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Counts as Int64, the rest Float64, and a last guard against null/NaN/inf."""
    exprs = []
    for name, dtype in frame.schema.items():
        if name == USER_ID:
            exprs.append(pl.col(name))
        elif dtype.is_integer():
            exprs.append(pl.col(name).cast(pl.Int64).fill_null(0))
        else:
            col = pl.col(name).cast(pl.Float64)
            exprs.append(
                pl.when(col.is_finite()).then(col).otherwise(0.0).fill_null(0.0).alias(name)
            )
    return frame.select(exprs)


# --- customer tables ----------------------------------------------------------------------------
_MAX_LEVELS = 20  # a string column with more distinct values is an id or free text, not a feature
_ID_HINTS = ("id", "email", "e_mail", "phone", "name", "address", "zip", "postcode", "postal")


def customer_table_features(
    users: pl.DataFrame, *, exclude: Sequence[str] = (), max_levels: int = _MAX_LEVELS
) -> pl.DataFrame:
    """Features of a customer table: its own columns, made numeric.

    Numeric columns are kept (nulls filled with the column median); booleans become 0/1; string or
    categorical columns with at most ``max_levels`` values become one-hot ``<col>_<value>`` columns;
    ``user_id``, the columns in ``exclude`` (treatment, outcomes), id-like names (``*_id``, email,
    phone, name, address, zip) and high-cardinality text are left out. ``user_id`` comes first.
    """
    if USER_ID not in users.columns:
        raise NotEnoughData(
            "The customer table has no user_id column, so users cannot be told apart."
        )
    dropped = {*exclude, USER_ID}
    exprs: list[pl.Expr] = [pl.col(USER_ID).cast(pl.String)]
    for name, dtype in users.schema.items():
        if name in dropped or _looks_like_id(name):
            continue
        if dtype == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Int64).fill_null(0).alias(category_slug(name)))
        elif dtype.is_numeric():
            col = pl.col(name).cast(pl.Float64)
            col = pl.when(col.is_finite()).then(col)
            exprs.append(col.fill_null(col.median()).fill_null(0.0).alias(category_slug(name)))
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            exprs += _one_hot(users, name, max_levels)
    return users.select(exprs)


def _looks_like_id(name: str) -> bool:
    low = name.lower()
    return (
        low.endswith("_id")
        or low == "id"
        or any(h == low or low.startswith(h + "_") for h in _ID_HINTS)
    )


def _one_hot(users: pl.DataFrame, name: str, max_levels: int) -> list[pl.Expr]:
    values = users[name].cast(pl.String).drop_nulls().unique().sort().to_list()
    if not 1 < len(values) <= max_levels:
        return []
    base = category_slug(name)
    return [
        (pl.col(name).cast(pl.String) == v)
        .fill_null(False)
        .cast(pl.Int64)
        .alias(f"{base}_{category_slug(v)}")
        for v in values
    ]
