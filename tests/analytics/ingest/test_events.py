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
