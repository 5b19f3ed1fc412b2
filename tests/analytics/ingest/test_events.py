"""The event scan's strict UTF-8 typed fast path falls back to the plain text scan: a bad byte
or a surplus field past the sniffed start is read or reported as the plain scan would."""

from __future__ import annotations

import polars as pl

from analytics.ingest.pipeline import ingest_file
from analytics.ingest.readers import SNIFF_BYTES


def test_bad_utf8_byte_after_the_sniff_falls_back_to_lossy_text(tmp_path):
    rows = ["user_id,item_id,behavior_type,timestamp,price"]
    rows += [f"{i % 50},{i % 70},pv,{1511544070 + i},{i % 9}.5" for i in range(50_000)]
    body = "\n".join(rows).encode() + b"\n7,caf\xe9,buy,1511600000,2.5\n"
    assert len(body) > SNIFF_BYTES
    path = tmp_path / "events.csv"
    path.write_bytes(body)
    result = ingest_file(path)
    assert result.report["rows_read"] == 50_001
    assert result.report["rows_rejected"] == 0
    last = result.events.row(-1, named=True)
    assert last["item_id"] == "caf\ufffd"
    assert last["price"] == 2.5
    assert last["event_type"] == "purchase"


def test_surplus_fields_after_the_sniff_fall_back_and_are_reported(tmp_path):
    # the typed scan has no column for surplus fields: such a row fails it, and the plain
    # rescan reports the row with its line number and its whole text
    rows = ["user_id,item_id,behavior_type,timestamp,price"]
    rows += [f"{i % 50},{i % 70},pv,{1511544070 + i},{i % 9}.5" for i in range(50_000)]
    body = "\n".join(rows) + "\n7,8,buy,1511600000,2.5,surplus\n9,8,buy,1511600001,3\n"
    assert len(body) > SNIFF_BYTES
    path = tmp_path / "events.csv"
    path.write_text(body)
    result = ingest_file(path)
    r = result.report
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (50_002, 50_001, 1)
    assert result.rejects.rows() == [
        (50_002, "wrong number of fields", "7,8,buy,1511600000,2.5,surplus")
    ]
    assert result.events.get_column("price").dtype == pl.Float64


# --- rows are never shifted or hidden -------------------------------------------------------------
HEADER = "user_id,item_id,category,behavior_type,timestamp,price\n"


def test_row_with_a_missing_field_is_rejected_not_shifted(tmp_path):
    body = (
        "u1,10,toys,buy,1511544070,2.5\n"
        "u2,11,buy,1511544080,3.0\n"  # the category is missing: everything would shift left
        "u3,12,toys,buy,1511544090,\n"  # an empty last field is a field: accepted, no price
        '"u4",13,"toys, games",buy,1511544100,4.0\n'
    )
    more = "".join(f"u{i},20,toys,pv,{1511545000 + i},1.0\n" for i in range(5, 25))
    path = tmp_path / "short.csv"
    path.write_text(HEADER + body + more)
    result = ingest_file(path)
    r = result.report
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (24, 23, 1)
    assert result.rejects.rows() == [(3, "wrong number of fields", "u2,11,buy,1511544080,3.0")]
    events = result.events.head(3)
    assert events.get_column("item_id").to_list() == ["10", "12", "13"]
    assert events.get_column("category").to_list() == ["toys", "toys", "toys, games"]
    assert events.get_column("price").to_list() == [2.5, None, 4.0]


def test_short_row_in_a_customer_table_is_rejected(tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text("customer_id,email,city\nA1,a@x.com,Köln\nB2,Berlin\nC3,c@x.com,\n")
    result = ingest_file(path)
    assert result.users is not None
    assert result.users.get_column("user_id").to_list() == ["A1", "C3"]
    assert result.rejects.rows() == [(3, "wrong number of fields", "B2,Berlin")]


def test_control_characters_inside_fields_reject_the_row(tmp_path):
    body = (
        "u1,10,toys,buy,1511544070,2.5\n"
        "u\x001,10,toys,buy,1511544071,2.5\n"  # a NUL inside an id would make a new customer
        "u2,1\x0711,toys,buy,1511544072,2.5\n"
        "u2,11,toys\tand games,buy,1511544073,2.5\n"  # a tab is text
    )
    path = tmp_path / "nul.csv"
    path.write_bytes((HEADER + body).encode())
    result = ingest_file(path)
    assert result.report["users"] == 2
    assert [row[:2] for row in result.rejects.rows()] == [
        (3, "control character in a field"),
        (4, "control character in a field"),
    ]
    assert result.report["rows_accepted"] + result.report["rows_rejected"] == 4


def test_nan_and_infinite_money_or_quantity_reject_the_row(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
        "1,A,2,2024-01-01 10:00,2.50,c1\n"
        "2,A,2,2024-01-01 10:00,NaN,c1\n"
        "3,A,inf,2024-01-01 10:00,2.50,c2\n"
        "4,A,1,2024-01-01 10:00,-Infinity,c2\n"
    )
    result = ingest_file(path)
    assert result.rejects.select("line", "reason").rows() == [
        (3, "unreadable price"),
        (4, "unreadable quantity"),
        (5, "unreadable price"),
    ]
    assert result.report["revenue_total"] == 5.0
