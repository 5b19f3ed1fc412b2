"""Column auto-mapping: which source column is the user, the time, the event type ... and the shape.

Names are matched against ``schema.COLUMN_SYNONYMS`` (English and Chinese); values confirm or
veto a name (a 'date' column must parse as time) and map columns whose names say nothing (a
file without header, like CDNOW). Every choice carries a confidence in 0..1 the UI shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from analytics.core.schema import (
    ARM,
    BRAND,
    CAMPAIGN_ID,
    CATEGORY,
    COLUMN_SYNONYMS,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPE_SYNONYMS,
    ITEM_ID,
    ITEM_NAME,
    ORDER_ID,
    PRICE,
    QUANTITY,
    REVENUE,
    SENT_TIME,
    SESSION_ID,
    USER_ID,
    Shape,
)
from analytics.ingest.readers import normalize_name
from analytics.ingest.times import TIME_OF_DAY, TimeFormat, infer_time_format, is_time_of_day

__all__ = [
    "MAPPABLE",
    "ColumnMapping",
    "TimeFormat",
    "auto_map",
    "experiment_columns",
    "infer_time_format",
    "map_side_table",
]

# canonical fields a source column can be mapped to, per shape
EVENT_FIELDS = (USER_ID, EVENT_TIME, EVENT_TYPE, ITEM_ID, CATEGORY, QUANTITY, PRICE, REVENUE)
OPTIONAL_FIELDS = (ORDER_ID, ITEM_NAME, BRAND, SESSION_ID, TIME_OF_DAY)
MAPPABLE: dict[str, tuple[str, ...]] = {
    Shape.EVENTS: (*EVENT_FIELDS, *OPTIONAL_FIELDS),
    Shape.TRANSACTIONS: (*EVENT_FIELDS, *OPTIONAL_FIELDS),
    Shape.CUSTOMERS: (USER_ID,),
    "exposures": (USER_ID, CAMPAIGN_ID, ARM, SENT_TIME),
    "users": (USER_ID,),
}
NUMERIC_FIELDS = (QUANTITY, PRICE, REVENUE)
TIME_FIELDS = (EVENT_TIME, SENT_TIME)


# --- column profiles ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Profile:
    name: str
    time: TimeFormat | None
    numeric: float  # share of values that are numbers
    integral: bool  # every number is whole
    leading_zeros: bool  # ids like 00042
    max_abs: float
    median: float
    event_words: float  # share of values in the event-type vocabulary
    unique: int
    non_null: int
    rows: int  # sample rows, nulls included
    order_names: float  # share of values like '#1001' (a shop system's order names)
    decimals: bool  # values written with a decimal point


def _profile(name: str, values: pl.Series) -> _Profile:
    non_null = values.drop_nulls()
    n = non_null.len()
    if values.dtype.is_numeric():
        numbers = non_null.cast(pl.Float64)
        text = None
        numeric = 1.0 if n else 0.0
        decimals = values.dtype.is_float() and bool((numbers != numbers.round()).any())
    else:
        text = non_null.cast(pl.String).str.strip_chars()
        numbers = text.str.replace_all(r"[$£€¥￥\s,]", "").cast(pl.Float64, strict=False)
        numeric = float(numbers.is_not_null().sum() / n) if n else 0.0
        decimals = bool(text.str.contains(r"^-?[\d,]*\.\d+$").any())
        numbers = numbers.drop_nulls()
    integral = bool(numbers.len() and (numbers == numbers.round()).all())
    words = 0.0
    if text is not None and n:
        words = _float(text.str.to_lowercase().is_in(list(EVENT_TYPE_SYNONYMS)).mean())
    return _Profile(
        name=name,
        time=infer_time_format(values),
        numeric=numeric,
        integral=integral,
        leading_zeros=bool(text is not None and text.str.contains(r"^0\d").any()),
        max_abs=_float(numbers.abs().max()),
        median=_float(numbers.median()),
        event_words=words,
        unique=non_null.n_unique() if n else 0,
        non_null=n,
        rows=values.len(),
        order_names=_float(text.str.contains(r"^#\d+$").mean()) if text is not None and n else 0.0,
        decimals=decimals,
    )


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


# --- mapping --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnMapping:
    """The detected shape and mapping (canonical -> source) with a confidence per field."""

    shape: Shape
    mapping: dict[str, str]
    confidence: dict[str, float]
    time_format: TimeFormat | None
    warnings: list[str]


def _name_score(name: str, canonical: str) -> float:
    norm = normalize_name(name)
    synonyms = COLUMN_SYNONYMS.get(canonical, ())
    if not norm:
        return 0.0
    if norm == normalize_name(canonical) or norm in synonyms[:3]:
        return 1.0
    if norm in synonyms:
        return 0.9
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).lower()
    tokens = [t for t in re.split(r"[^0-9a-z\u4e00-\u9fff]+", spaced) if t]
    for syn in synonyms:
        if len(syn) >= 3 and syn.isascii() and (syn in tokens or norm.startswith(syn)):
            return 0.6
        if not syn.isascii() and syn in norm:
            return 0.7
    return 0.0


def _value_fit(canonical: str, p: _Profile) -> float:
    """How well a column's values fit a canonical field: 1 fits, 0 vetoes."""
    if p.non_null == 0:
        return 0.5
    if canonical in TIME_FIELDS:
        return p.time.share if p.time else 0.0
    if canonical in NUMERIC_FIELDS:
        return p.numeric if p.numeric >= 0.5 else 0.0  # a few unreadable values are rejects
    if canonical == EVENT_TYPE:
        return 1.0 if p.event_words >= 0.5 or p.unique <= 50 else 0.2
    if canonical == ITEM_NAME and p.order_names >= 0.9:
        return 0.0  # '#1001' names an order, not a product
    return 1.0


