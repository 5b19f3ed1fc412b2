"""Times: which format a column holds (``infer_time_format``) and the expression that reads it
into UTC microseconds (``time_expr``).

One detector for every way shops write time: ISO dates with ``T`` or a space, fractional
seconds, ``Z``, zone names (``UTC``, ``GMT``, ``CST`` = China Standard Time, IANA names such as
``Asia/Shanghai``), offsets (``+08:00``, ``+0800``), slashes and dots, 12-hour clocks, Chinese
dates (``2019年10月1日 8时5分``), Excel serial days and epoch seconds / ms / us. Times that carry a
zone are converted from it; naive times are read in the zone the user chose (default UTC); epochs
are UTC. A date and a time of day in two columns are joined before parsing (``joined_time``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from analytics.core.schema import TIME_DTYPE

__all__ = [
    "TIME_OF_DAY",
    "TimeFormat",
    "infer_time_format",
    "is_time_of_day",
    "is_zone",
    "joined_time",
    "text_time",
    "time_expr",
    "unreadable_time",
    "zone_note",
]

TIME_OF_DAY = "time_of_day"  # mapping key of a separate time-of-day column (beside a date)

# time parts tried after a date; 12-hour clocks and Chinese hours included
_CLOCKS = (
    "",
    " %H:%M",
    " %H:%M:%S",
    " %H:%M:%S%.f",
    "T%H:%M",
    "T%H:%M:%S",
    "T%H:%M:%S%.f",
    " %I:%M %p",
    " %I:%M:%S %p",
    " %I:%M%p",
    " %H时%M分",
    " %H时%M分%S秒",
    "%H时%M分",
    "%H:%M",
)
_YEAR_FIRST = {
    "-": "%Y-%m-%d",
    "/": "%Y/%m/%d",
    ".": "%Y.%m.%d",
    "年": "%Y年%m月%d日",
}
_NAMED_MONTHS = (
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d-%b-%Y %H:%M",
    "%a, %d %b %Y %H:%M:%S%z",
    "%d %b %Y %H:%M",
    "%d %b %Y %H:%M:%S",
)
_YEAR_FIRST_RE = re.compile(r"^\d{4}([-/.年])\d{1,2}")
_DAY_MONTH_RE = re.compile(r"^\d{1,2}([-/.])\d{1,2}[-/.]\d{2,4}")
_OFFSET_RE = r"[+-]\d{2}:?\d{2}$"
_IANA_RE = r"\s([A-Z][A-Za-z]+/[A-Za-z_]+(?:/[A-Za-z_]+)?)$"
_CLOCK_RE = r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s?([AaPp][Mm])?$"
# zone names written after a time, to the offset they stand for; CST is China Standard Time
# (the zone of the Chinese shop exports that write it), not US Central
_NAMED_OFFSETS = (
    (r"\s*(?:UTC|GMT)([+-]\d)", "$1"),
    (r"\s*(?:UTC|GMT|Z)$", "+0000"),
    (r"\s*CST$", "+0800"),
    (r"\s+([+-]\d{2}:?\d{2})$", "$1"),
)
_ZONE_WORDS = re.compile(r"(?:\d|\s)(?:UTC|GMT|Z|CST)(?:[+-]\d.*)?$|\s[+-]\d{2}:?\d{2}$")


@dataclass(frozen=True)
class TimeFormat:
    """How a column holds time. ``formats`` has two entries (day-first, month-first) when the
    sample cannot tell day/month order apart; ``fixes`` are (regex, replacement) pairs applied
    to text before parsing; ``zone`` an IANA zone the file names; ``source_zone`` what the
    ingest report says about the zone written in the file (None: naive times)."""

    kind: str  # native | date | epoch_s | epoch_ms | epoch_us | excel | text
    formats: tuple[str, ...] = ()
    share: float = 1.0  # share of sample values that parse
    integral: bool = False  # epochs written as whole numbers
    fixes: tuple[tuple[str, str], ...] = ()
    zone: str | None = None
    source_zone: str | None = field(default=None, compare=False)

    @property
    def ambiguous(self) -> bool:
        return self.kind == "text" and len(self.formats) == 2

    def describe(self) -> str:
        if self.kind == "text":
            return " or ".join(self.formats) + (f" in {self.zone}" if self.zone else "")
        names = {
            "epoch_s": "epoch seconds",
            "epoch_ms": "epoch milliseconds",
            "epoch_us": "epoch microseconds",
            "excel": "Excel serial days",
        }
        return names.get(self.kind, self.kind)


def infer_time_format(values: pl.Series) -> TimeFormat | None:
    """The time format that parses most of ``values`` (a sample), or ``None`` (not a time)."""
    if values.dtype == pl.Date:
        return TimeFormat("date")
    if isinstance(values.dtype, pl.Datetime):
        return TimeFormat("native", source_zone=values.dtype.time_zone)
    if values.dtype.is_numeric():
        return _number_format(values.drop_nulls())
    if values.dtype != pl.String:
        return None
    text = values.drop_nulls().str.strip_chars()
    text = text.filter(text != "")
    if text.len() == 0:
        return None
    digits = text.filter(text.str.contains(r"^\d+(\.\d+)?$"))
    if digits.len() >= 0.5 * text.len():
        return _digit_format(digits, digits.len() / text.len())
    return _text_format(text)


def _digit_format(digits: pl.Series, numeric_share: float) -> TimeFormat | None:
    """Times written as digits only: 20191001, 20191001080500, or epoch numbers."""
    whole = digits.str.len_chars().max()
    if whole in (8, 14) and not digits.str.contains(".", literal=True).any():
        fmt = "%Y%m%d" if whole == 8 else "%Y%m%d%H%M%S"
        share = _share(digits, fmt)
        if share >= 0.95:
            return TimeFormat("text", (fmt,), share * numeric_share)
    found = _number_format(digits.cast(pl.Float64, strict=False).drop_nulls())
    return replace(found, share=numeric_share) if found else None


def _text_format(text: pl.Series) -> TimeFormat | None:
    fixes, zone = _zone_fixes(text)
    fixed = _apply(text, fixes)
    with_offset = _mean(fixed.str.contains(_OFFSET_RE)) >= 0.5
    best: tuple[str, ...] | None = None
    best_share = 0.0
    for fmt in _candidates(fixed, with_offset=with_offset):
        share = _share(fixed, fmt)
        if share > best_share:
            best, best_share = (fmt,), share
        if share == 1.0:
            break
    if best_share < 1.0:
        for day_first, month_first in _day_month_pairs(fixed, with_offset=with_offset):
            d, m = _share(fixed, day_first), _share(fixed, month_first)
            if max(d, m) > best_share:
                best_share = max(d, m)
                best = (
                    (day_first, month_first) if d == m else (day_first if d > m else month_first,)
                )
    if best is None or best_share < 0.5:
        return None
    source = zone or (_written_zones(text) if "%z" in best[0] else None)
    return TimeFormat("text", best, best_share, fixes=fixes, zone=zone, source_zone=source)


def _zone_fixes(text: pl.Series) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """Rewrites that turn zone names into offsets (or strip an IANA zone read separately)."""
    fixes: list[tuple[str, str]] = []
    named = text.str.extract(_IANA_RE, 1).drop_nulls().unique()
    zone = None
    if named.len() == 1 and is_zone(named.item()):
        zone = named.item()
        fixes.append((_IANA_RE, ""))
    if text.str.contains(_ZONE_WORDS.pattern).any():
        fixes += _NAMED_OFFSETS
    return tuple(fixes), zone


def is_zone(name: str) -> bool:
    """Whether ``name`` is a time zone we know (an IANA name such as Europe/Berlin, or UTC)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _written_zones(text: pl.Series) -> str:
    """The zones the sample writes after its times, as the report shows them: 'UTC', '+01:00'."""
    words = text.str.extract(r"(UTC|GMT|Z|CST|[+-]\d{2}:?\d{2})$", 1).drop_nulls()
    names = {"Z": "UTC", "CST": "CST (China, +08:00)"}
    seen = sorted({names.get(w, w) for w in words.unique().to_list()})
    return ", ".join(seen[:3]) + (" ..." if len(seen) > 3 else "")


