"""Export: hostile cells never reach a spreadsheet as formulas; quoting round-trips; consent."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.core.errors import SpecError
from models.campaigns.export import (
    consenting,
    export_bytes,
    export_from_json,
    neutralize,
    safe_frame,
)

DANGER = ("=", "+", "-", "@", "\t", "\r")
hostile = st.text(
    alphabet=st.sampled_from(list("=+-@\t\r\n\",;' aZ0|!＝＋")) | st.characters(codec="utf-8"),
    max_size=12,
)


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(hostile, min_size=1, max_size=8), strict=st.booleans())
def test_hostile_cells_are_neutralised_and_round_trip(cells: list[str], strict: bool) -> None:
    frame = pl.DataFrame({"user_id": [f"u{i}" for i in range(len(cells))], "note": cells})
    rows = parse(export_bytes(frame, "csv", strict))
    assert rows[0] == ["user_id", "note"]
    assert len(rows) == len(cells) + 1  # no row lost or split, whatever the cell holds
    for cell, row in zip(cells, rows[1:], strict=True):
        assert row[1] == neutralize(cell, strict)
        assert not row[1].startswith(DANGER)
        if strict:
            assert not any(ord(ch) < 32 for ch in row[1])
            assert not row[1].lstrip(" ").startswith(("=", "+", "-", "@", "＝", "＋"))


def test_examples_by_hand() -> None:
    assert neutralize('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert neutralize("-2+3") == "'-2+3" and neutralize("plain") == "plain"
    assert neutralize("  =1", strict=True) == "'  =1" and neutralize("  =1") == "'  =1"
    assert neutralize("a\nb", strict=True) == "a b"
    frame = pl.DataFrame({"n": [-1.5], "s": ['say "hi", ok']})
    assert export_bytes(frame).decode() == 'n,s\n-1.5,"say ""hi"", ok"\n'
    assert export_bytes(frame, strict=True).decode() == '"n","s"\n"-1.5","say ""hi"", ok"\n'


# every look-alike a spreadsheet still runs as a formula (issue 15, item 8)
DISGUISED = [
    "\uff1d1+1",  # full-width =
    "\uff0bcmd",  # full-width +
    "\uff0d2+3",  # full-width -
    "\uff20SUM(A1)",  # full-width @
    "  =1+1",  # leading spaces
    "\n=1+1",  # a leading line feed
    "\ufeff=1+1",  # a BOM
    "\u3000=1+1",  # an ideographic space
    "\u00a0=1+1",  # a no-break space
    "\u200b=1+1",  # a zero-width space
]


@pytest.mark.parametrize("cell", DISGUISED)
@pytest.mark.parametrize("strict", [False, True])
def test_disguised_formulas_are_neutralised_in_both_modes(cell: str, strict: bool) -> None:
    frame = pl.DataFrame({"user_id": [cell], "note": [cell]})
    rows = parse(export_bytes(frame, "csv", strict))
    user_id, note = rows[1]
    assert user_id == "'" + cell  # prefixed, every character of the id kept (strict too)
    assert note == neutralize(cell, strict) and note.startswith("'")
    assert neutralize(cell, strict, is_id=True) == "'" + cell


def test_harmless_cells_are_left_alone() -> None:
    for cell in ["plain", "a=b", "  spaced", "\u00a0name", "\uff21BC", "1.5"]:
        assert neutralize(cell) == cell and neutralize(cell, strict=True) == cell


def test_strict_mode_keeps_an_id_and_cleans_other_text() -> None:
    frame = pl.DataFrame({"user_id": ["a\nb", "x\ty"], "note": ["a\nb", "x\ty"]})
    rows = parse(export_bytes(frame, "csv", strict=True))
    assert [r[0] for r in rows[1:]] == ["a\nb", "x\ty"]  # quoted, unchanged
    assert [r[1] for r in rows[1:]] == ["a b", "x y"]


def test_parquet_keeps_typed_values() -> None:
    frame = pl.DataFrame({"user_id": ["=1"], "x": [2.0]})
    back = pl.read_parquet(io.BytesIO(export_bytes(frame, "parquet")))
    assert back.equals(frame)
    assert safe_frame(frame)["user_id"].to_list() == ["'=1"]


def test_only_opted_in_users_are_exported() -> None:
    listed = pl.DataFrame({"user_id": ["a", "b", "c", "d"]})
    users = pl.DataFrame({"user_id": ["a", "b", "c"], "consent_email": [True, False, None]})
    assert consenting(listed, users)["user_id"].to_list() == ["a"]  # d is not even known
    with pytest.raises(SpecError, match="consent"):
        consenting(listed, users.drop("consent_email"))
    with pytest.raises(SpecError, match="consent"):
        consenting(listed, None)


@pytest.mark.parametrize(
    ("spellings", "kept"),
    [
        (["yes", "no", "YES", "No"], ["a", "c"]),
        (["1", "0", "1", "0"], ["a", "c"]),
        (["Y", "N", "opted in", "unsubscribed"], ["a", "c"]),
        (["true", "maybe", "", None], ["a"]),  # unreadable or missing: never consent
    ],
)
def test_consent_is_read_from_any_common_spelling(spellings: list, kept: list[str]) -> None:
    listed = pl.DataFrame({"user_id": ["a", "b", "c", "d"]})
    users = pl.DataFrame({"user_id": ["a", "b", "c", "d"], "consent_email": spellings})
    assert consenting(listed, users)["user_id"].to_list() == kept


def test_consent_as_numbers() -> None:
    listed = pl.DataFrame({"user_id": ["a", "b"]})
    users = pl.DataFrame({"user_id": ["a", "b"], "consent_email": [1, 0]})
    assert consenting(listed, users)["user_id"].to_list() == ["a"]


def test_export_spec_from_json() -> None:
    spec = export_from_json({"format": "parquet", "strict": True, "campaign": {"depth_pct": 20}})
    assert spec.format == "parquet" and spec.campaign.depth_pct == 20.0
    with pytest.raises(SpecError, match="xlsx"):
        export_from_json({"format": "xlsx"})