def auto_map(sample: pl.DataFrame, *, shape: Shape | str | None = None) -> ColumnMapping:
    """Map the columns of ``sample`` (a few hundred rows) and detect the shape."""
    profiles = {c: _profile(c, sample.get_column(c)) for c in sample.columns}
    mapping, confidence = _map_by_name(profiles, MAPPABLE[Shape.EVENTS])
    warnings: list[str] = []
    _map_by_value(profiles, mapping, confidence, warnings)
    detected = _detect_shape(mapping, confidence, profiles)
    chosen = Shape(shape) if shape else detected
    if chosen == Shape.CUSTOMERS:  # only a user id named as such; values alone prove nothing
        mapping = {k: v for k, v in mapping.items() if k == USER_ID and confidence[k] >= 0.8}
        confidence = {k: v for k, v in confidence.items() if k in mapping}
        warnings = []  # about columns mapped from their values, now unmapped
    _pair_time_of_day(sample, profiles, mapping, confidence)
    time_format = profiles[mapping[EVENT_TIME]].time if EVENT_TIME in mapping else None
    if time_format and time_format.ambiguous:
        warnings.append(_ambiguous_warning(mapping[EVENT_TIME], sample))
    if EVENT_TYPE in mapping:
        warnings.extend(_unknown_event_words(sample.get_column(mapping[EVENT_TYPE])))
    return ColumnMapping(chosen, mapping, confidence, time_format, warnings)


def _pair_time_of_day(
    sample: pl.DataFrame,
    profiles: dict[str, _Profile],
    mapping: dict[str, str],
    confidence: dict[str, float],
) -> None:
    """A date-only time column plus a free column of times of day: read them together."""
    tf = profiles[mapping[EVENT_TIME]].time if EVENT_TIME in mapping else None
    if (
        tf is None
        or tf.kind not in ("text", "date")
        or any("%H" in f or "%I" in f for f in tf.formats)
    ):
        return
    free = [c for c in sample.columns if c not in mapping.values()]
    clocks = [c for c in free if is_time_of_day(sample.get_column(c))]
    if clocks:
        mapping[TIME_OF_DAY] = clocks[0]
        confidence[TIME_OF_DAY] = 0.8


def map_side_table(sample: pl.DataFrame, kind: str) -> tuple[dict[str, str], dict[str, float]]:
    """Map a side table (``exposures`` or ``users``) by column names and values."""
    profiles = {c: _profile(c, sample.get_column(c)) for c in sample.columns}
    return _map_by_name(profiles, MAPPABLE[kind])