def _apply(text: pl.Series, fixes: tuple[tuple[str, str], ...]) -> pl.Series:
    for pattern, replacement in fixes:
        text = text.str.replace(pattern, replacement)
    return text


def _candidates(text: pl.Series, *, with_offset: bool) -> list[str]:
    """Formats worth trying on ``text``: the date part its first values show, every clock."""
    zone = "%z" if with_offset else ""
    seps = text.head(50).str.extract(_YEAR_FIRST_RE.pattern, 1).drop_nulls().unique().to_list()
    dates = [_YEAR_FIRST[s] for s in seps if s in _YEAR_FIRST]
    formats = [f"{d}{c}{zone}" for d in dates for c in _CLOCKS if not (zone and not c)]
    return formats + list(_NAMED_MONTHS)


def _day_month_pairs(text: pl.Series, *, with_offset: bool) -> list[tuple[str, str]]:
    """(day-first, month-first) pairs for dates like 03/04/2011, which parse both ways."""
    zone = "%z" if with_offset else ""
    seps = text.head(50).str.extract(_DAY_MONTH_RE.pattern, 1).drop_nulls().unique().to_list()
    return [
        (f"%d{s}%m{s}{y}{c}{zone}", f"%m{s}%d{s}{y}{c}{zone}")
        for s in seps
        for y in ("%Y", "%y")
        for c in _CLOCKS
        if not (zone and not c)
    ]


