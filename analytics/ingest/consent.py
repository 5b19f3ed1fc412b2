"""Marketing consent from any common spelling: true/false, yes/no, 1/0, Y/N, opted in/out, 是/否 ...

Shops write consent in many ways; exports and audiences need one Boolean (``consent_email``:
True = opted in, False = opted out, null = unknown). Anything not recognised becomes null, so an
unreadable value never counts as consent, and ``unread_consent`` counts those values for a report.
"""

from __future__ import annotations

import polars as pl

from analytics.core.schema import CONSENT_EMAIL, CONSENT_SYNONYMS
from analytics.ingest.readers import normalize_name

__all__ = [
    "NO_WORDS",
    "YES_WORDS",
    "consent_column",
    "consent_expr",
    "parse_consent",
    "unread_consent",
]

# fmt: off
YES_WORDS: tuple[str, ...] = (
    "true", "t", "yes", "y", "1", "1.0", "on", "ok", "x", "opted in", "optedin", "opt in", "opt-in",
    "optin", "subscribed", "subscribe", "consent", "consented", "granted", "agree", "agreed",
    "accepted", "accept", "allowed", "allow", "enabled", "ja", "oui", "si", "sí",
    "是", "同意", "已同意", "允许", "订阅", "已订阅", "接受", "对", "√", "✓",
)
NO_WORDS: tuple[str, ...] = (
    "false", "f", "no", "n", "0", "0.0", "off", "opted out", "optedout", "opt out", "opt-out",
    "optout", "unsubscribed", "unsubscribe", "not subscribed", "declined", "denied", "refused",
    "revoked", "withdrawn", "disagree", "rejected", "disabled", "nein", "non",
    "否", "不同意", "未同意", "不允许", "拒绝", "未订阅", "退订", "不接受", "错", "×", "✗",
)
# fmt: on
_WORDS: dict[str, bool] = {**{w: True for w in YES_WORDS}, **{w: False for w in NO_WORDS}}


def consent_expr(column: str) -> pl.Expr:
    """``column`` read as consent: True, False, or null when the value is not a known spelling.

    Works on Boolean, numeric (1/0) and text columns; text is compared after trimming, lower
    casing and folding runs of spaces/underscores into one space ("Opted_In" -> "opted in").
    """
    text = (
        pl.col(column)
        .cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace_all(r"[\s_]+", " ")
    )
    return text.replace_strict(_WORDS, default=None, return_dtype=pl.Boolean).alias(column)


def parse_consent(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame`` with ``column`` replaced by its consent reading (see ``consent_expr``)."""
    return frame.with_columns(consent_expr(column))


def unread_consent(frame: pl.DataFrame, column: str) -> int:
    """How many non-empty values of ``column`` are no known consent spelling (they become null)."""
    raw = pl.col(column).cast(pl.String).str.strip_chars()
    given = raw.is_not_null() & (raw != "")
    return int(frame.select((given & consent_expr(column).is_null()).sum()).item())


def consent_column(columns: list[str]) -> str | None:
    """The column that holds e-mail marketing consent, by its name (first match wins), or None.

    ``consent_email`` itself, ``email_opt_in``, ``accepts_marketing``, "Accepts Email Marketing",
    ``是否同意营销`` ... (``analytics.core.schema.CONSENT_SYNONYMS``).
    """
    by_name = {normalize_name(c): c for c in reversed(columns)}
    for synonym in (normalize_name(CONSENT_EMAIL), *CONSENT_SYNONYMS):
        if synonym in by_name:
            return by_name[synonym]
    return None