def _map_by_name(
    profiles: dict[str, _Profile], fields: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, float]]:
    candidates = []
    for position, (name, profile) in enumerate(profiles.items()):
        for canonical in fields:
            score = _name_score(name, canonical)
            if canonical == USER_ID and score < 0.9 and _few_values(profile):
                continue  # a label (VisitorType, segment), not a customer id
            if score:
                fit = _value_fit(canonical, profile)
                if canonical == CATEGORY:
                    fit *= _readable(profile)
                if fit > 0:
                    candidates.append((score * (0.7 + 0.3 * fit), -position, canonical, name))
    mapping: dict[str, str] = {}
    confidence: dict[str, float] = {}
    for score, _, canonical, name in sorted(candidates, reverse=True):
        if canonical not in mapping and name not in mapping.values():
            mapping[canonical] = name
            confidence[canonical] = round(score, 2)
    return mapping, confidence


def _map_by_value(
    profiles: dict[str, _Profile],
    mapping: dict[str, str],
    confidence: dict[str, float],
    warnings: list[str],
) -> None:
    """Map what names did not, from the values alone (files without header)."""
    free = [p for name, p in profiles.items() if name not in mapping.values()]

    def take(canonical: str, p: _Profile, score: float) -> None:
        mapping[canonical] = p.name
        confidence[canonical] = score
        free.remove(p)

    if EVENT_TIME not in mapping:
        times = [p for p in free if p.time and p.time.kind != "excel" and p.time.share >= 0.9]
        if times:
            take(EVENT_TIME, times[0], 0.7)
    named_money = {PRICE, REVENUE} & mapping.keys()
    if EVENT_TYPE not in mapping and not named_money:  # 'paid' in an order status is no event
        words = [p for p in free if p.event_words >= 0.8]
        if words:
            take(EVENT_TYPE, words[0], 0.8)
    if ORDER_ID not in mapping:  # shop-system order names: #1001
        orders = [p for p in free if p.order_names >= 0.9]
        if orders:
            take(ORDER_ID, orders[0], 0.7)
    money = [
        p for p in free if p.numeric >= 0.95 and p.decimals and not _COUNTS_TIME.search(p.name)
    ]
    if money and not named_money:
        take(REVENUE, money[0], 0.5)
        warnings.append(
            f"Column '{money[0].name}' holds money amounts and was read as the line total "
            "(revenue). If it is a unit price, map it to price."
        )
    _map_ids_by_value(profiles, free, take, mapping)


def _map_ids_by_value(
    profiles: dict[str, _Profile],
    free: list[_Profile],
    take: Callable[[str, _Profile, float], None],
    mapping: dict[str, str],
) -> None:
    """Whole-number or text columns, in file order: the customer, then quantity, item, category.
    A customer id is only guessed in a file with times (an event or order log)."""
    ids = [
        p
        for p in free
        if p.non_null
        and not p.decimals
        and (p.time is None or p.time.kind == "excel")
        and not _COUNTS_TIME.search(p.name)
    ]
    is_money_shape = bool({PRICE, REVENUE} & mapping.keys()) and EVENT_TYPE not in mapping
    for p in ids:
        small_count = p.integral and not p.leading_zeros and p.max_abs <= 1000 and p.median <= 50
        if USER_ID not in mapping:
            if EVENT_TIME in mapping and not _few_values(p):
                take(USER_ID, p, 0.6)
        elif is_money_shape and QUANTITY not in mapping and small_count:
            take(QUANTITY, p, 0.6)
        elif _follows(profiles, mapping[USER_ID], p.name):
            continue  # one value per user (an alias or attribute), not an item
        elif ITEM_ID not in mapping:
            take(ITEM_ID, p, 0.5)
        elif CATEGORY not in mapping and not is_money_shape:
            take(CATEGORY, p, 0.5)


# names of columns that count time (days since the prior order, hour of day): never money
_COUNTS_TIME = re.compile(
    r"days?|hours?|since|dow|weekday|minutes?|seconds?|duration", re.IGNORECASE
)


def _few_values(p: _Profile) -> bool:
    """Too few distinct values to be customer ids: under 50, or under 1% of the rows (judged
    on samples of 100 rows or more)."""
    return p.non_null >= 100 and (p.unique < 50 or p.unique < 0.01 * p.non_null)


