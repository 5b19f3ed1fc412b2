"""The event scan: one lazy, streaming pass turning raw columns into canonical events.

Decisions the report states plainly:

- Transactions without a user id are accepted but kept out of per-user ``events``: they go to
  ``anonymous`` (``user_id`` null) and count only in the store-level figures. In an events file
  a row without user id is rejected ("missing user id").
- Transactions: a negative quantity or an order id starting with "C" is a refund (negative
  quantity and revenue); a negative unit price (a bad-debt adjustment) is event type 'other'.
  revenue = quantity * price; with only a line total, price = total / quantity.
- Dates like 03/04/2011 are parsed both ways; a value with a day over 12 settles the order for
  the whole file; if none does, ``IngestError`` asks for ``day_first``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import polars as pl

from analytics.core.errors import IngestError, MappingError
from analytics.core.progress import Progress
from analytics.core.schema import (
    BRAND,
    CATEGORY,
    CATEGORY_PATH,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPE_DTYPE,
    EVENTS_SCHEMA,
    ITEM_ID,
    ITEM_NAME,
    ORDER_ID,
    PRICE,
    QUANTITY,
    REVENUE,
    SESSION_ID,
    USER_ID,
    EventType,
    Shape,
)
from analytics.core.timing import Stopwatch
from analytics.ingest.detection import IngestSpec
from analytics.ingest.items import ITEM_KEY, items_table
from analytics.ingest.parsing import (
    REASON,
    event_types,
    extra_name,
    fields_checks,
    first_reason,
    id_expr,
    number_expr,
    path_separator,
    raw_text,
    top_level,
)
from analytics.ingest.readers import LINE, WHITESPACE, Sniff, Source
from analytics.ingest.report import IngestResult, events_report
from analytics.ingest.times import (
    TIME_OF_DAY,
    TimeFormat,
    infer_time_format,
    joined_time,
    text_time,
    time_expr,
    unreadable_time,
    zone_note,
)

_FAILED, _ALT_TIME = "__failed", "__time_month_first"
_BASE_KIND = "__p_base"  # the mapped behaviour column's canonical type, made after the scan
_DAY_OK, _MONTH_OK = "__day_ok", "__month_ok"


def ingest_events(
    source: Source, spec: IngestSpec, sniff: Sniff, progress: Progress
) -> IngestResult:
    clock, laps = Stopwatch(), {}
    plan, good, bad = _scan(source, spec, sniff)
    laps["read_parse"] = round(clock.lap(), 3)
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
    laps["checks"] = round(clock.lap(), 3)
    # the report (Polars, multi-threaded) runs beside the item table (mostly NumPy, one
    # thread): on an idle machine the two overlap; "report" is the wait left after the items
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(events_report, good, rejects, spec, plan.warnings + time_warnings)
        items = items_table(good) if ITEM_ID in spec.mapping else None
        laps["items"] = round(clock.lap(), 3)
        report = later.result()
    laps["report"] = round(clock.lap(), 3)
    helpers = [c for c in (ITEM_NAME, ITEM_KEY) if c in events.columns]
    if helpers:
        events = events.drop(helpers)
        anonymous = anonymous.drop(helpers) if anonymous is not None else None
    report["seconds"] = laps
    assert plan.time_format is not None
    report["time_zone"] = zone_note(plan.time_format, spec.tz)
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


def _scan(
    source: Source, spec: IngestSpec, sniff: Sniff
) -> tuple[EventPlan, pl.DataFrame, pl.DataFrame]:
    """The event plan run over the file: typed if it can, as text if a value did not parse,
    and once more rejecting rows with too few fields if the file has any."""
    plan = EventPlan(source, spec, sniff)
    try:
        good, bad, maybe_short = plan.collect()
    except TypedScanFailed:
        assert source.plain is not None  # some value did not parse: read it all as text
        source = source.plain()
        plan = EventPlan(source, spec, sniff)
        good, bad, maybe_short = plan.collect()
    if maybe_short and source.short_lines is not None:
        short = source.short_lines()
        if short.len():
            plan = EventPlan(source, spec, sniff, short)
            good, bad, _ = plan.collect()
    return plan, good, bad


_PLAIN_NUMBER = r"^-?\d+(\.\d+)?$"


def scan_dtypes(spec: IngestSpec, sniff: Sniff) -> dict[str, pl.DataType]:
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


class TypedScanFailed(Exception):
    """A column scanned as a number held something else: rescan everything as text."""


class _Scan(NamedTuple):
    """The plan of one scan (see ``EventPlan.frames``)."""

    good: pl.LazyFrame  # accepted rows: the columns the canonical ones are made of
    bad: pl.LazyFrame  # rejected (or date-suspect) rows: line, reason, raw
    derive: Callable[[pl.DataFrame], pl.DataFrame]  # collected good rows -> canonical columns
    unmapped: list[str]  # canonical columns filled after the scan


def _fill_unmapped(good: pl.DataFrame, unmapped: list[str]) -> pl.DataFrame:
    """Unmapped canonical columns as constants (quantity: 1, or -1 on a refund)."""
    fill = [pl.lit(None, EVENTS_SCHEMA[name]).alias(name) for name in unmapped]
    if QUANTITY in unmapped:
        refund = pl.col(EVENT_TYPE) == EventType.REFUND.value
        has_refunds = good.select(refund.any()).item()
        fill[unmapped.index(QUANTITY)] = (
            pl.when(refund).then(-1.0).otherwise(1.0) if has_refunds else pl.lit(1.0)
        ).alias(QUANTITY)
    order = [*EVENTS_SCHEMA, *(c for c in good.columns if c not in EVENTS_SCHEMA)]
    return good.with_columns(fill).select(order)


class EventPlan:
    """The lazy plan turning raw source columns into canonical events plus a reject reason."""

    def __init__(
        self, source: Source, spec: IngestSpec, sniff: Sniff, short: pl.Series | None = None
    ) -> None:
        self.source, self.spec, self.sniff = source, spec, sniff
        self.short = short  # physical lines with too few fields (see ``Source.short_lines``)
        self.m = spec.mapping
        self.warnings: list[str] = []
        self.time_format = self._time_format()
        self.two_way = bool(self.time_format and self.time_format.ambiguous) and (
            spec.day_first is None
        )

    # -- column parsers --
    def _raw(self, canonical: str) -> pl.Expr:
        if canonical == EVENT_TIME and TIME_OF_DAY in self.m:
            return joined_time(pl.col(self.m[EVENT_TIME]), pl.col(self.m[TIME_OF_DAY]))
        return pl.col(self.m[canonical])

    def _sample(self, canonical: str) -> pl.Series:
        if canonical == EVENT_TIME and TIME_OF_DAY in self.m:
            return self.sniff.sample.select(self._raw(EVENT_TIME)).to_series()
        return self.sniff.sample.get_column(self.m[canonical])

    def _time_format(self) -> TimeFormat | None:
        if EVENT_TIME not in self.m:
            return None
        tf = infer_time_format(self._sample(EVENT_TIME))
        if tf is None:
            raise MappingError(unreadable_time(self.m[EVENT_TIME]))
        return tf

    def text_id(self, canonical: str) -> pl.Expr:
        return id_expr(self._raw(canonical), self._sample(canonical))

    def number(self, canonical: str) -> pl.Expr:
        if self.m[canonical] in self.source.typed:
            return self._raw(canonical).cast(pl.Float64)
        return number_expr(self._raw(canonical), self._sample(canonical), self.sniff)

    def times(self) -> tuple[pl.Expr, pl.Expr | None]:
        tf = self.time_format
        assert tf is not None
        raw = self._raw(EVENT_TIME)
        if tf.ambiguous:
            day_first, month_first = tf.formats
            if self.spec.day_first is not None:
                fmt = day_first if self.spec.day_first else month_first
                return text_time(raw, tf, fmt, self.spec.tz), None
            return text_time(raw, tf, day_first, self.spec.tz), text_time(
                raw, tf, month_first, self.spec.tz
            )
        return time_expr(raw, tf, self.spec.tz), None

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
    def frames(self) -> _Scan:
        """Two lazy frames over one scan: accepted rows, and rejected rows' raw text.

        Parsing happens once, into ``__p_*`` columns that the checks and outputs reuse. The
        accepted rows leave the scan as the columns the canonical ones are made of; ``derive``
        then makes the canonical columns in memory (the event type's word lookup costs several
        times more per row inside the streaming scan than on the collected column).
        """
        parsed, keys = self._parsed()

        def col(key: str) -> pl.Expr | None:
            return pl.col(f"__p_{key}") if key in keys else None

        q, p, r = col("q"), col("p"), col("r")
        kind = self.event_type(q, col(ORDER_ID), p, r)
        checks = self._checks(pl.col("__p_user"), pl.col("__p_time"), col("time2"), q, p, r)
        # one boolean per row splits the rows; the reason text is only built for the failures
        failed = pl.any_horizontal(fails for _, fails in checks)
        base = parsed.with_columns(failed.alias(_FAILED))
        outputs, unmapped = self._outputs(col, q, p, r)
        needed = {name for e in [kind, *outputs] for name in e.meta.root_names()}
        needed -= {"__p_kind", _BASE_KIND}
        raw_kind = self.m.get(EVENT_TYPE)
        if raw_kind is not None:
            needed.add(raw_kind)
        good = base.filter(~pl.col(_FAILED)).select(sorted(needed))

        def derive(df: pl.DataFrame) -> pl.DataFrame:
            if raw_kind is not None:
                types = event_types(df.get_column(raw_kind), self._sample(EVENT_TYPE))
                df = df.with_columns(types.alias(_BASE_KIND))
            return df.with_columns(kind.alias("__p_kind")).select(outputs)

        bad = self._rejected(base, checks, two_way="time2" in keys)
        return _Scan(good, bad, derive, unmapped)

    def _parsed(self) -> tuple[pl.LazyFrame, set[str]]:
        """The source with each mapped column parsed once into ``__p_<key>``; and the keys."""
        when, alt_time = self.times()
        parsers: dict[str, pl.Expr] = {"user": self.text_id(USER_ID), "time": when}
        if alt_time is not None:
            parsers["time2"] = alt_time
        for canonical, key in ((QUANTITY, "q"), (PRICE, "p"), (REVENUE, "r")):
            if canonical in self.m:
                parsers[key] = self.number(canonical)
        for canonical in (ORDER_ID, ITEM_ID, CATEGORY):
            if canonical in self.m:
                parsers[canonical] = self.text_id(canonical)
        separator = path_separator(self._sample(CATEGORY)) if CATEGORY in self.m else None
        if separator is not None:  # 'electronics.smartphone': the category is 'electronics'
            parsers[CATEGORY_PATH] = parsers[CATEGORY]
            parsers[CATEGORY] = top_level(parsers[CATEGORY], separator)
        parsed = self.source.lazy.with_columns(e.alias(f"__p_{k}") for k, e in parsers.items())
        return parsed, set(parsers)

    def _rejected(
        self, base: pl.LazyFrame, checks: list[tuple[str, pl.Expr]], *, two_way: bool
    ) -> pl.LazyFrame:
        """Failed rows (and, for two-way dates, rows only one order reads) with their reason."""
        suspect = pl.col(_FAILED)
        flags: list[pl.Expr] = []
        if two_way:
            day_ok, month_ok = pl.col("__p_time").is_not_null(), pl.col("__p_time2").is_not_null()
            suspect = suspect | (day_ok != month_ok)
            flags = [day_ok.alias(_DAY_OK), month_ok.alias(_MONTH_OK)]
        return (
            base.filter(suspect)
            .with_columns(first_reason(checks).alias(REASON))
            .select(
                pl.col(LINE).alias("line"),
                pl.col(REASON).alias("reason"),
                raw_text(self.source, pl.col(REASON)).alias("raw"),
                *flags,
            )
        )

    def _outputs(
        self,
        col: Callable[[str], pl.Expr | None],
        q: pl.Expr | None,
        p: pl.Expr | None,
        r: pl.Expr | None,
    ) -> tuple[list[pl.Expr], list[str]]:
        """Canonical columns (from the parsed ones), then the extra source columns; and the
        canonical columns left to fill after the scan."""
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
        item, category, order = (col(c) for c in (ITEM_ID, CATEGORY, ORDER_ID))
        canonical = {
            USER_ID: pl.col("__p_user"),
            EVENT_TIME: pl.col("__p_time"),
            EVENT_TYPE: kind,
            ITEM_ID: item if item is not None else no_text,
            CATEGORY: category if category is not None else no_text,
            QUANTITY: pl.when(is_refund).then(-quantity.abs()).otherwise(quantity),
            PRICE: price,
            REVENUE: pl.when(is_refund).then(-revenue.abs()).when(money).then(revenue),
            ORDER_ID: order if order is not None else no_text,
        }
        # an unmapped text column is filled after the scan, as one constant column (a column
        # of ten million null strings would cost 16 bytes a row while streaming)
        unmapped = [name for name, e in canonical.items() if e is no_text]
        if q is None:  # one per row (minus one for a refund): also filled after the scan
            unmapped.append(QUANTITY)
        outputs = [
            e.cast(EVENTS_SCHEMA[name]).alias(name)
            for name, e in canonical.items()
            if name not in unmapped
        ]
        if ITEM_NAME in self.m:
            outputs.append(self._raw(ITEM_NAME).cast(pl.String).str.strip_chars().alias(ITEM_NAME))
        key = self._item_key(col(ITEM_ID))
        if key is not None:
            outputs.append(key.alias(ITEM_KEY))
        for optional in (BRAND, SESSION_ID):  # kept under their canonical names
            if optional in self.m:
                outputs.append(self.text_id(optional).alias(optional))
        path = col(CATEGORY_PATH)
        if path is not None:
            outputs.append(path.alias(CATEGORY_PATH))
        extras = [c for c in self.sniff.columns if c not in self.m.values()]
        outputs += [pl.col(c).alias(extra_name(c)) for c in extras]
        if col("time2") is not None:
            outputs.append(pl.col("__p_time2").alias(_ALT_TIME))
        return outputs, unmapped

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
        checks = fields_checks(self.source, cols, self.short)
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
            unreadable = parsed_num.is_null() | ~parsed_num.is_finite()  # NaN and inf too
            checks.append((f"unreadable {word}", raw.is_not_null() & unreadable))
        return checks

    def collect(self) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
        """Run the plan once: accepted rows, rejected (or date-suspect) rows with raw text, and
        whether some row may have had too few fields (its last column empty)."""
        scan = self.frames()
        frames = [scan.good, scan.bad]
        last = self.sniff.columns[-1]
        check_short = self.short is None and self.source.short_lines is not None
        if check_short:
            frames.append(self.source.lazy.select(pl.col(last).is_null().any()))
        try:
            good_df, bad_df, *flag = pl.collect_all(frames, engine="streaming")
        except pl.exceptions.PolarsError as err:
            if self.source.typed:
                raise TypedScanFailed from err
            raise IngestError(f"The file could not be read to the end: {err}") from None
        good_df = scan.derive(good_df)
        if scan.unmapped:
            good_df = _fill_unmapped(good_df, scan.unmapped)
        return good_df, bad_df, bool(flag and flag[0].item())

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
