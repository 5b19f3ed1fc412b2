"""Ingest: a user's file (events, transactions or a customer table) into canonical frames.

``detect_file`` sniffs a sample and proposes a shape and a column mapping with confidences;
``ingest_file`` reads the whole file once, lazily and streaming, into canonical events (or a user
table), with every rejected row kept with its line number and reason, so that
``rows_accepted + rows_rejected == rows_read`` always holds.

Decisions the report states plainly:

- Transactions without a user id are accepted but kept out of per-user ``events``: they go to
  ``anonymous`` (same columns, ``user_id`` null) and count in the store-level report figures
  (``events_by_type``, ``revenue_total``, ``orders``) and in ``rows_without_user``.
  For an events file a row without user id is rejected ("missing user id").
- Transactions: a negative quantity or an order id starting with "C" is a refund, with negative
  quantity and revenue; a negative unit price (bad-debt adjustments) is event type 'other'.
  revenue = quantity * price; with only a line total, price = total / quantity.
- Text dates like 03/04/2011 are parsed both ways; a value with a day over 12 settles the order
  for the whole file. If no value settles it, ``IngestError`` asks for ``day_first``.
- Naive times are read in ``IngestSpec.tz`` and stored in UTC; epoch numbers are UTC.
- Customer tables without a user id column get ids "1", "2", ... from the row order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import IngestError, MappingError
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import (
    ARM,
    CAMPAIGN_ID,
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPE_DTYPE,
    EVENT_TYPE_SYNONYMS,
    EVENTS_SCHEMA,
    EXPOSURES_SCHEMA,
    ITEM_ID,
    ITEM_NAME,
    ORDER_ID,
    PRICE,
    QUANTITY,
    REVENUE,
    SENT_TIME,
    TIME_DTYPE,
    USER_ID,
    EventType,
    Shape,
)
from analytics.ingest.mapping import (
    MAPPABLE,
    TimeFormat,
    auto_map,
    infer_time_format,
    map_side_table,
)
from analytics.ingest.readers import EXTRA, LINE, WHITESPACE, Sniff, Source, open_source, sniff_file

__all__ = [
    "REJECTS_SCHEMA",
    "Detection",
    "IngestResult",
    "IngestSpec",
    "SideTable",
    "detect_file",
    "ingest_file",
    "ingest_side_file",
    "resolve_spec",
]

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.String(),
}
_REASON, _FAILED, _ALT_TIME = "__reason", "__failed", "__time_month_first"
_ITEM_KEY = "__item_key"  # item ids as numbers, for the item table only
_BASE_KIND = "__p_base"  # the mapped behaviour column's canonical type, made after the scan
_DAY_OK, _MONTH_OK = "__day_ok", "__month_ok"
PREVIEW_ROWS = 20
ANONYMOUS_POLICY = (
    "Rows without a customer id are kept apart from per-user events (table 'anonymous_events'); "
    "they count in the store-level figures (events_by_type, revenue_total, orders)."
)


# --- public types -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    """What a cheap sniff of a file proposes; the UI shows it and lets the user edit the mapping."""

    format: str  # csv | parquet | excel | jsonl
    encoding: str | None
    delimiter: str | None  # "," ";" "\t" "|" or " " for runs of whitespace
    has_header: bool
    columns: list[str]
    shape: Shape
    mapping: dict[str, str]  # canonical column -> source column
    confidence: dict[str, float]  # canonical column -> 0..1
    preview: pl.DataFrame  # first rows, as strings
    warnings: list[str]
    compression: str | None = None
    time_format: str | None = None  # e.g. "epoch seconds", "%Y-%m-%d %H:%M:%S"
    ambiguous_dates: bool = False  # day/month order not settled by the sample
    sniff: Sniff | None = field(default=None, repr=False, compare=False)

    def info(self) -> dict[str, Any]:
        """The detection as JSON-able data (stored in the ingest report)."""
        return {
            "format": self.format,
            "compression": self.compression,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "has_header": self.has_header,
            "columns": self.columns,
            "shape": str(self.shape),
            "mapping": self.mapping,
            "confidence": self.confidence,
            "time_format": self.time_format,
            "ambiguous_dates": self.ambiguous_dates,
        }


@dataclass(frozen=True)
class IngestSpec:
    """The shape and mapping to ingest with; ``tz`` is the zone of times written without one."""

    shape: Shape
    mapping: dict[str, str]
    day_first: bool | None = None
    tz: str = "UTC"


@dataclass(frozen=True)
class IngestResult:
    """Canonical frames and the ingest report of one file."""

    shape: Shape
    mapping: dict[str, str]
    events: pl.DataFrame  # EVENTS_SCHEMA first, extra source columns after
    users: pl.DataFrame | None
    items: pl.DataFrame | None
    rejects: pl.DataFrame  # line, reason, raw
    report: dict[str, Any]
    anonymous: pl.DataFrame | None = None  # transactions without user id (events columns)


@dataclass(frozen=True)
class SideTable:
    """A side table (campaign exposures or user attributes) read from a file."""

    kind: str
    frame: pl.DataFrame
    rejects: pl.DataFrame
    report: dict[str, Any]


# --- detection ----------------------------------------------------------------------------------
def detect_file(path: Path) -> Detection:
    """Sniff ``path`` (a sample, not the whole file) and propose shape and mapping."""
    sniff = sniff_file(Path(path))
    mapped = auto_map(sniff.sample)
    layout = sniff.layout
    preview = sniff.sample.head(PREVIEW_ROWS).select(pl.all().cast(pl.String))
    tf = mapped.time_format
    return Detection(
        format=sniff.format,
        encoding=layout.encoding if layout else None,
        delimiter=layout.delimiter if layout and sniff.format == "csv" else None,
        has_header=layout.has_header if layout else True,
        columns=sniff.columns,
        shape=mapped.shape,
        mapping=mapped.mapping,
        confidence=mapped.confidence,
        preview=preview,
        warnings=[*sniff.warnings, *mapped.warnings],
        compression=sniff.compression,
        time_format=tf.describe() if tf else None,
        ambiguous_dates=bool(tf and tf.ambiguous),
        sniff=sniff,
    )


def resolve_spec(
    detection: Detection,
    *,
    shape: Shape | str | None = None,
    mapping: dict[str, str] | None = None,
    day_first: bool | None = None,
    tz: str = "UTC",
) -> IngestSpec:
    """The spec to ingest with: the user's ``mapping`` when given (complete: canonical -> source,
    a field left out is not mapped), else the detected one (re-detected for a chosen ``shape``)."""
    chosen = Shape(shape) if shape else detection.shape
    if mapping:
        base = dict(mapping)
    elif chosen != detection.shape:
        assert detection.sniff is not None
        base = auto_map(detection.sniff.sample, shape=chosen).mapping
    else:
        base = dict(detection.mapping)
    _check_mapping(base, chosen, detection.columns)
    return IngestSpec(shape=chosen, mapping=base, day_first=day_first, tz=tz)


def _check_mapping(mapping: dict[str, str], shape: Shape, columns: list[str]) -> None:
    allowed = MAPPABLE[shape]
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise MappingError(
            f"'{unknown[0]}' is not a field of a {shape} file; use one of {', '.join(allowed)}."
        )
    missing = [v for v in mapping.values() if v not in columns]
    if missing:
        raise MappingError(
            f"The file has no column '{missing[0]}'. Its columns are: {', '.join(columns)}."
        )
    required = {
        Shape.EVENTS: (USER_ID, EVENT_TIME),
        Shape.TRANSACTIONS: (USER_ID, EVENT_TIME),
        Shape.CUSTOMERS: (),
    }[shape]
    for canonical in required:
        if canonical not in mapping:
            what = {USER_ID: "customer / user id", EVENT_TIME: "date or time"}[canonical]
            raise MappingError(
                f"No column was recognised as the {what} of a {shape} file. Map one "
                f"(command line: --map {canonical}=COLUMN). Columns: {', '.join(columns)}."
            )


# --- ingest -------------------------------------------------------------------------------------
def ingest_file(
    path: Path,
    spec: IngestSpec | None = None,
    progress: Progress = no_progress,
    *,
    detection: Detection | None = None,
) -> IngestResult:
    """Read ``path`` whole into canonical frames, following ``spec`` (default: the detection).

    ``detection``: the caller's ``detect_file(path)`` of the same file, to save sniffing again.
    """
    path = Path(path)
    progress(0.0, "Looking at the file")
    if detection is None or detection.sniff is None:
        detection = detect_file(path)
    spec = spec or resolve_spec(detection)
    _check_mapping(spec.mapping, spec.shape, detection.columns)
    sniff = detection.sniff
    assert sniff is not None
    progress(0.1, "Reading the file")
    dtypes = _scan_dtypes(spec, sniff) if spec.shape != Shape.CUSTOMERS else None
    with open_source(path, sniff, dtypes) as source:
        if spec.shape == Shape.CUSTOMERS:
            result = _ingest_customers(source, spec, sniff)
        else:
            result = _ingest_events(source, spec, sniff, progress)
    report = {**result.report, "detection": detection.info()}
    report["warnings"] = [*detection.warnings, *report.get("warnings", [])]
    progress(1.0, "Ingest finished")
    return replace(result, report=report)


def _ingest_events(
    source: Source, spec: IngestSpec, sniff: Sniff, progress: Progress
) -> IngestResult:
    clock = _Clock()
    plan = _EventPlan(source, spec, sniff)
    try:
        good, bad = plan.collect()
    except _TypedScanFailed:
        assert source.plain is not None  # some value did not parse: read it all as text
        plan = _EventPlan(source.plain(), spec, sniff)
        good, bad = plan.collect()
    clock.lap("read_parse")
    progress(0.7, "Checking rows")
    good, bad, time_warnings = plan.settle_dates(good, bad)
    rejects = bad.filter(pl.col("reason").is_not_null()).sort("line")
    users_col = good.get_column(USER_ID)
    if spec.shape == Shape.TRANSACTIONS and users_col.null_count():
        anonymous = good.filter(users_col.is_null())
        events = good.filter(users_col.is_not_null())
    else:
        anonymous, events = None, good
    progress(0.8, "Building the item table and the report")
    clock.lap("checks")
    # the report (Polars, multi-threaded) runs beside the item table (mostly NumPy, one
    # thread): on an idle machine the two overlap; "report" is the wait left after the items
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(_events_report, good, rejects, spec, plan.warnings + time_warnings)
        items = _items(good) if ITEM_ID in spec.mapping else None
        clock.lap("items")
        report = later.result()
    clock.lap("report")
    helpers = [c for c in (ITEM_NAME, _ITEM_KEY) if c in events.columns]
    if helpers:
        events = events.drop(helpers)
        anonymous = anonymous.drop(helpers) if anonymous is not None else None
    report["seconds"] = clock.laps
    return IngestResult(
        shape=spec.shape,
        mapping=spec.mapping,
        events=events,
        users=None,
        items=items,
        rejects=rejects,
        report=report,
        anonymous=anonymous,
    )


_PLAIN_NUMBER = r"^-?\d+(\.\d+)?$"


def _scan_dtypes(spec: IngestSpec, sniff: Sniff) -> dict[str, pl.DataType]:
    """Columns a delimited file can parse while scanning: numbers whose sample is plain."""
    if sniff.format != "csv" or sniff.layout is None or sniff.layout.delimiter == WHITESPACE:
        return {}
    dtypes: dict[str, pl.DataType] = {}
    for canonical, dtype, pattern in (
        (QUANTITY, pl.Float64(), _PLAIN_NUMBER),
        (PRICE, pl.Float64(), _PLAIN_NUMBER),
        (REVENUE, pl.Float64(), _PLAIN_NUMBER),
        (EVENT_TIME, pl.Int64(), r"^\d{9,16}$"),  # whole epoch numbers
    ):
        source = spec.mapping.get(canonical)
        if source is None or source in dtypes:
            continue
        sample = sniff.sample.get_column(source).drop_nulls()
        if sample.len() and sample.str.contains(pattern).all():
            dtypes[source] = dtype
    return dtypes


class _TypedScanFailed(Exception):
    """A column scanned as a number held something else: rescan everything as text."""


class _Clock:
    """Wall-clock seconds per ingest step, for the report and the benchmark."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