def _readable(p: _Profile) -> float:
    """Category columns: readable names (or paths) beat opaque numeric ids, unless mostly empty."""
    if p.numeric >= 0.9:
        return 0.5
    return 1.0 if p.non_null >= 0.5 * p.rows else 0.4


def _follows(profiles: dict[str, _Profile], user: str, other: str) -> bool:
    """Whether ``other`` has no more distinct values than the user column (an alias or
    attribute of the user, like CDNOW's customer index)."""
    return profiles[other].unique <= profiles[user].unique


def _detect_shape(
    mapping: dict[str, str], confidence: dict[str, float], profiles: dict[str, _Profile]
) -> Shape:
    user = profiles.get(mapping.get(USER_ID, ""))
    if EVENT_TIME not in mapping:
        repeats = user is not None and user.non_null > 20 and user.unique < user.non_null
        if repeats and {ORDER_ID, ITEM_ID, EVENT_TYPE} & mapping.keys():
            # an event or order log without times: ingest says plainly what is missing
            return Shape.EVENTS if EVENT_TYPE in mapping else Shape.TRANSACTIONS
        return Shape.CUSTOMERS
    if EVENT_TYPE in mapping:
        return Shape.EVENTS
    one_row_per_user = user is not None and user.non_null > 20 and user.unique == user.non_null
    if confidence[EVENT_TIME] < 0.9 and one_row_per_user:
        return Shape.CUSTOMERS  # e.g. a CRM export with a sign-up date
    return Shape.TRANSACTIONS


# --- experiments in customer tables ---------------------------------------------------------------
_CONTROL_WORDS = ("control", "no e-mail", "no email", "no mail", "holdout", "hold out", "对照")
_OUTCOME_WORDS = (
    "visit", "visits", "conversion", "converted", "convert", "spend", "spent", "revenue",
    "purchase", "purchased", "bought", "click", "clicked", "clicks", "open", "opened",
    "response", "responded", "outcome", "sales", "churn", "churned", "转化", "购买", "消费",
)  # fmt: skip


def experiment_columns(sample: pl.DataFrame) -> tuple[str | None, tuple[str, ...]]:
    """A column that looks like the arm of a test (a few values, one of them a control such as
    'No E-Mail'), and the outcome columns after it (visit, conversion, spend ...): measured
    after the test, so segments must not describe customers by them."""
    arm = None
    for name in sample.columns:
        values = sample.get_column(name).drop_nulls().cast(pl.String).str.to_lowercase()
        distinct = values.unique()
        named = normalize_name(name) in COLUMN_SYNONYMS[ARM]
        has_control = distinct.str.contains("|".join(_CONTROL_WORDS)).any()
        if 2 <= distinct.len() <= 10 and (has_control or (named and distinct.len() <= 4)):
            arm = name
            break
    if arm is None:
        return None, ()
    after = sample.columns[sample.columns.index(arm) + 1 :]
    outcomes = tuple(c for c in after if _is_outcome(c, sample.get_column(c)))
    return arm, outcomes


def _is_outcome(name: str, values: pl.Series) -> bool:
    words = re.split(r"[^0-9a-z\u4e00-\u9fff]+", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower())
    numeric = values.dtype.is_numeric() or values.dtype == pl.Boolean
    if not numeric and values.dtype == pl.String:
        numeric = bool(values.drop_nulls().str.contains(r"^-?[\d.]+$|^(?i:true|false)$").all())
    return numeric and any(w in _OUTCOME_WORDS for w in words)


def _ambiguous_warning(column: str, sample: pl.DataFrame) -> str:
    example = sample.get_column(column).drop_nulls().cast(pl.String).head(1).to_list()
    shown = f" like {example[0]}" if example else ""
    return (
        f"Dates in '{column}'{shown} could be day/month or month/day, and the rows looked at do "
        "not settle it. Ingest checks every row; if none settles it either, choose the order."
    )


def _unknown_event_words(values: pl.Series) -> list[str]:
    words = values.drop_nulls().cast(pl.String).str.strip_chars().str.to_lowercase()
    unknown = words.filter(~words.is_in(list(EVENT_TYPE_SYNONYMS))).unique().sort().head(5)
    if unknown.len() == 0:
        return []
    shown = ", ".join(f"'{w}'" for w in unknown.to_list())
    return [f"Event types {shown} are not known and will be counted as 'other'."]
