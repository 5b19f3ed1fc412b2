"""Audience builder: who a campaign may reach, from segments, RFM groups, saved audiences, score
bands, attribute filters and exclusions; with its size, value and overlap with other lists.

Rules combine like a marketer reads them: values within one rule are alternatives (segment 1 *or*
segment 3), different rules must all hold (in those segments *and* in the top 20% by purchase
probability *and* not opted out). An empty rule does not restrict. Exclusions always win.

Consent: ``consent_email`` read as yes = opted in, no = opted out, null or unreadable = unknown
(any common spelling: true/false, yes/no, 1/0 ...). With ``exclude_no_consent`` (the default)
only opted-in users are kept.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from analytics.core.errors import SpecError
from analytics.core.schema import CONSENT_EMAIL, USER_ID
from analytics.ingest.consent import consent_expr

__all__ = [
    "AttributeFilter",
    "AudienceInputs",
    "AudienceSpec",
    "AudienceSummary",
    "ScoreBand",
    "select_audience",
    "spec_from_dict",
    "spec_to_dict",
    "summarize_audience",
]

_OPS = ("==", "!=", "in", "not in", ">", ">=", "<", "<=", "is null", "not null")


# --- specs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreBand:
    """Users whose score lies in ``[low, high]``.

    ``on="percentile"`` (0-100, 100 = highest score): "top 20% by purchase" is
    ``ScoreBand("purchase", 80, 100)``. ``on="score_100"``: "churn risk above 70" is
    ``ScoreBand("churn", 70, 100, on="score_100")``. ``target`` names a ``scores_<target>`` artifact
    or ``uplift`` (percentiles of the expected effect of contact).
    """

    target: str
    low: float = 0.0
    high: float = 100.0
    on: str = "percentile"

    def describe(self) -> str:
        unit = "percentile" if self.on == "percentile" else "score"
        if self.on == "percentile" and self.high >= 100:
            return f"top {100 - self.low:g}% by {self.target}"
        return f"{self.target} {unit} {self.low:g}-{self.high:g}"


@dataclass(frozen=True)
class AttributeFilter:
    """A condition on a column of the users table, e.g. ``("country", "in", ["DE", "AT"])``."""

    column: str
    op: str = "=="
    value: Any = None


@dataclass(frozen=True)
class AudienceSpec:
    """Who to include and who to leave out. See the module docstring for how rules combine."""

    segments: tuple[int, ...] = ()
    rfm_groups: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    score_bands: tuple[ScoreBand, ...] = ()
    filters: tuple[AttributeFilter, ...] = ()
    exclude_purchased_within_days: int | None = None
    exclude_no_consent: bool = True
    exclude_audiences: tuple[str, ...] = ()
    exclude_campaigns: tuple[str, ...] = ()


def _convert(tp: Any, value: Any) -> Any:
    """Turn JSON values into the typed field value (tuples, nested specs), recursively."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value)
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            value = [value]
        return tuple(_convert(typing.get_args(tp)[0], v) for v in value)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return spec_from_dict(tp, value)  # type: ignore[arg-type]
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def spec_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build the frozen spec ``cls`` from parsed JSON; unknown keys raise ``SpecError``."""
    if not isinstance(data, dict):
        raise SpecError(f"A {cls.__name__} must be a JSON object, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise SpecError(
            f"Unknown field(s) {', '.join(unknown)} in {cls.__name__}; allowed: {', '.join(names)}."
        )
    try:
        return cls(**{k: _convert(hints[k], v) for k, v in data.items()})
    except TypeError as err:
        raise SpecError(f"{cls.__name__}: {err}") from None


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """The JSON-safe dict of a spec (tuples become lists); ``spec_from_dict`` reverses it."""
    return json_safe(dataclasses.asdict(spec))


def json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


# --- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudienceInputs:
    """Everything an audience may refer to, loaded by the service; ``None`` = not made yet.

    ``users``: one row per user (``user_id`` + attributes, ``consent_email`` if known).
    ``scores``: target -> ``user_id, score, score_100, percentile``.
    ``audiences`` / ``campaigns``: saved lists and running campaigns, name -> ``user_id``;
    ``audience_kinds``: name -> "dynamic" (rules re-run on this data) or "fixed" (a stored list).
    ``last_purchase``: ``user_id, last_purchase`` (UTC); ``now``: the time "last N days" counts
    back from.
    """

    users: pl.DataFrame
    segments: pl.DataFrame | None = None
    rfm: pl.DataFrame | None = None
    scores: dict[str, pl.DataFrame] = field(default_factory=dict)
    audiences: dict[str, pl.DataFrame] = field(default_factory=dict)
    campaigns: dict[str, pl.DataFrame] = field(default_factory=dict)
    audience_kinds: dict[str, str] = field(default_factory=dict)
    last_purchase: pl.DataFrame | None = None
    now: datetime | None = None


_MISSING_HINT = {
    "segments": "learned segments (make them on the Segments page)",
    "rfm": "RFM groups (made with the segments on the Segments page)",
    "scores": "scores (train the predictor on the Predictions page)",
}


def _need(frame: Any, what: str, detail: str = "") -> Any:
    if frame is None:
        raise SpecError(
            f"This audience uses {_MISSING_HINT[what]}{detail}, which do not exist yet."
        )
    return frame


def _ids(frame: pl.DataFrame) -> pl.LazyFrame:
    return frame.lazy().select(pl.col(USER_ID).cast(pl.String)).unique()


def _filter_expr(f: AttributeFilter, schema: pl.Schema) -> pl.Expr:
    if f.column not in schema:
        raise SpecError(f"The users table has no column '{f.column}' to filter on.")
    if f.op not in _OPS:
        raise SpecError(f"Unknown filter '{f.op}': use one of {', '.join(_OPS)}.")
    col = pl.col(f.column)
    if f.op == "is null":
        return col.is_null()
    if f.op == "not null":
        return col.is_not_null()
    if f.op in ("in", "not in"):
        values = list(f.value) if isinstance(f.value, list | tuple) else [f.value]
        hit = col.cast(pl.String).is_in([str(v) for v in values])
        return hit.fill_null(False) if f.op == "in" else ~hit.fill_null(False)
    value = f.value
    if schema[f.column].is_numeric() and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SpecError(f"'{f.column}' holds numbers; '{f.value}' is not one.") from None
    ops = {"==": col.eq, "!=": col.ne, ">": col.gt, ">=": col.ge, "<": col.lt, "<=": col.le}
    return ops[f.op](value).fill_null(False)


def _band_ids(inputs: AudienceInputs, band: ScoreBand) -> pl.LazyFrame:
    scores = inputs.scores.get(band.target)
    _need(scores, "scores", f" for '{band.target}'")
    column = "percentile" if band.on == "percentile" else "score_100"
    if band.on not in ("percentile", "score_100"):
        raise SpecError("A score band is on 'percentile' or 'score_100'.")
    assert scores is not None
    return (
        scores.lazy()
        .filter(pl.col(column).is_between(band.low, band.high))
        .select(pl.col(USER_ID).cast(pl.String))
        .unique()
    )


def _named_lists(names: tuple[str, ...], lists: dict[str, pl.DataFrame], kind: str) -> pl.LazyFrame:
    missing = [n for n in names if n not in lists]
    if missing:
        raise SpecError(f"No saved {kind} named {', '.join(missing)}.")
    return pl.concat([_ids(lists[n]) for n in names]).unique()


def select_audience(inputs: AudienceInputs, spec: AudienceSpec) -> pl.DataFrame:
    """The ``user_id`` of every user the spec keeps, sorted."""
    lf = inputs.users.lazy().with_columns(pl.col(USER_ID).cast(pl.String))
    schema = lf.collect_schema()
    keep: list[pl.LazyFrame] = []
    if spec.segments:
        seg = _need(inputs.segments, "segments")
        keep.append(_ids(seg.filter(pl.col("segment").is_in(list(spec.segments)))))
    if spec.rfm_groups:
        rfm = _need(inputs.rfm, "rfm")
        keep.append(_ids(rfm.filter(pl.col("rfm_group").is_in(list(spec.rfm_groups)))))
    if spec.audiences:
        keep.append(_named_lists(spec.audiences, inputs.audiences, "audience"))
    keep += [_band_ids(inputs, band) for band in spec.score_bands]
    for part in keep:
        lf = lf.join(part, on=USER_ID, how="semi")
    for f in spec.filters:
        lf = lf.filter(_filter_expr(f, schema))
    if spec.exclude_no_consent:
        if CONSENT_EMAIL not in schema:
            raise SpecError(
                "This dataset says nothing about e-mail consent, so every user's consent is "
                "unknown. Add a consent_email column to the users table, or switch off "
                "'only opted-in users' to plan (exports still need consent)."
            )
        lf = lf.filter(consent_expr(CONSENT_EMAIL).fill_null(False))
    lf = _exclusions(lf, inputs, spec)
    return lf.select(USER_ID).unique().sort(USER_ID).collect()


def _exclusions(lf: pl.LazyFrame, inputs: AudienceInputs, spec: AudienceSpec) -> pl.LazyFrame:
    if spec.exclude_audiences:
        lf = lf.join(_named_lists(spec.exclude_audiences, inputs.audiences, "audience"), on=USER_ID,
                     how="anti")  # fmt: skip
    if spec.exclude_campaigns:
        lf = lf.join(_named_lists(spec.exclude_campaigns, inputs.campaigns, "campaign"), on=USER_ID,
                     how="anti")  # fmt: skip
    if spec.exclude_purchased_within_days is not None:
        if inputs.last_purchase is None or inputs.now is None:
            raise SpecError("This dataset has no purchase history to exclude recent buyers by.")
        since = inputs.now - timedelta(days=spec.exclude_purchased_within_days)
        recent = inputs.last_purchase.lazy().filter(pl.col("last_purchase") > since)
        lf = lf.join(recent.select(pl.col(USER_ID).cast(pl.String)), on=USER_ID, how="anti")
    return lf


# --- summary --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudienceSummary:
    """Size, value and overlap of an audience, for the live numbers beside the builder."""

    size: int
    base: int
    value: float | None
    value_label: str
    overlaps: list[dict[str, Any]]

    @property
    def share(self) -> float:
        return self.size / self.base if self.base else 0.0

    def summary(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "share": self.share}


def summarize_audience(
    selected: pl.DataFrame,
    inputs: AudienceInputs,
    value: pl.DataFrame | None = None,
    value_label: str = "",
) -> AudienceSummary:
    """Size, summed ``value`` (``user_id, value``), and overlap with every saved list."""
    ids = _ids(selected)
    total = None
    if value is not None:
        total = float(
            value.lazy()
            .join(ids, on=USER_ID, how="semi")
            .select(pl.col("value").sum())
            .collect()
            .item()
            or 0.0
        )
    overlaps = []
    for kind, lists in (("audience", inputs.audiences), ("campaign", inputs.campaigns)):
        for name, frame in lists.items():
            n = ids.join(_ids(frame), on=USER_ID, how="semi").select(pl.len()).collect().item()
            overlaps.append(
                {"kind": kind, "name": name, "users": int(n),
                 "share": n / selected.height if selected.height else 0.0}
            )  # fmt: skip
    return AudienceSummary(selected.height, inputs.users.height, total, value_label, overlaps)