class _EventPlan:
    """The lazy plan turning raw source columns into canonical events plus a reject reason."""

    def __init__(self, source: Source, spec: IngestSpec, sniff: Sniff) -> None:
        self.source, self.spec, self.sniff = source, spec, sniff
        self.m = spec.mapping
        self.warnings: list[str] = []
        self.unmapped: list[str] = []  # canonical columns filled after the scan
        self.derive: Callable[[pl.DataFrame], pl.DataFrame] = lambda df: df  # see frames()
        self.time_format = self._time_format()
        self.two_way = bool(self.time_format and self.time_format.ambiguous) and (
            spec.day_first is None
        )

    # -- column parsers --
    def _raw(self, canonical: str) -> pl.Expr:
        return pl.col(self.m[canonical])

    def _sample(self, canonical: str) -> pl.Series:
        return self.sniff.sample.get_column(self.m[canonical])

    def _time_format(self) -> TimeFormat | None:
        if EVENT_TIME not in self.m:
            return None
        tf = infer_time_format(self._sample(EVENT_TIME))
        if tf is None:
            raise MappingError(
                f"Column '{self.m[EVENT_TIME]}' does not hold dates or times we can read "
                "(tried ISO dates, day/month and month/day dates, epoch seconds and "
                "milliseconds). Map the time to another column."
            )
        return tf

    def text_id(self, canonical: str) -> pl.Expr:
        return _id_expr(self._raw(canonical), self._sample(canonical))

    def number(self, canonical: str) -> pl.Expr:
        if self.m[canonical] in self.source.typed:
            return self._raw(canonical).cast(pl.Float64)
        return _number_expr(self._raw(canonical), self._sample(canonical), self.sniff)

    def times(self) -> tuple[pl.Expr, pl.Expr | None]:
        tf = self.time_format
        assert tf is not None
        raw = self._raw(EVENT_TIME)
        if tf.ambiguous:
            day_first, month_first = tf.formats
            if self.spec.day_first is not None:
                fmt = day_first if self.spec.day_first else month_first
                return _text_time(raw, fmt, self.spec.tz), None
            return _text_time(raw, day_first, self.spec.tz), _text_time(
                raw, month_first, self.spec.tz
            )
        return _time_expr(raw, tf, self.spec.tz), None

    def event_type(
        self,
        quantity: pl.Expr | None,
        order: pl.Expr | None,
        price: pl.Expr | None,
        revenue: pl.Expr | None,
    ) -> pl.Expr:
        """The canonical event type; in transactions refunds and adjustments are recognised."""
        if EVENT_TYPE in self.m:  # made from the collected column by ``derive``
            base = pl.col(_BASE_KIND)
        elif self.spec.shape == Shape.TRANSACTIONS or {PRICE, REVENUE, QUANTITY} & self.m.keys():
            base = pl.lit(EventType.PURCHASE.value, dtype=EVENT_TYPE_DTYPE)
        else:
            base = pl.lit(EventType.OTHER.value, dtype=EVENT_TYPE_DTYPE)
        if self.spec.shape != Shape.TRANSACTIONS:
            return base
        refund = pl.lit(False)
        if quantity is not None:
            refund = refund | (quantity < 0).fill_null(False)
        if order is not None:
            refund = refund | order.str.starts_with("C").fill_null(False)
        if quantity is None and price is None and revenue is not None:
            refund = refund | (revenue < 0).fill_null(False)
        refund_kind = pl.lit(EventType.REFUND.value, dtype=EVENT_TYPE_DTYPE)
        kind = pl.when(refund).then(refund_kind).otherwise(base)
        if price is not None:  # a negative unit price is a bad-debt adjustment, not a sale
            other = pl.lit(EventType.OTHER.value, dtype=EVENT_TYPE_DTYPE)
            kind = pl.when(~refund & (price < 0).fill_null(False)).then(other).otherwise(kind)
        return kind

    # -- the plan --
    def frames(self) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """Two lazy frames over one scan: accepted rows, and rejected rows' raw text.

        Parsing happens once, into ``__p_*`` columns that the checks and outputs reuse. The
        accepted rows leave the scan as the columns the canonical ones are made of; ``derive``
        then makes the canonical columns in memory (the event type's word lookup costs several
        times more per row inside the streaming scan than on the collected column).
        """
        m = self.m
        when, alt_time = self.times()
        parsers: dict[str, pl.Expr] = {"user": self.text_id(USER_ID), "time": when}
        if alt_time is not None:
            parsers["time2"] = alt_time
        for canonical, key in ((QUANTITY, "q"), (PRICE, "p"), (REVENUE, "r")):
            if canonical in m:
                parsers[key] = self.number(canonical)
        for canonical in (ORDER_ID, ITEM_ID, CATEGORY):
            if canonical in m:
                parsers[canonical] = self.text_id(canonical)
        parsed = self.source.lazy.with_columns(e.alias(f"__p_{k}") for k, e in parsers.items())

        def col(key: str) -> pl.Expr | None:
            return pl.col(f"__p_{key}") if key in parsers else None

        q, p, r = col("q"), col("p"), col("r")
        kind = self.event_type(q, col(ORDER_ID), p, r)
        checks = self._checks(pl.col("__p_user"), pl.col("__p_time"), col("time2"), q, p, r)
        # one boolean per row splits the rows; the reason text is only built for the failures
        failed = pl.any_horizontal(fails for _, fails in checks)
        base = parsed.with_columns(failed.alias(_FAILED))
        outputs = self._outputs(col, q, p, r)
        needed = {name for e in [kind, *outputs] for name in e.meta.root_names()}
        needed -= {"__p_kind", _BASE_KIND}
        raw_kind = self.m.get(EVENT_TYPE)
        if raw_kind is not None:
            needed.add(raw_kind)
        good = base.filter(~pl.col(_FAILED)).select(sorted(needed))

        def derive(df: pl.DataFrame) -> pl.DataFrame:
            if raw_kind is not None:
                types = _event_types(df.get_column(raw_kind), self._sample(EVENT_TYPE))
                df = df.with_columns(types.alias(_BASE_KIND))
            return df.with_columns(kind.alias("__p_kind")).select(outputs)

        self.derive = derive
        suspect = pl.col(_FAILED)
        flags: list[pl.Expr] = []
        if alt_time is not None:
            day_ok, month_ok = pl.col("__p_time").is_not_null(), pl.col("__p_time2").is_not_null()
            suspect = suspect | (day_ok != month_ok)
            flags = [day_ok.alias(_DAY_OK), month_ok.alias(_MONTH_OK)]
        bad = (
            base.filter(suspect)
            .with_columns(_first_reason(checks).alias(_REASON))
            .select(
                pl.col(LINE).alias("line"),
                pl.col(_REASON).alias("reason"),
                _raw_text(self.source, pl.col(_REASON)).alias("raw"),
                *flags,
            )
        )
        return good, bad

    def _outputs(
        self, col, q: pl.Expr | None, p: pl.Expr | None, r: pl.Expr | None
    ) -> list[pl.Expr]:
        """Canonical columns (from the parsed ones), then the extra source columns."""
        kind = pl.col("__p_kind")
        quantity = q if q is not None else pl.lit(1.0)
        if p is not None:
            price, revenue = p, (quantity * p if r is None else r)
        elif r is not None:
            price, revenue = pl.when(quantity != 0).then(r / quantity), r
        else:
            price, revenue = pl.lit(None, pl.Float64), pl.lit(None, pl.Float64)
        is_refund = kind == EventType.REFUND.value
        money = kind.is_in([EventType.PURCHASE.value, EventType.REFUND.value])
        if self.spec.shape == Shape.TRANSACTIONS:
            money = money | (kind == EventType.OTHER.value)
        no_text = pl.lit(None, pl.String)
        canonical = {
            USER_ID: pl.col("__p_user"),
            EVENT_TIME: pl.col("__p_time"),
            EVENT_TYPE: kind,
            ITEM_ID: col(ITEM_ID) if col(ITEM_ID) is not None else no_text,
            CATEGORY: col(CATEGORY) if col(CATEGORY) is not None else no_text,
            QUANTITY: pl.when(is_refund).then(-quantity.abs()).otherwise(quantity),
            PRICE: price,
            REVENUE: pl.when(is_refund).then(-revenue.abs()).when(money).then(revenue),
            ORDER_ID: col(ORDER_ID) if col(ORDER_ID) is not None else no_text,
        }
        # an unmapped text column is filled after the scan, as one constant column (a column
        # of ten million null strings would cost 16 bytes a row while streaming)
        self.unmapped = [name for name, e in canonical.items() if e is no_text]
        if q is None:  # one per row (minus one for a refund): also filled after the scan
            self.unmapped.append(QUANTITY)
        outputs = [
            e.cast(EVENTS_SCHEMA[name]).alias(name)
            for name, e in canonical.items()
            if name not in self.unmapped
        ]
        if ITEM_NAME in self.m:
            outputs.append(self._raw(ITEM_NAME).cast(pl.String).str.strip_chars().alias(ITEM_NAME))
        key = self._item_key(col(ITEM_ID))
        if key is not None:
            outputs.append(key.alias(_ITEM_KEY))
        extras = [c for c in self.sniff.columns if c not in self.m.values()]
        outputs += [pl.col(c).alias(_extra_name(c)) for c in extras]
        if col("time2") is not None:
            outputs.append(pl.col("__p_time2").alias(_ALT_TIME))
        return outputs

    def _item_key(self, item: pl.Expr | None) -> pl.Expr | None:
        """Item ids as numbers, parsed while scanning, when the sample's ids are all whole
        numbers (the item table groups those as numbers; null where an id is not one)."""
        if item is None:
            return None
        sample = self._sample(ITEM_ID).drop_nulls()
        if sample.dtype.is_integer():
            return self._raw(ITEM_ID).cast(pl.UInt64, strict=False)
        if sample.dtype == pl.String and sample.str.contains(r"^\s*\d{1,19}\s*$").all():
            return item.cast(pl.UInt64, strict=False)
        return None

    def _checks(
        self,
        user: pl.Expr,
        when: pl.Expr,
        alt_time: pl.Expr | None,
        q: pl.Expr | None,
        p: pl.Expr | None,
        r: pl.Expr | None,
    ) -> list[tuple[str, pl.Expr]]:
        """(reason, failed) pairs in the order they are tried; a row gets the first failure."""
        cols = self.sniff.columns
        checks: list[tuple[str, pl.Expr]] = []
        if self.source.extra:
            checks.append(("wrong number of fields", pl.col(EXTRA).is_not_null()))
        checks.append(("empty line", pl.all_horizontal(pl.col(c).is_null() for c in cols)))
        parsed = when if alt_time is None else pl.coalesce(when, alt_time)
        checks.append(("missing time", self._raw(EVENT_TIME).is_null()))
        checks.append(("unreadable time", parsed.is_null()))
        if self.spec.shape == Shape.EVENTS:
            checks.append(("missing user id", user.is_null()))
        for canonical, parsed_num in ((QUANTITY, q), (PRICE, p), (REVENUE, r)):
            if parsed_num is None:
                continue
            word = {REVENUE: "amount"}.get(canonical, canonical)
            raw = self._raw(canonical)
            if self.spec.shape == Shape.TRANSACTIONS:
                checks.append((f"missing {word}", raw.is_null()))
            checks.append((f"unreadable {word}", raw.is_not_null() & parsed_num.is_null()))
        return checks

    def collect(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Run the plan once: accepted rows, and rejected (or date-suspect) rows with raw text."""
        good, bad = self.frames()
        try:
            good_df, bad_df = pl.collect_all([good, bad], engine="streaming")
        except pl.exceptions.PolarsError as err:
            if self.source.typed:
                raise _TypedScanFailed from err
            raise IngestError(f"The file could not be read to the end: {err}") from None
        good_df = self.derive(good_df)
        if self.unmapped:
            fill = [pl.lit(None, EVENTS_SCHEMA[name]).alias(name) for name in self.unmapped]
            if QUANTITY in self.unmapped:
                refund = pl.col(EVENT_TYPE) == EventType.REFUND.value
                has_refunds = good_df.select(refund.any()).item()
                fill[self.unmapped.index(QUANTITY)] = (
                    pl.when(refund).then(-1.0).otherwise(1.0) if has_refunds else pl.lit(1.0)
                ).alias(QUANTITY)
            order = [*EVENTS_SCHEMA, *(c for c in good_df.columns if c not in EVENTS_SCHEMA)]
            good_df = good_df.with_columns(fill).select(order)
        return good_df, bad_df

    def settle_dates(
        self, good: pl.DataFrame, bad: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
        """Choose day/month order from the evidence of every row (two-way parses only)."""
        if not self.two_way:
            return good, bad, []
        day, month = good.get_column(EVENT_TIME), good.get_column(_ALT_TIME)
        day_only = int((day.is_not_null() & month.is_null()).sum())
        month_only = int((month.is_not_null() & day.is_null()).sum())
        column = self.m[EVENT_TIME]
        warnings: list[str] = []
        if day_only == 0 and month_only == 0:
            if bool((day != month).any()):
                example = good.filter(day != month).get_column(EVENT_TIME).head(1)
                shown = example.dt.strftime("%d/%m/%Y").item() if example.len() else ""
                raise IngestError(
                    f"Dates in '{column}' (like {shown}) could be day/month or month/day, and no "
                    "row settles it. Choose the order (command line: --day-first or "
                    "--month-first) and ingest again."
                )
            day_first = True
        else:
            day_first = day_only >= month_only
            order = "day/month" if day_first else "month/day"
            warnings.append(f"Dates in '{column}' were read as {order}: some values settle it.")
            if day_only and month_only:
                warnings.append(
                    f"{min(day_only, month_only):,} rows use the other day/month order than the "
                    "rest of the file; they were rejected as unreadable time."
                )
        chosen = day if day_first else month
        good = good.with_columns(chosen.alias(EVENT_TIME)).drop(_ALT_TIME)
        ok = pl.col(_DAY_OK if day_first else _MONTH_OK)
        wrong = bad.filter(pl.col("reason").is_null() & ~ok).with_columns(
            reason=pl.lit("unreadable time (day/month order differs from the rest of the file)")
        )
        if wrong.height:
            good = good.filter(pl.col(EVENT_TIME).is_not_null())
        bad = pl.concat([bad.filter(pl.col("reason").is_not_null()), wrong])
        return good, bad.drop(_DAY_OK, _MONTH_OK), warnings


# --- expressions --------------------------------------------------------------------------------
_CURRENCY = re.compile(r"[$£€¥￥]|\d,\d{3}")


def _id_expr(raw: pl.Expr, sample: pl.Series) -> pl.Expr:
    """An id as text: integers stay integers (17850.0 -> '17850'), padding is stripped."""
    if sample.dtype.is_float():
        whole = sample.drop_nulls()
        if (whole == whole.round()).all():
            return raw.cast(pl.Int64, strict=False).cast(pl.String)
        return raw.cast(pl.String)
    if sample.dtype != pl.String:
        return raw.cast(pl.String)
    text = sample.drop_nulls()
    expr = raw
    if text.str.contains(r"^\s|\s$").any():
        expr = expr.str.strip_chars()
    if text.len() and text.str.contains(r"^\d+\.0$").all():
        expr = expr.str.strip_suffix(".0")
    # the CSV reader already reads empty fields as null; only stripping can make new empties
    return pl.when(expr != "").then(expr) if text.str.contains(r"^\s|\s$").any() else expr


def _number_expr(raw: pl.Expr, sample: pl.Series, sniff: Sniff) -> pl.Expr:
    """A number as Float64; text like '£1,234.50' or '2,55' (decimal comma) is cleaned."""
    if sample.dtype.is_numeric():
        return raw.cast(pl.Float64)
    if sample.dtype != pl.String:
        return raw.cast(pl.Float64, strict=False)
    text = sample.drop_nulls()
    expr = raw
    if text.str.contains(r"^\s|\s$").any():
        expr = expr.str.strip_chars()
    delimiter = sniff.layout.delimiter if sniff.layout else ","
    if delimiter != "," and text.len() and text.str.contains(r"^-?\d+,\d+$").any():
        expr = expr.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    elif text.str.contains(_CURRENCY.pattern).any():
        expr = expr.str.replace_all(r"[$£€¥￥,\s]", "")
    return expr.cast(pl.Float64, strict=False)


def _to_utc(expr: pl.Expr, tz: str) -> pl.Expr:
    return expr.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def _text_time(raw: pl.Expr, fmt: str, tz: str) -> pl.Expr:
    parsed = raw.str.strip_chars().str.to_datetime(fmt, strict=False, time_unit="us")
    if "%z" in fmt or "%#z" in fmt:
        return parsed.dt.convert_time_zone("UTC").cast(TIME_DTYPE)
    return _to_utc(parsed, tz).cast(TIME_DTYPE)


def _time_expr(raw: pl.Expr, tf: TimeFormat, tz: str) -> pl.Expr:
    """A time column as UTC microseconds; naive times are read in ``tz``, epochs are UTC."""
    if tf.kind == "text":
        return _text_time(raw, tf.formats[0], tz)
    if tf.kind in ("native", "date"):
        as_dt = raw.cast(pl.Datetime("us")) if tf.kind == "date" else raw
        return _native_time(as_dt, tz)
    unit = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}[tf.kind]
    if tf.integral:  # the fast path: whole numbers
        micros = raw.cast(pl.Int64, strict=False) * unit
    else:
        micros = (raw.cast(pl.Float64, strict=False) * unit).round().cast(pl.Int64, strict=False)
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC").cast(TIME_DTYPE)


def _native_time(raw: pl.Expr, tz: str) -> pl.Expr:
    # whether the column carries a zone is only known from its dtype: try both at collect time
    return raw.map_batches(lambda s: _series_to_utc(s, tz), return_dtype=TIME_DTYPE)


def _series_to_utc(s: pl.Series, tz: str) -> pl.Series:
    s = s.cast(
        pl.Datetime(
            getattr(s.dtype, "time_unit", "us") or "us", getattr(s.dtype, "time_zone", None)
        )
    )
    if s.dtype.time_zone is None:  # type: ignore[attr-defined]
        s = s.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return s.dt.convert_time_zone("UTC").cast(TIME_DTYPE)


_FEW_SPELLINGS = 8  # up to this many distinct words in the sample are compared one by one


def _event_types(values: pl.Series, sample: pl.Series) -> pl.Series:
    """Raw behaviour words to canonical types; unknown words and missing ones become 'other'.

    The dictionary holds every known word in lower, upper and title case plus every raw
    spelling seen in the sample, so no per-row string cleaning runs. When the sample holds a
    few spellings, each is compared with the column directly (a comparison of short texts costs
    a fraction of a dictionary lookup) and only rows holding another word are looked up.
    """
    words: dict[str, str] = {}
    for word, kind in EVENT_TYPE_SYNONYMS.items():
        words.update({word: kind, word.upper(): kind, word.title(): kind})
    seen = sample.drop_nulls().cast(pl.String).unique().sort().to_list()
    for value in seen:
        known = EVENT_TYPE_SYNONYMS.get(value.strip().lower())
        if known is not None:
            words[value] = known
    values = values.cast(pl.String)

    def lookup(part: pl.Series) -> pl.Series:
        other = EventType.OTHER.value
        return part.replace_strict(words, default=other, return_dtype=EVENT_TYPE_DTYPE)

    if not seen or len(seen) > _FEW_SPELLINGS:
        return lookup(values)
    raw = pl.col(values.name)
    compared = pl.lit(None, EVENT_TYPE_DTYPE)
    for value in seen:
        typed = pl.lit(words.get(value, EventType.OTHER.value), EVENT_TYPE_DTYPE)
        compared = pl.when(raw == value).then(typed).otherwise(compared)
    types = values.to_frame().select(compared).to_series()
    rest = types.is_null().arg_true()
    if rest.len():
        types = types.scatter(rest, lookup(values.gather(rest)))
    return types


def _first_reason(checks: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The reason of the first failing check of a row, or null when every check passes."""
    reason = pl.lit(None, pl.String)
    for why, failed in reversed(checks):
        reason = pl.when(failed).then(pl.lit(why)).otherwise(reason)
    return reason


def _raw_text(source: Source, reason: pl.Expr) -> pl.Expr:
    """A rejected row as text: its fields joined again (plus the first surplus field, if any)."""
    raw = pl.concat_str(
        [pl.col(c).cast(pl.String).fill_null("") for c in source.raw_columns],
        separator=source.raw_separator,
    )
    if source.extra and source.raw_columns[0] != "__raw_text":
        surplus = pl.concat_str([raw, pl.col(EXTRA)], separator=source.raw_separator)
        raw = pl.when(pl.col(EXTRA).is_not_null()).then(surplus).otherwise(raw)
    return pl.when(reason == "empty line").then(pl.lit("")).otherwise(raw)


def _extra_name(column: str) -> str:
    """Extra source columns keep their names, unless a canonical column already has it."""
    taken = {*EVENTS_SCHEMA, ITEM_NAME}
    return f"{column}_source" if column in taken else column


# --- derived tables and the report ---------------------------------------------------------------
def _items(events: pl.DataFrame) -> pl.DataFrame:
    """One row per item, sorted by item id: its first category, median positive unit price, and
    first name if the file has one ("first": the first non-null value in file order).

    Polars' hash group-by over a million string ids is slow (a hash table of strings, then
    medians gathered group by group), so items are grouped by sorting: one sort of 64-bit values
    (the item's hash, the row number in the low bits) makes each item's rows one contiguous run
    in file order, and a second, independent hash of every row checks each run (a run mixing
    items is split by it). Equal to ``_items_by_group_by``, the plain version, which small frames
    use.
    """
    names = [c for c in (ITEM_ID, CATEGORY, PRICE, ITEM_NAME, _ITEM_KEY) if c in events.columns]
    frame = events.select(names)
    if frame.get_column(ITEM_ID).null_count():
        frame = frame.filter(pl.col(ITEM_ID).is_not_null())
    n = frame.height
    if n < _SORTED_ITEMS_FROM or n >= 1 << 40:
        return _items_by_group_by(frame)
    # the value columns are gathered at random rows below, much faster from one chunk; making
    # them one chunk (Polars, no GIL) overlaps with the sort of the ids (NumPy, no GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        flat = {
            c: pool.submit(frame.get_column(c).rechunk)
            for c in (CATEGORY, ITEM_NAME, PRICE)
            if c in frame.columns
        }
        return _items_sorted(frame, {c: f.result for c, f in flat.items()}, pool)


