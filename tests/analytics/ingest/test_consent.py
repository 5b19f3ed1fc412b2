"""Consent spellings: every common yes/no form reads right; anything else is null and counted."""

from __future__ import annotations

import polars as pl
import pytest

from analytics.ingest.consent import consent_column, consent_expr, parse_consent, unread_consent

YES = ["true", "TRUE", " Yes ", "y", "Y", "1", "t", "on", "Opted In", "opted_in", "subscribed",
       "是", "同意", "1.0"]  # fmt: skip
NO = ["false", "No", "n", "N", "0", "f", "OFF", "opted out", "Unsubscribed", "否", "不同意", "0.0"]


def test_every_common_spelling_reads_right() -> None:
    frame = pl.DataFrame({"c": YES + NO})
    out = frame.select(consent_expr("c"))["c"].to_list()
    assert out == [True] * len(YES) + [False] * len(NO)


def test_unknown_values_are_null_and_counted() -> None:
    frame = pl.DataFrame({"c": ["yes", "maybe", None, "", "2", "no"]})
    assert parse_consent(frame, "c")["c"].to_list() == [True, None, None, None, None, False]
    assert unread_consent(frame, "c") == 2  # "maybe" and "2"; empty and missing are not counted


def test_boolean_and_numeric_columns() -> None:
    frame = pl.DataFrame({"b": [True, False, None], "i": [1, 0, 5], "f": [1.0, 0.0, None]})
    out = frame.select(consent_expr("b"), consent_expr("i"), consent_expr("f"))
    assert out.rows() == [(True, True, True), (False, False, False), (None, None, None)]
    assert out.schema == {"b": pl.Boolean, "i": pl.Boolean, "f": pl.Boolean}


@pytest.mark.parametrize(
    ("columns", "found"),
    [
        (["id", "Accepts Email Marketing", "Email"], "Accepts Email Marketing"),
        (["user_id", "email_opt_in"], "email_opt_in"),
        (["user_id", "accepts_marketing"], "accepts_marketing"),
        (["用户id", "是否同意营销"], "是否同意营销"),
        (["user_id", "consent_email", "newsletter"], "consent_email"),
        (["user_id", "email", "country"], None),
    ],
)
def test_consent_column_by_name(columns: list[str], found: str | None) -> None:
    assert consent_column(columns) == found