def _share(text: pl.Series, fmt: str) -> float:
    try:
        parsed = text.str.to_datetime(fmt, strict=False)
    except Exception:  # a format chrono rejects outright
        return 0.0
    return _mean(parsed.is_not_null())


def _mean(flags: pl.Series) -> float:
    """The share of true values (0.0 for an empty series)."""
    share = flags.mean()
    return float(share) if isinstance(share, int | float) else 0.0


def _number_format(numbers: pl.Series) -> TimeFormat | None:
    return _epoch_format(numbers) or _excel_format(numbers)


def _epoch_format(numbers: pl.Series) -> TimeFormat | None:
    if numbers.len() == 0:
        return None
    numbers = numbers.cast(pl.Float64)
    for kind, scale in (("epoch_s", 1), ("epoch_ms", 1e3), ("epoch_us", 1e6)):
        # 1973 .. 2096: wide enough for any shop, narrow enough not to take ids for times; a
        # stray value (a shifted or damaged row) does not veto the column
        inside = _mean(numbers.is_between(1e8 * scale, 4e9 * scale))
        if inside >= 0.9:
            integral = bool((numbers == numbers.round()).all())
            return TimeFormat(kind, share=inside, integral=integral, source_zone="UTC")
    return None


_EXCEL_EPOCH = 25_569  # Excel's serial day of 1970-01-01 (its 1900 date system)


def _excel_format(numbers: pl.Series) -> TimeFormat | None:
    """Excel serial days (43739.5 = 2019-10-01 12:00) between 1968 and 2119. Only a column
    named as a time is taken as one: quantities and ids can fall in this range too."""
    if numbers.len() == 0:
        return None
    numbers = numbers.cast(pl.Float64)
    low, high = numbers.min(), numbers.max()
    if low >= 25_000 and high <= 80_000:  # type: ignore[operator]
        return TimeFormat("excel")
    return None


def is_time_of_day(values: pl.Series) -> bool:
    """Whether a sample column holds times of day only (08:05, 8:05:30, 8:05 PM)."""
    if isinstance(values.dtype, pl.Time):
        return True
    if values.dtype != pl.String:
        return False
    text = values.drop_nulls().str.strip_chars()
    return text.len() > 0 and _mean(text.str.contains(_CLOCK_RE)) >= 0.9


def joined_time(date: pl.Expr, clock: pl.Expr) -> pl.Expr:
    """A date column and a time-of-day column as one text: '2019-10-01' + '08:05'."""
    return pl.concat_str(
        [date.cast(pl.String).str.strip_chars(), clock.cast(pl.String).str.strip_chars()],
        separator=" ",
    )


def unreadable_time(column: str) -> str:
    """The message for a column mapped as the time that holds no time we can read."""
    return (
        f"Column '{column}' does not hold dates or times we can read (tried ISO and local "
        "dates with or without a zone, 12-hour clocks, Chinese dates, Excel serial days and "
        "epoch seconds, milliseconds and microseconds). Map the time to another column."
    )


def zone_note(tf: TimeFormat, tz: str) -> str:
    """What the ingest report says about the zone of the source times (stored in UTC)."""
    if tf.source_zone:
        return f"{tf.source_zone} (written in the file); stored in UTC"
    if tf.kind in ("epoch_s", "epoch_ms", "epoch_us"):
        return "UTC (epoch numbers); stored in UTC"
    return f"none written in the file: read as {tz}; stored in UTC"


# --- expressions --------------------------------------------------------------------------------
def _to_utc(expr: pl.Expr, tz: str) -> pl.Expr:
    return expr.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def text_time(raw: pl.Expr, tf: TimeFormat, fmt: str, tz: str) -> pl.Expr:
    """Text times in format ``fmt`` (one of ``tf.formats``) as UTC microseconds."""
    text = raw.str.strip_chars()
    for pattern, replacement in tf.fixes:
        text = text.str.replace(pattern, replacement)
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    if "%z" in fmt or "%#z" in fmt:
        return parsed.dt.convert_time_zone("UTC").cast(TIME_DTYPE)
    return _to_utc(parsed, tf.zone or tz).cast(TIME_DTYPE)


def time_expr(raw: pl.Expr, tf: TimeFormat, tz: str) -> pl.Expr:
    """A time column as UTC microseconds; naive times are read in ``tz``, epochs are UTC."""
    if tf.kind == "text":
        return text_time(raw, tf, tf.formats[0], tz)
    if tf.kind in ("native", "date"):
        as_dt = raw.cast(pl.Datetime("us")) if tf.kind == "date" else raw
        return _native_time(as_dt, tz)
    if tf.kind == "excel":
        days = raw.cast(pl.Float64, strict=False) - _EXCEL_EPOCH
        # Excel keeps times to the millisecond; finer digits are floating-point noise
        micros = (days * 86_400_000).round().cast(pl.Int64, strict=False) * 1000
        return _to_utc(pl.from_epoch(micros, time_unit="us"), tz).cast(TIME_DTYPE)
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