def _items_sorted(
    frame: pl.DataFrame, flat: dict[str, Any], pool: ThreadPoolExecutor
) -> pl.DataFrame:
    """``_items`` of a large frame; ``flat[column]()`` is that column in one chunk."""
    n = frame.height
    ids = frame.get_column(ITEM_ID)
    scanned = frame.get_column(_ITEM_KEY) if _ITEM_KEY in frame.columns else None
    numbers = _decimal_ids(ids, 64 - n.bit_length(), scanned)
    numeric = numbers is not None
    if numbers is not None:
        text_bytes = pool.submit(lambda: int(ids.str.len_bytes().sum()))  # beside the sort
        rows, starts, distinct = _item_runs_numeric(numbers, n.bit_length())
        del numbers
        # e.g. '007' and '7' are distinct items: back to the text path
        numeric = _plain_decimals(text_bytes.result(), n, distinct, starts)
    if numeric:
        text_order = _decimal_text_order(distinct)
        # the ids' texts are their plain decimals: format a million numbers, no string gather
        item_ids = pl.Series(ITEM_ID, distinct).cast(pl.String)
    else:
        rows, starts = _item_runs(ids, n.bit_length())
        text_order, item_ids = None, None
    first = rows[starts]
    columns = {ITEM_ID: ids.gather(first) if item_ids is None else item_ids}
    price = flat[PRICE]()
    half = rows.size // 2  # the random gather of every price, in two halves at once
    parts = [pool.submit(price.gather, part) for part in (rows[:half], rows[half:])]
    for name, out in ((CATEGORY, CATEGORY), (ITEM_NAME, "name")):
        if name in frame.columns:
            columns[out] = _first_valid(flat[name](), rows, starts, first).alias(out)
    run = np.repeat(np.arange(starts.size, dtype=np.uint32), np.diff(np.append(starts, n)))
    gathered = parts[0].result().append(parts[1].result())
    prices = pl.DataFrame({"run": pl.Series(run).set_sorted(), PRICE: gathered})
    del run, rows, parts, gathered
    columns[PRICE] = (
        prices.group_by("run", maintain_order=True)
        .agg(pl.when(pl.col(PRICE) > 0).then(pl.col(PRICE)).median())
        .get_column(PRICE)
    )
    order = [ITEM_ID, CATEGORY, PRICE] + (["name"] if ITEM_NAME in frame.columns else [])
    items = pl.DataFrame(columns).select(order)
    if text_order is not None:
        return items[text_order]
    return _sort_by_text(items, ITEM_ID)


