"""The campaign list for an e-mail or CRM tool: consent-filtered, spreadsheet-safe CSV or Parquet.

Safety (OWASP "CSV injection"): a text cell that starts with ``= + - @``, a tab or a carriage
return is prefixed with ``'`` so that spreadsheets show it as text instead of running it as a
formula. Quoting follows RFC 4180 (a field holding the delimiter, a quote or a line break is quoted;
quotes are doubled). ``strict`` (for CRM importers that choke on odd bytes) also replaces every
control character (line breaks included) by a space, neutralises a formula character that follows
leading spaces or is a full-width look-alike (＝＋－＠), and quotes every field.

Consent: only users with ``consent_email`` True are ever written; opted-out (False) and unknown
(null) users are dropped here, whatever the audience said.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analytics.core.errors import SpecError
from analytics.core.schema import CONSENT_EMAIL, USER_ID
from models.campaigns.audience import spec_from_dict
from models.campaigns.simulation import CampaignSpec

__all__ = [
    "ExportSpec",
    "consenting",
    "export_bytes",
    "export_from_json",
    "neutralize",
    "safe_frame",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FULL_WIDTH = "＝＋－＠"
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


def neutralize(text: str | None, strict: bool = False) -> str | None:
    """One cell made safe (the scalar twin of ``safe_frame``, for tests and single values)."""
    if text is None:
        return None
    if strict:
        text = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in text)
        stripped = text.lstrip(" ")
        if stripped[:1] in (*_FORMULA_START, *_FULL_WIDTH):
            return "'" + text
        return text
    return "'" + text if text[:1] in _FORMULA_START else text


def _safe_expr(name: str, strict: bool) -> pl.Expr:
    col = pl.col(name)
    if strict:
        col = col.str.replace_all(r"[\x00-\x1f\x7f]", " ")
        first = col.str.strip_chars_start(" ").str.slice(0, 1)
        danger = first.is_in([*_FORMULA_START, *_FULL_WIDTH])
    else:
        danger = col.str.slice(0, 1).is_in(list(_FORMULA_START))
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
            "users table with a consent_email column (true / false) on the Data page."
        )
    ok = users.filter(pl.col(CONSENT_EMAIL).fill_null(False)).select(
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
