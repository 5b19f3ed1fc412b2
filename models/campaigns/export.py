"""The campaign list for an e-mail or CRM tool: consent-filtered, spreadsheet-safe CSV or Parquet.

Safety (OWASP "CSV injection"): a text cell is judged as a spreadsheet would read it: after
Unicode NFKC normalisation (full-width ``＝＋－＠`` become ``=+-@``) and with leading whitespace
(no-break and ideographic spaces included), BOMs, zero-width and control characters stripped. If
it then starts with ``= + - @`` (or the raw cell starts with a tab or a carriage return), the cell
is prefixed with ``'`` so that spreadsheets show it as text instead of running it as a formula;
nothing else in it changes. Quoting follows RFC 4180 (a field holding the delimiter, a quote or a
line break is quoted; quotes are doubled). ``strict`` (for CRM importers that choke on odd bytes)
quotes every field and replaces control characters (line breaks included) by a space in every
column except ``user_id``, whose characters never change so the list still matches the source.

Consent: only users whose ``consent_email`` reads as yes (true/false, yes/no, 1/0 and the other
spellings of ``analytics.ingest.consent``) are ever written; opted-out and unknown users are
dropped here, whatever the audience said.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analytics.core.errors import SpecError
from analytics.core.schema import CONSENT_EMAIL, EMAIL, USER_ID
from analytics.ingest.consent import consent_expr
from models.campaigns.audience import spec_from_dict
from models.campaigns.measurement import GROUP
from models.campaigns.simulation import CampaignSpec

__all__ = [
    "ExportSpec",
    "consenting",
    "export_bytes",
    "export_from_json",
    "export_table",
    "neutralize",
    "safe_frame",
]

_FORMULA_START = ("=", "+", "-", "@")
_RAW_START = ("\t", "\r")  # a cell starting so is neutralised whatever follows
# what a spreadsheet skips before reading a formula: whitespace, BOM / zero-width, controls
_LEADING = r"^[\s\p{Zs}\p{Cc}\p{Cf}]+"
_CONTROL = r"[\x00-\x1f\x7f]"
_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class ExportSpec:
    """What to export: an inline ``campaign`` or a saved one (``campaign_name``), and how.

    ``recommendations``: how many recommended items per user to include (0 = none).
    """

    campaign: CampaignSpec = field(default_factory=CampaignSpec)
    campaign_name: str | None = None
    format: str = "csv"
    strict: bool = False
    recommendations: int = 5

    def validate(self) -> ExportSpec:
        if self.format not in _FORMATS:
            raise SpecError(f"Export format '{self.format}' is not one of {', '.join(_FORMATS)}.")
        if not 0 <= self.recommendations <= 50:
            raise SpecError("Include between 0 and 50 recommended items per user.")
        self.campaign.validate()
        return self


def export_from_json(data: dict[str, Any]) -> ExportSpec:
    """A validated ``ExportSpec`` from parsed JSON."""
    spec: ExportSpec = spec_from_dict(ExportSpec, data)
    return spec.validate()


def _formula_like(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` as a formula (see the module docstring)."""
    if text[:1] in _RAW_START:
        return True
    probe = unicodedata.normalize("NFKC", text)
    skip = 0
    while skip < len(probe) and (
        probe[skip].isspace() or unicodedata.category(probe[skip]) in ("Zs", "Cc", "Cf")
    ):
        skip += 1
    return probe[skip : skip + 1] in _FORMULA_START


def neutralize(text: str | None, strict: bool = False, *, is_id: bool = False) -> str | None:
    """One cell made safe (the scalar twin of ``safe_frame``, for tests and single values)."""
    if text is None:
        return None
    if strict and not is_id:
        text = re.sub(_CONTROL, " ", text)
    return "'" + text if _formula_like(text) else text


def _safe_expr(name: str, strict: bool) -> pl.Expr:
    col = pl.col(name)
    if strict and name != USER_ID:
        col = col.str.replace_all(_CONTROL, " ")
    probe = col.str.normalize("NFKC").str.replace(_LEADING, "")
    danger = probe.str.slice(0, 1).is_in(list(_FORMULA_START)) | col.str.slice(0, 1).is_in(
        list(_RAW_START)
    )
    return pl.when(danger).then(pl.lit("'") + col).otherwise(col).alias(name)