_SORTED_ITEMS_FROM = 50_000  # rows; below this the plain group-by is as fast


def _items_by_group_by(frame: pl.DataFrame) -> pl.DataFrame:
    """The item table by one group-by (the reference ``_items`` must equal)."""
    aggs = [pl.col(CATEGORY).first(ignore_nulls=True), pl.col("__positive").median().alias(PRICE)]
    if ITEM_NAME in frame.columns:
        aggs.append(pl.col(ITEM_NAME).first(ignore_nulls=True).alias("name"))
    return (
        frame.lazy()
        .filter(pl.col(ITEM_ID).is_not_null())
        .with_columns(__positive=pl.when(pl.col(PRICE) > 0).then(pl.col(PRICE)))
        .group_by(ITEM_ID)
        .agg(aggs)
        .sort(ITEM_ID)
        .collect(engine="streaming")
    )


_POW10 = 10 ** np.arange(20, dtype=np.uint64)


def _digits(values: np.ndarray) -> np.ndarray:
    """Decimal digits of each unsigned value (0 has one)."""
    return np.maximum(np.searchsorted(_POW10, values, side="right"), 1)


def _decimal_ids(
    ids: pl.Series, value_bits: int, numbers: pl.Series | None = None
) -> np.ndarray | None:
    """The ids as unsigned numbers when every id parses as one below 2**value_bits, else None.
    The caller still checks with ``_plain_decimals`` that the texts are the numbers' plain
    decimals ('17', not '017' or '+17'). Such ids are grouped and ordered as numbers: no string
    hashing and no string sort (most event logs number their items). ``numbers``: the ids
    already cast to UInt64 (while scanning)."""
    if ids.dtype != pl.String or value_bits < 1:
        return None
    if numbers is None:
        numbers = ids.cast(pl.UInt64, strict=False)
    if numbers.null_count():
        return None
    values = numbers.to_numpy()
    if int(values.max()) >> value_bits:
        return None
    return values


