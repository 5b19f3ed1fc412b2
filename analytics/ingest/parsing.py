"""Expressions turning raw source columns into ids, numbers, event types and reject reasons."""

from __future__ import annotations

import re

import polars as pl

from analytics.core.schema import (
    EVENT_TYPE_DTYPE,
    EVENT_TYPE_SYNONYMS,
    EVENTS_SCHEMA,
    ITEM_NAME,
    EventType,
)
from analytics.ingest.readers import EXTRA, LINE, Sniff, Source

REASON = "__reason"  # the first failed check of a row

# --- expressions --------------------------------------------------------------------------------
_CURRENCY = re.compile(r"[$£€¥￥]|\d,\d{3}")


def id_expr(raw: pl.Expr, sample: pl.Series) -> pl.Expr:
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


def number_expr(raw: pl.Expr, sample: pl.Series, sniff: Sniff) -> pl.Expr:
    """A number as Float64; text like '£1,234.50' or '2,55' (decimal comma) is cleaned."""
    if sample.dtype.is_numeric():
        return raw.cast(pl.Float64)
    if sample.dtype != pl.String:
        return raw.cast(pl.Float64, strict=False)
    text = sample.drop_nulls()
    expr = raw
    if text.str.contains(r"^\s|\s$").any():
        expr = expr.str.strip_chars()
    if text.str.contains(r"[$£€¥￥]").any():  # '4,50 €', '$1,200.00': the symbol goes first
        expr = expr.str.replace_all(r"[$£€¥￥\s]", "")
        text = text.str.replace_all(r"[$£€¥￥\s]", "")
    delimiter = sniff.layout.delimiter if sniff.layout else ","
    if delimiter != "," and text.len() and text.str.contains(r"^-?[\d.]*\d,\d+$").any():
        expr = expr.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    elif text.str.contains(r"\d,\d{3}").any():
        expr = expr.str.replace_all(",", "", literal=True)
    return expr.cast(pl.Float64, strict=False)


_FEW_SPELLINGS = 8  # up to this many distinct words in the sample are compared one by one


_PATH_SEPARATORS = (">", "/", ".", "|")


def path_separator(sample: pl.Series) -> str | None:
    """The separator of a category written as a path ('electronics.smartphone',
    'Home > Kitchen'), when nearly every sample value is one; None for plain categories."""
    if sample.dtype != pl.String:
        return None
    text = sample.drop_nulls().str.strip_chars()
    text = text.filter(text.str.contains(r"[A-Za-z\u4e00-\u9fff]"))  # not numbers like 1.5
    if text.len() == 0:
        return None
    for separator in _PATH_SEPARATORS:
        parts = text.str.split(separator).list.eval(pl.element().str.strip_chars() != "")
        if (parts.list.len() >= 2).mean() >= 0.8 and parts.list.all().all():  # type: ignore[operator]
            return separator
    return None


def top_level(path: pl.Expr, separator: str) -> pl.Expr:
    """The first part of a category path: 'electronics' of 'electronics.smartphone'."""
    return path.str.split(separator).list.first().str.strip_chars()


def event_types(values: pl.Series, sample: pl.Series) -> pl.Series:
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


# control characters (tab, LF and CR are text); matched as literals: half a regex's cost
_CONTROL = [chr(c) for c in (*range(9), 11, 12, *range(14, 32), 127)]


def fields_checks(
    source: Source, columns: list[str], short: pl.Series | None = None
) -> list[tuple[str, pl.Expr]]:
    """The checks every row of a table takes first: the number of fields (too many: the
    ``EXTRA`` column; too few: a line in ``short``), control characters inside a text field
    (a NUL in an id would make a new customer), and a line with nothing in it."""
    checks: list[tuple[str, pl.Expr]] = []
    wrong = pl.col(EXTRA).is_not_null() if source.extra else None
    if short is not None and short.len():
        few = pl.col(LINE).is_in(short.implode())
        wrong = few if wrong is None else wrong | few
    if wrong is not None:
        checks.append(("wrong number of fields", wrong))
    if source.text:
        texts = [c for c in columns if c not in source.typed]
        if texts:
            control = pl.any_horizontal(pl.col(c).str.contains_any(_CONTROL) for c in texts)
            checks.append(("control character in a field", control.fill_null(False)))
    checks.append(("empty line", pl.all_horizontal(pl.col(c).is_null() for c in columns)))
    return checks


def first_reason(checks: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The reason of the first failing check of a row, or null when every check passes."""
    reason = pl.lit(None, pl.String)
    for why, failed in reversed(checks):
        reason = pl.when(failed).then(pl.lit(why)).otherwise(reason)
    return reason


def raw_text(source: Source, reason: pl.Expr) -> pl.Expr:
    """A rejected row as text: its fields joined again (plus the first surplus field, if any)."""
    raw = pl.concat_str(
        [pl.col(c).cast(pl.String).fill_null("") for c in source.raw_columns],
        separator=source.raw_separator,
    )
    short = reason == "wrong number of fields"  # too few fields: no trailing separators
    if source.extra and source.raw_columns[0] != "__raw_text":
        surplus = pl.concat_str([raw, pl.col(EXTRA)], separator=source.raw_separator)
        short = short & pl.col(EXTRA).is_null()
        raw = pl.when(pl.col(EXTRA).is_not_null()).then(surplus).otherwise(raw)
    if source.short_lines is not None:
        raw = pl.when(short).then(raw.str.strip_chars_end(source.raw_separator)).otherwise(raw)
    return pl.when(reason == "empty line").then(pl.lit("")).otherwise(raw)


def extra_name(column: str) -> str:
    """Extra source columns keep their names, unless a canonical column already has it."""
    taken = {*EVENTS_SCHEMA, ITEM_NAME}
    return f"{column}_source" if column in taken else column