def safe_frame(frame: pl.DataFrame, strict: bool = False) -> pl.DataFrame:
    """Every text column neutralised; lists of text are joined with ``;`` first."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(";").alias(name))
        elif dtype in (pl.Categorical,) or isinstance(dtype, pl.Enum):
            exprs.append(pl.col(name).cast(pl.String))
    frame = frame.with_columns(exprs) if exprs else frame
    text = [n for n, t in frame.schema.items() if t == pl.String]
    return frame.with_columns([_safe_expr(n, strict) for n in text]) if text else frame


def consenting(frame: pl.DataFrame, users: pl.DataFrame | None) -> pl.DataFrame:
    """Rows of ``frame`` whose user has ``consent_email`` True in ``users``; others dropped."""
    if users is None or CONSENT_EMAIL not in users.columns:
        raise SpecError(
            "This dataset says nothing about e-mail consent, so nobody can be exported. Add a "
            "users table with a consent_email column (yes / no) on the Data page."
        )
    ok = users.filter(consent_expr(CONSENT_EMAIL).fill_null(False)).select(
        pl.col(USER_ID).cast(pl.String)
    )
    return frame.join(ok, on=USER_ID, how="semi")


def export_bytes(frame: pl.DataFrame, fmt: str = "csv", strict: bool = False) -> bytes:
    """The file content: safe CSV (UTF-8, RFC 4180 quoting, ``\\n`` line ends) or Parquet.

    Parquet keeps typed, unaltered values (no spreadsheet runs formulas from a Parquet column)."""
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.write_parquet(buf)
        return buf.getvalue()
    safe = safe_frame(frame, strict)
    if fmt != "csv":
        raise SpecError(f"Export format '{fmt}' is not one of {', '.join(_FORMATS)}.")
    return safe.write_csv(quote_style="always" if strict else "necessary").encode("utf-8")


def export_table(
    listed: pl.DataFrame,
    spec: ExportSpec,
    *,
    users: pl.DataFrame | None,
    segments: pl.DataFrame | None,
    scores: dict[str, pl.DataFrame],
    recs: pl.DataFrame | None,
) -> pl.DataFrame:
    """The list (``user_id, group``) with e-mail, segment, scores, offer and recommended items.

    ``user_id``, ``email`` and ``group`` come first; ``recs`` is the recommender's long table
    (``user_id, list, rank, item_id``), of which the ``combined`` list's top items are joined."""
    out = listed
    if users is not None and EMAIL in users.columns:
        out = out.join(users.select(pl.col(USER_ID).cast(pl.String), EMAIL), on=USER_ID, how="left")
    if segments is not None:
        seg = segments.select(pl.col(USER_ID).cast(pl.String), "segment", "segment_name")
        out = out.drop("segment", strict=False).join(seg, on=USER_ID, how="left")
    for target, frame in sorted(scores.items()):
        col = "score" if target in ("revenue", "uplift") else "score_100"
        name = {"revenue": "predicted_revenue", "uplift": "uplift"}.get(target, f"{target}_score")
        out = out.drop(name, strict=False).join(
            frame.select(pl.col(USER_ID).cast(pl.String), pl.col(col).alias(name)),
            on=USER_ID,
            how="left",
        )
    offer = spec.campaign.offer
    out = out.with_columns(
        pl.lit(offer.describe()).alias("offer"), pl.lit(offer.channel).alias("channel")
    )
    if recs is not None and spec.recommendations > 0:
        top = (
            recs.filter(pl.col("list") == "combined")
            .filter(pl.col("rank") <= spec.recommendations)
            .sort(USER_ID, "rank")
            .group_by(USER_ID, maintain_order=True)
            .agg(pl.col("item_id").cast(pl.String).str.join(";").alias("recommended_items"))
        )
        out = out.join(top.with_columns(pl.col(USER_ID).cast(pl.String)), on=USER_ID, how="left")
    first = [c for c in (USER_ID, EMAIL, GROUP) if c in out.columns]
    return out.select(*first, *[c for c in out.columns if c not in first])