def _plain_decimals(text_bytes: int, rows: int, distinct: np.ndarray, starts: np.ndarray) -> bool:
    """Whether each id is its number's plain decimal text, given the ids' total ``text_bytes``
    over ``rows`` rows. A text the number cast accepts is at least as long as the plain decimal
    (only leading zeros or '+' can be added), so equal total lengths mean every text is plain:
    one sum over the rows, digits per distinct id."""
    counts = np.diff(np.append(starts, rows))
    plain_length = int((_digits(distinct).astype(np.int64) * counts).sum())
    return text_bytes == plain_length


def _item_runs_numeric(
    values: np.ndarray, row_bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_item_runs`` for ids that are numbers: the value itself is the exact sort key. Also
    returns the distinct values in run order. ``values`` is overwritten when it is writable
    (no second 8-byte-per-row key array)."""
    n = values.size
    key = values if values.flags.writeable else values.copy()
    key <<= np.uint64(row_bits)
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    if row_bits <= 32:  # the low 32 bits hold the row number and some id bits: mask those
        rows = key.astype(np.uint32)
        rows &= np.uint32((1 << row_bits) - 1)
    else:
        rows = (key & np.uint64((1 << row_bits) - 1)).astype(np.int64)
    key >>= np.uint64(row_bits)
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    return rows, starts, key[starts]


def _decimal_text_order(values: np.ndarray) -> np.ndarray:
    """The order that sorts distinct numbers by their decimal text ('10' < '9'): texts compare
    like their digits padded on the right with zeros to a common width, a prefix first."""
    digits = _digits(values)
    width = int(digits.max())
    padded = values * _POW10[width - digits]
    return np.lexsort((digits, padded))


def _item_runs(ids: pl.Series, row_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ordered so that each distinct id is one run (its rows in file order), and
    the index where each run starts. ``ids`` holds no nulls and fewer than 2**row_bits rows."""
    n = ids.len()
    low = np.uint64((1 << row_bits) - 1)
    key = ids.hash().to_numpy() & ~low
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    rows = (key & low).astype(np.uint32 if n <= 1 << 32 else np.int64)
    key >>= np.uint64(row_bits)  # the hash bits that were sorted on
    same = key[1:] == key[:-1]
    del key
    check = ids.hash(seed=1).to_numpy()[rows]
    mixed = same & (check[1:] != check[:-1])
    if mixed.any():  # rare: different ids share the sorted bits; order such runs by `check`
        bounds = np.flatnonzero(np.append(True, ~same))
        ends = np.append(bounds[1:], n)
        for run in np.unique(np.searchsorted(bounds, np.flatnonzero(mixed), side="right") - 1):
            part = slice(bounds[run], ends[run])
            order = np.argsort(check[part], kind="stable")
            rows[part], check[part] = rows[part][order], check[part][order]
        same &= check[1:] == check[:-1]
    return rows, np.flatnonzero(np.append(True, ~same))


def _first_valid(
    values: pl.Series, rows: np.ndarray, starts: np.ndarray, first: np.ndarray
) -> pl.Series:
    """Per run of ``rows``, the first non-null value in file order (null when there is none)."""
    nulls = values.null_count()
    if nulls == 0:
        return values.gather(first)
    if nulls == values.len():
        return pl.Series(values.name, [None] * starts.size, dtype=values.dtype)
    valid = values.is_not_null().to_numpy()[rows]
    position = np.where(valid, np.arange(rows.size), rows.size)
    found = np.minimum.reduceat(position, starts)
    picked = values.gather(rows[np.minimum(found, rows.size - 1)])
    keep = pl.Series(found < rows.size)
    return pl.select(pl.when(keep).then(picked)).to_series()


def _sort_by_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame.sort(column)`` for a column of distinct non-null texts, faster: Polars sorts text
    values quickly but its argsort of text is slow, so the order is recovered by matching the
    sorted values' hashes to the frame's (checked value by value; a plain sort otherwise)."""
    keys = frame.get_column(column)
    ordered = keys.sort()
    perm = np.empty(keys.len(), dtype=np.int64)
    perm[np.argsort(ordered.hash().to_numpy())] = np.argsort(keys.hash().to_numpy())
    if keys.gather(perm).equals(ordered):
        return frame[perm]
    return frame.sort(column)


def _events_report(
    good: pl.DataFrame, rejects: pl.DataFrame, spec: IngestSpec, warnings: list[str]
) -> dict[str, Any]:
    figures = [
        pl.col(USER_ID).null_count().alias("rows_without_user"),
        pl.col(EVENT_TIME).min().alias("first_event"),
        pl.col(EVENT_TIME).max().alias("last_event"),
        pl.col(REVENUE).sum().alias("revenue_total"),
    ]
    if QUANTITY in spec.mapping:
        figures.append(pl.col(QUANTITY).sum().alias("quantity_total"))
    if ORDER_ID in spec.mapping:
        figures += [
            pl.col(ORDER_ID).drop_nulls().hash().n_unique().alias("orders"),
            pl.col(ORDER_ID).str.starts_with("C").sum().alias("cancelled_lines"),
        ]
    stats = good.select(figures).row(0, named=True)
    has_money = bool({PRICE, REVENUE} & spec.mapping.keys())
    events_by_type = _type_counts(good.get_column(EVENT_TYPE))
    report = _counts(good.height, rejects)
    report.update(
        users=_distinct(good.get_column(USER_ID)),
        rows_without_user=int(stats["rows_without_user"]),
        events_by_type=dict(sorted(events_by_type.items(), key=lambda kv: -kv[1])),
        first_event=_iso(stats["first_event"]),
        last_event=_iso(stats["last_event"]),
        revenue_total=round(float(stats["revenue_total"]), 2) if has_money else None,
        quantity_total=float(stats["quantity_total"]) if QUANTITY in spec.mapping else None,
        warnings=list(warnings),
    )
    if ORDER_ID in spec.mapping:
        report["orders"] = int(stats["orders"])
        report["cancelled_lines"] = int(stats["cancelled_lines"] or 0)
    if report["rows_without_user"]:
        report["anonymous_rows_policy"] = ANONYMOUS_POLICY
        report["warnings"].append(
            f"{report['rows_without_user']:,} rows have no customer id: they are kept apart in "
            "'anonymous_events' and count only in the store-level totals."
        )
    return report


def _distinct(ids: pl.Series) -> int:
    """How many distinct non-null ids: their 64-bit hashes counted after one NumPy sort (exact
    unless two ids collide, odds ~ n^2 / 2^65; NumPy's sort beats Polars' n_unique here)."""
    hashes = np.sort(ids.drop_nulls().hash().to_numpy())
    return int(np.count_nonzero(hashes[1:] != hashes[:-1])) + int(hashes.size > 0)


def _type_counts(kinds: pl.Series) -> dict[str, int]:
    """Rows per event type (types that occur), by counting the Enum's codes."""
    names = kinds.dtype.categories.to_list()  # type: ignore[attr-defined]
    codes = kinds.drop_nulls().to_physical().to_numpy()
    counts = np.bincount(codes, minlength=len(names))
    return {names[i]: int(c) for i, c in enumerate(counts) if c}


def _counts(accepted: int, rejects: pl.DataFrame) -> dict[str, Any]:
    by_reason = rejects.get_column("reason").value_counts(sort=True)
    return {
        "rows_read": accepted + rejects.height,
        "rows_accepted": accepted,
        "rows_rejected": rejects.height,
        "rejected_by_reason": {str(k): int(v) for k, v in by_reason.iter_rows()},
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# --- customer tables and side tables -------------------------------------------------------------
def _ingest_customers(source: Source, spec: IngestSpec, sniff: Sniff) -> IngestResult:
    """One row per user: the table becomes ``users``; ``events`` stays empty."""
    frame = source.lazy.collect()
    users, rejects = _table_rows(frame, source, sniff, spec.mapping.get(USER_ID))
    report = _counts(users.height, rejects)
    report.update(
        users=users.height,
        rows_without_user=0,
        events_by_type={},
        first_event=None,
        last_event=None,
        revenue_total=0.0,
        warnings=[] if USER_ID in spec.mapping else ["No customer id column: ids are row numbers."],
    )
    return IngestResult(
        shape=Shape.CUSTOMERS,
        mapping=spec.mapping,
        events=pl.DataFrame(schema=EVENTS_SCHEMA),
        users=users,
        items=None,
        rejects=rejects,
        report=report,
    )


def _table_rows(
    frame: pl.DataFrame, source: Source, sniff: Sniff, user_column: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a user-level table into accepted rows (user_id first, typed) and rejects."""
    cols = sniff.columns
    if user_column is None:
        user = pl.int_range(1, pl.len() + 1).cast(pl.String)
    else:
        user = _id_expr(pl.col(user_column), sniff.sample.get_column(user_column))
    checks: list[tuple[str, pl.Expr]] = []
    if source.extra:
        checks.append(("wrong number of fields", pl.col(EXTRA).is_not_null()))
    checks.append(("empty line", pl.all_horizontal(pl.col(c).is_null() for c in cols)))
    checks.append(("missing user id", user.is_null()))
    checks.append(("duplicate user id", ~user.is_first_distinct()))
    reason = _first_reason(checks)
    raw = _raw_text(source, pl.col(_REASON))
    frame = frame.with_columns(user.alias("__user"), reason.alias(_REASON))
    rejects = frame.filter(pl.col(_REASON).is_not_null()).select(
        pl.col(LINE).alias("line"), pl.col(_REASON).alias("reason"), raw.alias("raw")
    )
    attrs = [c for c in cols if c != user_column]
    rows = frame.filter(pl.col(_REASON).is_null()).select(
        pl.col("__user").alias(USER_ID), *(pl.col(c).alias(_attr_name(c)) for c in attrs)
    )
    if source.text:
        rows = rows.with_columns(_typed(rows.get_column(_attr_name(c))) for c in attrs)
    return rows, rejects.cast(REJECTS_SCHEMA)  # type: ignore[arg-type]


def _attr_name(column: str) -> str:
    return f"{column}_source" if column == USER_ID else column


def _typed(values: pl.Series) -> pl.Series:
    """A text column as Int64, Float64 or Boolean when every value is one (ids like 007 stay)."""
    text = values.drop_nulls()
    if text.len() == 0:
        return values
    if text.str.contains(r"^0\d").any():
        return values
    lowered = text.str.to_lowercase()
    if lowered.is_in(["true", "false"]).all():
        return values.str.to_lowercase() == "true"
    for dtype in (pl.Int64, pl.Float64):
        cast = values.cast(dtype, strict=False)
        if cast.null_count() == values.null_count():
            return cast
    return values


def ingest_side_file(
    path: Path, kind: str, mapping: dict[str, str] | None = None, *, tz: str = "UTC"
) -> SideTable:
    """Read campaign exposures (``kind='exposures'``) or user attributes (``kind='users'``)."""
    if kind not in ("exposures", "users"):
        raise MappingError(f"A side table is 'exposures' or 'users', not '{kind}'.")
    path = Path(path)
    sniff = sniff_file(path)
    detected, _ = map_side_table(sniff.sample, kind)
    for canonical, source_col in (mapping or {}).items():
        detected = {k: v for k, v in detected.items() if v != source_col}
        detected[canonical] = source_col
    allowed = MAPPABLE[kind]
    for canonical, source_col in detected.items():
        if canonical not in allowed:
            raise MappingError(f"'{canonical}' is not a field of {kind}; use {', '.join(allowed)}.")
        if source_col not in sniff.columns:
            raise MappingError(f"The file has no column '{source_col}'.")
    needed = (USER_ID, ARM) if kind == "exposures" else (USER_ID,)
    for canonical in needed:
        if canonical not in detected:
            raise MappingError(
                f"No column was recognised as {canonical} in '{path.name}'; map one "
                f"({canonical}=COLUMN). Columns: {', '.join(sniff.columns)}."
            )
    with open_source(path, sniff) as source:
        frame = source.lazy.collect()
        rows, rejects = (
            _table_rows(frame, source, sniff, detected[USER_ID])
            if kind == "users"
            else _exposure_rows(frame, source, sniff, detected, path, tz)
        )
    report = {**_counts(rows.height, rejects), "mapping": detected}
    return SideTable(kind=kind, frame=rows, rejects=rejects, report=report)


def _exposure_rows(
    frame: pl.DataFrame,
    source: Source,
    sniff: Sniff,
    m: dict[str, str],
    path: Path,
    tz: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    user = _id_expr(pl.col(m[USER_ID]), sniff.sample.get_column(m[USER_ID]))
    arm = pl.col(m[ARM]).cast(pl.String).str.strip_chars()
    campaign = (
        pl.col(m[CAMPAIGN_ID]).cast(pl.String)
        if CAMPAIGN_ID in m
        else pl.lit(path.stem.split(".")[0])
    )
    sent = pl.lit(None, TIME_DTYPE)
    checks: list[tuple[str, pl.Expr]] = []
    if source.extra:
        checks.append(("wrong number of fields", pl.col(EXTRA).is_not_null()))
    checks += [("missing user id", user.is_null()), ("missing arm", arm.is_null())]
    if SENT_TIME in m:
        tf = infer_time_format(sniff.sample.get_column(m[SENT_TIME]))
        if tf is None or tf.ambiguous:
            raise MappingError(f"Column '{m[SENT_TIME]}' does not hold unambiguous dates.")
        sent = _time_expr(pl.col(m[SENT_TIME]), tf, tz)
        checks.append(("unreadable sent time", pl.col(m[SENT_TIME]).is_not_null() & sent.is_null()))
    reason = _first_reason(checks)
    raw = _raw_text(source, pl.col(_REASON))
    frame = frame.with_columns(reason.alias(_REASON))
    rejects = frame.filter(pl.col(_REASON).is_not_null()).select(
        pl.col(LINE).alias("line"), pl.col(_REASON).alias("reason"), raw.alias("raw")
    )
    rows = frame.filter(pl.col(_REASON).is_null()).select(
        user.alias(USER_ID), campaign.alias(CAMPAIGN_ID), arm.alias(ARM), sent.alias(SENT_TIME)
    )
    return rows.cast(EXPOSURES_SCHEMA), rejects.cast(REJECTS_SCHEMA)  # type: ignore[arg-type]
