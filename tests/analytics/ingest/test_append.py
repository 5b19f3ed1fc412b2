"""Append: halves appended equal the whole; the same file again adds nothing; derived results stay,
marked stale with what changed."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics.core.artifacts import EVENTS, ITEMS, SEGMENTS, USERS
from analytics.core.errors import MappingError
from analytics.core.workspace import Workspace
from analytics.ingest.append import merge_items, new_rows
from analytics.ingest.service import ingest_path, stale_notice

HEADER = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Accepts Marketing\n"


def _history(lines: int = 240, seed: int = 5) -> list[str]:
    """Order lines over 60 days, in time order; 30 customers, some buying in both halves."""
    rng = random.Random(seed)
    rows = []
    for i in range(lines):
        day, minute = 1 + i * 60 // lines, i % 60
        customer = 1000 + rng.randrange(30)
        consent = "yes" if customer % 3 else ("no" if day < 30 else "yes")  # changes mid-way
        rows.append(
            f"{50000 + i // 3},SKU{rng.randrange(12)},{1 + rng.randrange(4)},"
            f"{date(2024, 1, 1) + timedelta(days=day - 1)} 10:{minute:02d}:00,"
            f"{rng.choice(['2.50', '4.00', '9.95'])},{customer},{consent}"
        )
    return rows


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rows = _history()
    out = {}
    for name, part in (("whole", rows), ("first", rows[:120]), ("second", rows[120:])):
        out[name] = tmp_path / f"{name}.csv"
        out[name].write_text(HEADER + "\n".join(part) + "\n")
    return out


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns)


def test_halves_appended_equal_the_whole(workspace: Workspace, files: dict[str, Path]) -> None:
    whole = ingest_path(workspace, files["whole"], name="whole")
    ingest_path(workspace, files["first"], name="grown")
    added = ingest_path(workspace, files["second"], name="grown", append=True)
    assert added["appended"] and added["rows_read"] == 120
    assert (added["rows_added"], added["duplicates_skipped"]) == (120, 0)
    assert added["users"] == whole["users"]

    # the same events in the same order, so segments learned from them are the same too
    assert workspace.read_frame("grown", EVENTS).equals(workspace.read_frame("whole", EVENTS))
    a, b = workspace.read_frame("whole", USERS), workspace.read_frame("grown", USERS)
    assert _sorted(a).equals(_sorted(b.select(a.columns)))
    users = workspace.read_frame("grown", USERS)
    assert users.filter(pl.col("user_id") == "1002")["consent_email"].to_list() == [True]
    assert (
        workspace.read_frame("grown", ITEMS).height == workspace.read_frame("whole", ITEMS).height
    )
    report = workspace.dataset("grown").report
    assert report["rows_read"] == report["rows_accepted"] + report["rows_rejected"] == 240
    for key in ("users", "events_by_type", "first_event", "last_event", "revenue_total"):
        assert report[key] == workspace.dataset("whole").report[key], key
    assert [a["rows_added"] for a in report["appends"]] == [120]


def test_the_same_file_again_adds_nothing(workspace: Workspace, files: dict[str, Path]) -> None:
    ingest_path(workspace, files["whole"], name="shop")
    before = workspace.read_frame("shop", EVENTS)
    again = ingest_path(workspace, files["whole"], name="shop", append=True)
    assert (again["rows_added"], again["duplicates_skipped"], again["new_users"]) == (0, 240, 0)
    assert workspace.read_frame("shop", EVENTS).equals(before)
    report = workspace.dataset("shop").report
    assert report["rows_read"] == 480 and report["duplicates_skipped"] == 240
    assert report["rows_accepted"] + report["rows_rejected"] + 240 == report["rows_read"]


def test_derived_results_are_kept_and_marked_stale(
    workspace: Workspace, files: dict[str, Path]
) -> None:
    ingest_path(workspace, files["first"], name="shop")
    assert stale_notice(workspace, "shop") is None
    segments = pl.DataFrame({"user_id": ["1001"], "segment": [0]})
    workspace.write_frame("shop", SEGMENTS, segments)
    workspace.put_record("run", "shop", "segments", {"k": 4})
    ingest_path(workspace, files["second"], name="shop", append=True)
    assert workspace.read_frame("shop", SEGMENTS).equals(segments)
    assert workspace.get_record("run", "shop", "segments").payload == {"k": 4}
    notice = stale_notice(workspace, "shop")
    assert notice is not None and notice.artifacts == (SEGMENTS,)
    assert notice.records == ("run:segments",)
    assert notice.what.startswith("120 rows and") and "second.csv" in notice.what
    workspace.write_frame("shop", SEGMENTS, segments)  # segments made again on the new data
    notice = stale_notice(workspace, "shop")
    assert notice is not None and (notice.artifacts, notice.records) == ((), ("run:segments",))
    workspace.put_record("run", "shop", "segments", {"k": 5})
    assert stale_notice(workspace, "shop") is None  # everything made again: nothing stale


def test_append_errors(workspace: Workspace, files: dict[str, Path], tmp_path: Path) -> None:
    first = ingest_path(workspace, files["first"], name="new", append=True)  # no dataset yet
    assert "appended" not in first and first["rows_accepted"] == 120
    other = tmp_path / "other.csv"
    other.write_text("user,time\nu1,2024-01-01\n")
    with pytest.raises(MappingError, match="InvoiceNo"):
        ingest_path(workspace, other, name="new", append=True)
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,age\n1,30\n2,40\n")
    ingest_path(workspace, customers, name="crm", shape="customers")
    with pytest.raises(MappingError, match="customer table"):
        ingest_path(workspace, customers, name="crm", append=True)


def test_new_rows_skips_exact_duplicates_only() -> None:
    old = pl.DataFrame({"user_id": ["a", "b"], "item_id": ["x", None], "revenue": [1.0, 2.0]})
    new = pl.DataFrame({"user_id": ["b", "b", "c"], "item_id": [None, "y", "x"],
                        "revenue": [2.0, 2.0, 1.0]})  # fmt: skip
    merged, skipped = new_rows(old, new)
    assert skipped == 1  # (b, null, 2.0): nulls compare equal
    assert merged.rows() == [("a", "x", 1.0), ("b", None, 2.0), ("b", "y", 2.0), ("c", "x", 1.0)]
    assert new_rows(None, new) == (new, 0)


def test_merge_items_keeps_known_items() -> None:
    old = pl.DataFrame({"item_id": ["b", "a"], "price": [1.0, 2.0]})
    new = pl.DataFrame({"item_id": ["a", "c"], "price": [9.0, 3.0]})
    assert merge_items(old, new).rows() == [("a", 2.0), ("b", 1.0), ("c", 3.0)]
    assert merge_items(None, new) is new and merge_items(old, None) is old
