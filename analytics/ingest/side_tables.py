"""Side tables attached to an event or order dataset: a users table and an exposures table.

``users``: one row per customer with e-mail, phone, marketing consent (any common spelling, read
by ``analytics.ingest.consent``), country, sign-up date and any other attribute, under canonical
names where one is recognised. ``exposures``: who got which campaign, in which arm, when; the
user-facing fields are ``user_id, campaign, arm, event_time`` and they are stored as the campaigns
code reads them (``user_id, campaign_id, arm, sent_time``). Ids that the dataset does not know are
kept, counted and listed: a CRM export often holds customers who never ordered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.artifacts import EXPOSURES, USERS
from analytics.core.errors import MappingError
from analytics.core.schema import (
    ARM,
    CAMPAIGN_ID,
    COLUMN_SYNONYMS,
    CONSENT_EMAIL,
    EVENT_TIME,
    SENT_TIME,
    SIDE_ID_SYNONYMS,
    SIGNUP_DATE,
    USER_FIELD_SYNONYMS,
    USER_ID,
)
from analytics.ingest.consent import consent_column, consent_expr, unread_consent
from analytics.ingest.mapping import map_side_table
from analytics.ingest.pipeline import SideTable, ingest_side_file
from analytics.ingest.readers import normalize_name, sniff_file

__all__ = [
    "EXPOSURE_FIELDS",
    "SIDE_TABLES",
    "USER_FIELDS",
    "AttachResult",
    "SideProposal",
    "match_ids",
    "merge_exposures",
    "merge_users",
    "propose_side_mapping",
    "read_side_table",
    "user_columns",
]

SIDE_TABLES = (USERS, EXPOSURES)
USER_FIELDS = (USER_ID, CONSENT_EMAIL, *USER_FIELD_SYNONYMS)
EXPOSURE_FIELDS = (USER_ID, "campaign", ARM, EVENT_TIME)
# the user-facing exposure field -> the stored column (the campaigns code reads the stored names)
_EXPOSURE_STORED = {"campaign": CAMPAIGN_ID, EVENT_TIME: SENT_TIME}
_SAMPLE_IDS = 20


@dataclass(frozen=True)
class AttachResult:
    """What attaching one side table did: rows, matches against the dataset, what was mapped."""

    dataset: str
    table: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    matched_users: int  # distinct ids of the table that the dataset knows
    unmatched_ids: int  # distinct ids it does not know (kept, never dropped)
    unmatched_sample: tuple[str, ...] = ()
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    consent_unread: int = 0  # consent values that were no known spelling (stored as unknown)
    campaigns: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The JSON summary the CLI prints (``unmatched_ids`` is a count)."""
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "table": self.table,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "matched_users": self.matched_users,
            "unmatched_ids": self.unmatched_ids,
            "unmatched_sample": list(self.unmatched_sample),
            "rejected_by_reason": self.rejected_by_reason,
            "mapping": self.mapping,
        }
        if self.table == USERS:
            out["consent_unread"] = self.consent_unread
        if self.campaigns:
            out["campaigns"] = list(self.campaigns)
        return out


