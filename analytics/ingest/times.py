"""Times: which format a column holds (``infer_time_format``) and the expression that reads it
into UTC microseconds (``time_expr``); naive times are read in a given zone, epochs are UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import polars as pl

from analytics.core.schema import (
    TIME_DTYPE,
)

# --- time formats -------------------------------------------------------------------------------
_TIMES = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S%.f")
_ISO_FORMATS = (
    *(f"%Y-%m-%d{t}" for t in _TIMES),
    *(f"%Y-%m-%dT{t[1:]}" for t in _TIMES[1:]),
    *(f"%Y-%m-%dT%H:%M:%S%.f{z}" for z in ("%#z", "%z")),
    *(f"%Y-%m-%d %H:%M:%S%.f{z}" for z in ("%#z", "%z")),
    *(f"%Y/%m/%d{t}" for t in _TIMES),
    *(f"%Y.%m.%d{t}" for t in _TIMES),
    "%Y%m%d",
    "%Y%m%d%H%M%S",
    *(f"%Y年%m月%d日{t}" for t in _TIMES),
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d-%b-%Y %H:%M",
    "%a, %d %b %Y %H:%M:%S %z",
)
# (day-first, month-first) pairs: a value like 03/04/2011 parses both ways
_DAY_MONTH_PAIRS = tuple(
    (f"%d{s}%m{s}{y}{t}", f"%m{s}%d{s}{y}{t}")
    for s in ("/", "-", ".")
    for y in ("%Y", "%y")
    for t in _TIMES
)
_DIGITS = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class TimeFormat:
    """How a column holds time. ``formats`` has two entries (day-first, month-first) when the
    sample cannot tell day/month order apart."""

    kind: str  # native | date | epoch_s | epoch_ms | epoch_us | text
    formats: tuple[str, ...] = ()
    share: float = 1.0  # share of sample values that parse
    integral: bool = False  # epochs written as whole numbers

    @property
    def ambiguous(self) -> bool:
        return self.kind == "text" and len(self.formats) == 2

    def describe(self) -> str:
        if self.kind == "text":
            return " or ".join(self.formats)
        return {"epoch_s": "epoch seconds", "epoch_ms": "epoch milliseconds"}.get(
            self.kind, self.kind
        )


def infer_time_format(values: pl.Series) -> TimeFormat | None:
    """The time format that parses most of ``values`` (a sample), or ``None`` (not a time)."""
    if values.dtype == pl.Date:
        return TimeFormat("date")
    if isinstance(values.dtype, pl.Datetime):
        return TimeFormat("native")
    if values.dtype.is_numeric():
        return _epoch_format(values.drop_nulls())
    if values.dtype != pl.String:
        return None
    text = values.drop_nulls().str.strip_chars()
    text = text.filter(text != "")
    if text.len() == 0:
        return None
    digits = text.filter(text.str.contains(r"^\d+(\.\d+)?$"))
    if digits.len() >= 0.5 * text.len():
        numeric_share = digits.len() / text.len()
        whole = digits.str.len_chars().max()
        if whole in (8, 14) and not digits.str.contains(".", literal=True).any():
            fmt = "%Y%m%d" if whole == 8 else "%Y%m%d%H%M%S"
            share = _share(digits, fmt)
            if share >= 0.95:
                return TimeFormat("text", (fmt,), share * numeric_share)
        epoch = _epoch_format(digits.cast(pl.Float64, strict=False).drop_nulls())
        return replace(epoch, share=numeric_share) if epoch else None
    best: tuple[str, ...] | None = None
    best_share = 0.0
    for fmt in _ISO_FORMATS:
        share = _share(text, fmt)
        if share > best_share:
            best, best_share = (fmt,), share
        if share == 1.0:
            break
    if best_share < 1.0:
        for day_first, month_first in _DAY_MONTH_PAIRS:
            d, m = _share(text, day_first), _share(text, month_first)
            if max(d, m) > best_share:
                best_share = max(d, m)
                best = (
                    (day_first, month_first) if d == m else (day_first if d > m else month_first,)
                )
    if best is None or best_share < 0.5:
        return None
    return TimeFormat("text", best, best_share)


def _share(text: pl.Series, fmt: str) -> float:
    try:
        parsed = text.str.to_datetime(fmt, strict=False)
    except Exception:  # a format chrono rejects outright
        return 0.0
    share = parsed.is_not_null().mean()
    return float(share) if isinstance(share, int | float) else 0.0


def _epoch_format(numbers: pl.Series) -> TimeFormat | None:
    if numbers.len() == 0:
        return None
    numbers = numbers.cast(pl.Float64)
    low, high = numbers.min(), numbers.max()
    for kind, scale in (("epoch_s", 1), ("epoch_ms", 1e3), ("epoch_us", 1e6)):
        # 1973 .. 2096: wide enough for any shop, narrow enough not to take ids for times
        if 1e8 * scale <= low and high <= 4e9 * scale:  # type: ignore[operator]
            return TimeFormat(kind, integral=bool((numbers == numbers.round()).all()))
    return None


def _to_utc(expr: pl.Expr, tz: str) -> pl.Expr:
    return expr.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def text_time(raw: pl.Expr, fmt: str, tz: str) -> pl.Expr:
    parsed = raw.str.strip_chars().str.to_datetime(fmt, strict=False, time_unit="us")
    if "%z" in fmt or "%#z" in fmt:
        return parsed.dt.convert_time_zone("UTC").cast(TIME_DTYPE)
    return _to_utc(parsed, tz).cast(TIME_DTYPE)


def time_expr(raw: pl.Expr, tf: TimeFormat, tz: str) -> pl.Expr:
    """A time column as UTC microseconds; naive times are read in ``tz``, epochs are UTC."""
    if tf.kind == "text":
        return text_time(raw, tf.formats[0], tz)
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