@dataclass(frozen=True)
class SideProposal:
    """What a look at a side-table file proposes: its columns, a mapping and the first rows."""

    table: str
    columns: tuple[str, ...]
    mapping: dict[str, str]  # canonical (user-facing) field -> source column
    preview: pl.DataFrame

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields a column of this table can be mapped to."""
        return USER_FIELDS if self.table == USERS else EXPOSURE_FIELDS


def propose_side_mapping(path: Path, table: str) -> SideProposal:
    """Sniff a users or exposures file (a sample, not the whole file) and propose its mapping."""
    _check_table(table)
    sniff = sniff_file(Path(path))
    found, _ = map_side_table(sniff.sample, table)
    stored = {v: k for k, v in _EXPOSURE_STORED.items()}
    found = {stored.get(k, k): v for k, v in found.items()}
    by_name = {normalize_name(c): c for c in reversed(sniff.columns)}
    if USER_ID not in found:
        found.update(_by_synonym(by_name, USER_ID, SIDE_ID_SYNONYMS, found))
    if table == USERS:
        found = {**user_columns(sniff.columns), **found}
    elif EVENT_TIME not in found:
        found.update(_by_synonym(by_name, EVENT_TIME, COLUMN_SYNONYMS[EVENT_TIME], found))
    return SideProposal(table, tuple(sniff.columns), found, sniff.sample.head(10))


def _by_synonym(
    by_name: dict[str, str], field: str, synonyms: tuple[str, ...], taken: dict[str, str]
) -> dict[str, str]:
    for synonym in (normalize_name(field), *synonyms):
        column = by_name.get(synonym)
        if column is not None and column not in taken.values():
            return {field: column}
    return {}


def _check_table(table: str) -> None:
    if table not in SIDE_TABLES:
        raise MappingError(f"A side table is 'users' or 'exposures', not '{table}'.")


# --- reading ------------------------------------------------------------------------------------
def read_side_table(path: Path, table: str, mapping: dict[str, str] | None = None) -> SideTable:
    """Read a users or exposures file into canonical columns.

    ``mapping`` (canonical -> source column) overrides the proposed mapping field by field; a
    column the user maps is taken away from any field it was proposed for.
    """
    _check_table(table)
    mapping = dict(mapping or {})
    allowed = USER_FIELDS if table == USERS else (*EXPOSURE_FIELDS, CAMPAIGN_ID, SENT_TIME)
    for canonical in mapping:
        if canonical not in allowed:
            raise MappingError(
                f"'{canonical}' is not a field of a {table} table; use {', '.join(allowed)}."
            )
    stored = {v: k for k, v in _EXPOSURE_STORED.items()}
    mapping = {stored.get(k, k): v for k, v in mapping.items()}
    proposed = propose_side_mapping(path, table).mapping
    fields = {k: v for k, v in proposed.items() if v not in mapping.values()} | mapping
    if table == EXPOSURES:
        return _read_exposures(Path(path), fields)
    return _read_users(Path(path), fields)


def _read_exposures(path: Path, fields: dict[str, str]) -> SideTable:
    if EVENT_TIME not in fields:
        raise MappingError(
            f"No column of '{path.name}' was recognised as the time the campaign was sent; map "
            "one (event_time=COLUMN). Uplift and measurement count what happened after it."
        )
    side = ingest_side_file(
        path, EXPOSURES, {_EXPOSURE_STORED.get(k, k): v for k, v in fields.items()}
    )
    stored = {v: k for k, v in _EXPOSURE_STORED.items()}
    used = {stored.get(k, k): v for k, v in side.report["mapping"].items()}
    return SideTable(EXPOSURES, side.frame, side.rejects, {**side.report, "mapping": used})


def _read_users(path: Path, fields: dict[str, str]) -> SideTable:
    id_map = {USER_ID: fields[USER_ID]} if USER_ID in fields else None
    side = ingest_side_file(path, USERS, id_map)
    id_column: str = side.report["mapping"][USER_ID]
    others = {k: v for k, v in fields.items() if k != USER_ID}
    frame = side.frame.with_columns(
        pl.col(USER_ID).alias(f"__{k}") for k, v in others.items() if v == id_column
    )  # a field held in the id column itself (an e-mail used as the customer id)
    others = {k: (f"__{k}" if v == id_column else v) for k, v in others.items()}
    missing = [v for v in others.values() if v not in frame.columns]
    if missing:
        raise MappingError(f"The file has no column '{missing[0]}'.")
    frame, unread = _tidy_users(frame, others)
    mapping = {USER_ID: id_column, **{k: fields[k] for k in others}}
    report = {**side.report, "mapping": mapping, "consent_unread": unread}
    return SideTable(USERS, frame, side.rejects, report)


def user_columns(columns: list[str]) -> dict[str, str]:
    """Canonical users field -> source column, recognised by name (consent, e-mail, phone ...)."""
    by_name = {normalize_name(c): c for c in reversed(columns)}
    found: dict[str, str] = {}
    if (consent := consent_column(columns)) is not None:
        found[CONSENT_EMAIL] = consent
    for canonical, synonyms in USER_FIELD_SYNONYMS.items():
        hit = next((by_name[s] for s in synonyms if s in by_name), None)
        if hit is not None and hit not in found.values():
            found[canonical] = hit
    return found


def _tidy_users(frame: pl.DataFrame, fields: dict[str, str]) -> tuple[pl.DataFrame, int]:
    """Rename recognised columns to canonical names; consent as Boolean, sign-up as a date."""
    taken = set(fields)
    clash = [c for c in frame.columns if c in taken and fields.get(c) != c]
    frame = frame.rename({c: f"{c}_source" for c in clash})
    fields = {k: (f"{v}_source" if v in clash else v) for k, v in fields.items()}
    frame = frame.rename({v: k for k, v in fields.items() if v != k})
    unread = 0
    if CONSENT_EMAIL in frame.columns:
        unread = unread_consent(frame, CONSENT_EMAIL)
        frame = frame.with_columns(consent_expr(CONSENT_EMAIL))
    if SIGNUP_DATE in frame.columns and frame.schema[SIGNUP_DATE] == pl.String:
        parsed = pl.col(SIGNUP_DATE).str.to_date(strict=False)
        share = frame.select(parsed.is_not_null().mean()).item() or 0.0
        if share >= 0.9:  # a few odd values: keep the text rather than lose them
            frame = frame.with_columns(parsed)
    return frame, unread


# --- merging into the dataset -------------------------------------------------------------------
def merge_users(old: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """The dataset's users with ``new`` merged on ``user_id``: a customer in ``new`` takes its new
    values for the columns ``new`` has and keeps the rest; everyone else is unchanged."""
    if old is None:
        return new
    if old.schema[USER_ID] != pl.String:
        raise MappingError("The dataset's user table has non-text user ids.")
    kept = [c for c in old.columns if c == USER_ID or c not in new.columns]
    updated = new.join(old.select(kept), on=USER_ID, how="left")
    rest = old.join(new.select(USER_ID), on=USER_ID, how="anti")
    return pl.concat([rest, updated], how="diagonal_relaxed")


def merge_exposures(old: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """The dataset's exposures with ``new`` added; a campaign present in both is replaced."""
    if old is None:
        return new
    campaigns = new.get_column(CAMPAIGN_ID).unique()
    return pl.concat([old.filter(~pl.col(CAMPAIGN_ID).is_in(campaigns.implode())), new])


def match_ids(ids: pl.Series, known: pl.LazyFrame) -> tuple[int, int, tuple[str, ...]]:
    """(matched, unmatched, a sorted sample of unmatched) distinct ids of ``ids`` in ``known``.

    ``known`` has a ``user_id`` column (the dataset's events or customers).
    """
    distinct = pl.DataFrame({USER_ID: ids.drop_nulls().unique()})
    seen = known.select(USER_ID).unique().collect()
    unmatched = distinct.join(seen, on=USER_ID, how="anti").get_column(USER_ID).sort()
    sample = tuple(str(x) for x in unmatched.head(_SAMPLE_IDS).to_list())
    return distinct.height - unmatched.len(), unmatched.len(), sample
