"""Ingest: shapes x formats x encodings, malformed rows, dates, Chinese headers, hostile files."""

from __future__ import annotations

import gzip
import io
import json
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.core.errors import AudienceLabError, IngestError, MappingError
from analytics.core.schema import EVENTS_SCHEMA, Shape
from analytics.ingest.pipeline import IngestSpec, detect_file, ingest_file, resolve_spec

EVENTS_CSV = (
    "user_id,item_id,category_id,behavior_type,timestamp\n"
    "1,100,7,pv,1511544070\n"
    "1,101,7,cart,1511544080\n"
    "2,100,7,buy,1511544090\n"
    "3,102,8,fav,1511544100\n"
)
ORDERS_CSV = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,HEART HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    "536365,71053,LANTERN,2,2010-12-01 08:26:00,3.00,17850,United Kingdom\n"
    "C536379,71053,LANTERN,-1,2010-12-01 09:41:00,3.00,17850,United Kingdom\n"
    "536380,22728,ALARM CLOCK,4,2010-12-01 09:45:00,3.75,,United Kingdom\n"
    "536381,22728,ALARM CLOCK,-2,2010-12-01 09:46:00,3.75,13047,United Kingdom\n"
)
CUSTOMERS_CSV = (
    "recency,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n"
    "10,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n"
    "6,329.08,1,1,Rural,1,Web,No E-Mail,0,0,0\n"
    "7,180.65,0,1,Surburban,1,Web,Womens E-Mail,0,0,0\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def check_events(result) -> None:
    """The planted truth of EVENTS_CSV."""
    ev = result.events
    assert list(ev.columns[: len(EVENTS_SCHEMA)]) == list(EVENTS_SCHEMA)
    assert ev.schema[EVENTS_SCHEMA_TIME] == EVENTS_SCHEMA[EVENTS_SCHEMA_TIME]
    assert ev.get_column("event_type").cast(pl.String).to_list() == [
        "view",
        "cart",
        "purchase",
        "fav",
    ]
    assert ev.get_column("user_id").to_list() == ["1", "1", "2", "3"]
    assert ev.get_column("event_time")[0] == datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC)
    assert result.report["rows_read"] == 4 and result.report["rows_rejected"] == 0
    assert result.report["users"] == 3


EVENTS_SCHEMA_TIME = "event_time"


# --- shapes -------------------------------------------------------------------------------------
def test_events_csv_maps_and_parses(tmp_path: Path) -> None:
    path = write(tmp_path, "events.csv", EVENTS_CSV)
    detection = detect_file(path)
    assert detection.shape == Shape.EVENTS
    assert detection.mapping == {
        "user_id": "user_id",
        "item_id": "item_id",
        "category": "category_id",
        "event_type": "behavior_type",
        "event_time": "timestamp",
    }
    assert all(0 < c <= 1 for c in detection.confidence.values())
    assert detection.preview.height == 4
    check_events(ingest_file(path))


def test_transactions_refunds_and_rows_without_user(tmp_path: Path) -> None:
    result = ingest_file(write(tmp_path, "orders.csv", ORDERS_CSV))
    assert result.shape == Shape.TRANSACTIONS
    r = result.report
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (5, 5, 0)
    assert r["rows_without_user"] == 1
    assert r["events_by_type"] == {"purchase": 3, "refund": 2}
    assert r["cancelled_lines"] == 1 and r["orders"] == 4
    # store level: 6*2.55 + 2*3 - 1*3 + 4*3.75 - 2*3.75 (the anonymous row counts here)
    assert r["revenue_total"] == pytest.approx(15.3 + 6 - 3 + 15 - 7.5)
    ev = result.events  # per-user events hold no row without user
    assert ev.height == 4 and ev.get_column("user_id").null_count() == 0
    assert result.anonymous is not None and result.anonymous.height == 1
    refunds = ev.filter(pl.col("event_type") == "refund")
    assert refunds.get_column("revenue").to_list() == [-3.0, -7.5]
    assert refunds.get_column("quantity").to_list() == [-1.0, -2.0]
    assert "Country" in ev.columns and "Description" not in ev.columns
    items = result.items.sort("item_id")
    assert items.get_column("name").to_list() == ["ALARM CLOCK", "LANTERN", "HEART HOLDER"]
    assert items.get_column("price").to_list() == [3.75, 3.0, 2.55]


def test_customer_table_without_id_gets_row_numbers(tmp_path: Path) -> None:
    result = ingest_file(write(tmp_path, "hillstrom.csv", CUSTOMERS_CSV))
    assert result.shape == Shape.CUSTOMERS
    assert result.events.height == 0 and result.events.columns == list(EVENTS_SCHEMA)
    users = result.users
    assert users.columns[0] == "user_id"
    assert users.get_column("user_id").to_list() == ["1", "2", "3"]
    assert users.schema["history"] == pl.Float64 and users.schema["recency"] == pl.Int64
    assert users.get_column("segment").to_list()[1] == "No E-Mail"
    assert result.report["users"] == 3


def test_customer_table_duplicate_and_missing_ids_rejected(tmp_path: Path) -> None:
    text = "customer_id,email,zip\nA1,a@x.com,01234\nA1,b@x.com,5\n,c@x.com,6\nB2,d@x.com,7\n"
    result = ingest_file(
        write(tmp_path, "crm.csv", text), IngestSpec(Shape.CUSTOMERS, {"user_id": "customer_id"})
    )
    assert result.users.get_column("user_id").to_list() == ["A1", "B2"]
    assert result.users.schema["zip"] == pl.String  # a leading zero keeps ids as text
    assert result.rejects.rows() == [
        (3, "duplicate user id", "A1,b@x.com,5"),
        (4, "missing user id", ",c@x.com,6"),
    ]


# --- formats and encodings ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [
        ("e.csv", "utf-8", ","),
        ("e.csv", "utf-8-sig", ","),
        ("e.tsv", "utf-8", "\t"),
        ("e.csv", "utf-8", ";"),
        ("e.txt", "utf-8", "|"),
        ("e.csv", "gb18030", ","),
        ("e.csv", "utf-16", ","),
        ("e.csv", "utf-16-le", "\t"),
    ],
)
def test_text_formats(tmp_path: Path, name: str, encoding: str, delimiter: str) -> None:
    path = write(tmp_path, name, EVENTS_CSV.replace(",", delimiter), encoding)
    detection = detect_file(path)
    assert detection.delimiter == delimiter
    check_events(ingest_file(path))


def test_whitespace_delimited(tmp_path: Path) -> None:
    text = "\n".join("  " + "   ".join(line.split(",")) + " \r" for line in EVENTS_CSV.splitlines())
    path = write(tmp_path, "e.txt", text + "\n")
    assert detect_file(path).delimiter == " "
    check_events(ingest_file(path))


def test_gzip_and_zip(tmp_path: Path) -> None:
    gz = tmp_path / "e.csv.gz"
    gz.write_bytes(gzip.compress(EVENTS_CSV.encode("gb18030")))
    check_events(ingest_file(gz))
    zp = tmp_path / "e.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export/e.csv", EVENTS_CSV)
    assert detect_file(zp).compression == "zip"
    check_events(ingest_file(zp))


def test_parquet_excel_jsonl(tmp_path: Path) -> None:
    frame = pl.read_csv(io.StringIO(EVENTS_CSV))
    frame.write_parquet(tmp_path / "e.parquet")
    check_events(ingest_file(tmp_path / "e.parquet"))
    _write_xlsx(frame, tmp_path / "e.xlsx")
    assert detect_file(tmp_path / "e.xlsx").format == "excel"
    check_events(ingest_file(tmp_path / "e.xlsx"))
    frame.write_ndjson(tmp_path / "e.jsonl")
    assert detect_file(tmp_path / "e.jsonl").format == "jsonl"
    check_events(ingest_file(tmp_path / "e.jsonl"))


def _write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(frame.columns)
    for row in frame.iter_rows():
        sheet.append(list(row))
    book.save(path)


def test_chinese_headers_gbk(tmp_path: Path) -> None:
    text = (
        "用户ID,商品ID,类目,行为类型,时间,价格,数量\n"
        "u1,i1,c1,浏览,2023-05-01 10:00:00,9.9,1\n"
        "u1,i1,c1,购买,2023-05-01 10:05:00,9.9,2\n"
        "u2,i2,c2,收藏,2023-05-02 11:00:00,5,1\n"
    )
    path = write(tmp_path, "行为.csv", text, "gbk")
    detection = detect_file(path)
    assert detection.encoding == "gb18030"
    assert detection.mapping == {
        "user_id": "用户ID",
        "item_id": "商品ID",
        "category": "类目",
        "event_type": "行为类型",
        "event_time": "时间",
        "price": "价格",
        "quantity": "数量",
    }
    result = ingest_file(path)
    assert result.events.get_column("event_type").cast(pl.String).to_list() == [
        "view",
        "purchase",
        "fav",
    ]
    assert result.report["revenue_total"] == pytest.approx(19.8)


def test_headerless_transactions_mapped_from_values(tmp_path: Path) -> None:
    """CDNOW-like: customer_id, customer_index, date YYYYMMDD, units, dollars; no header."""
    rows = [
        "00004 00001 19970101 2 29.33",
        "00004 00001 19970118 2 29.73",
        "00018 00002 19970104 1 14.96",
    ]
    path = write(tmp_path, "cd.txt", "\r\n".join(rows * 10) + "\r\n")
    detection = detect_file(path)
    assert not detection.has_header
    assert detection.mapping == {
        "user_id": "column_1",
        "event_time": "column_3",
        "quantity": "column_4",
        "revenue": "column_5",
    }
    result = ingest_file(path)
    assert result.report["revenue_total"] == pytest.approx(10 * (29.33 + 29.73 + 14.96))
    assert result.report["quantity_total"] == 50
    assert result.events.get_column("price")[0] == pytest.approx(29.33 / 2)


# --- malformed rows -----------------------------------------------------------------------------
def test_malformed_rows_have_line_numbers_and_reasons(tmp_path: Path) -> None:
    text = (
        "user_id,item_id,behavior_type,timestamp,price\n"  # line 1
        "1,100,pv,1511544070,1.5\n"  # 2 ok
        "2,101,buy,1511544080,abc\n"  # 3 unreadable price
        ",102,pv,1511544090,2\n"  # 4 missing user id
        "3,103,pv,yesterday,2\n"  # 5 unreadable time
        "4,104,pv,1511544090,2,EXTRA\n"  # 6 too many fields
        "\n"  # 7 empty line
        '"5",105,pv,,2\n'  # 8 missing time
        "6,106,cart,1511544100,3\n"  # 9 ok
    )
    result = ingest_file(write(tmp_path, "bad.csv", text))
    assert result.rejects.select("line", "reason").rows() == [
        (3, "unreadable price"),
        (4, "missing user id"),
        (5, "unreadable time"),
        (6, "wrong number of fields"),
        (7, "empty line"),
        (8, "missing time"),
    ]
    assert result.rejects.get_column("raw")[0] == "2,101,buy,1511544080,abc"
    r = result.report
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (8, 2, 6)
    assert r["rejected_by_reason"]["unreadable price"] == 1


def test_line_numbers_count_line_breaks_inside_quotes(tmp_path: Path) -> None:
    text = (
        "user,item,event,time,note\n"
        'u1,i1,view,1511544070,"two\nlines"\n'  # lines 2-3
        "u2,i2,view,never,x\n"  # line 4
    )
    result = ingest_file(write(tmp_path, "q.csv", text))
    assert result.rejects.get_column("line").to_list() == [4]
    assert result.events.get_column("note")[0] == "two\nlines"


def test_whitespace_ragged_line(tmp_path: Path) -> None:
    text = "00001 19970101 1 11.77\n00002 19970112 1\n" + "00002 19970112 5 77.00\n" * 3
    result = ingest_file(write(tmp_path, "cd.txt", text))
    assert result.rejects.rows() == [(2, "wrong number of fields", "00002 19970112 1")]
    assert result.report["rows_accepted"] == 4


def test_mapping_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", EVENTS_CSV)
    detection = detect_file(path)
    with pytest.raises(MappingError, match="no column 'nope'"):
        resolve_spec(detection, mapping={"user_id": "nope", "event_time": "timestamp"})
    with pytest.raises(MappingError, match="date or time"):
        resolve_spec(detection, mapping={"user_id": "user_id"})
    with pytest.raises(MappingError, match="colour"):
        resolve_spec(detection, mapping={"colour": "user_id"})
    with pytest.raises(MappingError, match="dates or times"):
        ingest_file(
            path,
            resolve_spec(detection, mapping={"user_id": "user_id", "event_time": "behavior_type"}),
        )


# --- the invariant --------------------------------------------------------------------------------
_cell = st.one_of(
    st.sampled_from(
        ["", "x", "1", "-3", "2.5", "pv", "buy", "1511544070", "2020-01-01", '"q"', "a b"]
    ),
    st.text(alphabet="ab,;1.\t é用", max_size=6),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(_cell, min_size=0, max_size=7), min_size=1, max_size=30))
def test_accepted_plus_rejected_is_rows_read(tmp_path: Path, rows: list[list[str]]) -> None:
    good = ["u1,i1,pv,1511544070,1.0,2"] * 40  # enough for the detection to settle on a format
    body = "\n".join([*good, *(",".join(r) for r in rows)])
    path = write(
        tmp_path, "p.csv", "user_id,item_id,behavior,timestamp,price,quantity\n" + body + "\n"
    )
    spec = IngestSpec(
        Shape.TRANSACTIONS,
        {
            "user_id": "user_id",
            "item_id": "item_id",
            "event_time": "timestamp",
            "price": "price",
            "quantity": "quantity",
        },
    )
    try:
        result = ingest_file(path, spec)
    except AudienceLabError:
        return  # a clear refusal is allowed; a silent loss is not
    r = result.report
    assert r["rows_accepted"] + r["rows_rejected"] == r["rows_read"]
    kept = result.events.height + (result.anonymous.height if result.anonymous is not None else 0)
    assert kept == r["rows_accepted"]
    assert result.rejects.get_column("line").is_unique().all()


# --- hostile files ------------------------------------------------------------------------------
def _refused_quickly(path: Path, match: str) -> None:
    start = time.monotonic()
    with pytest.raises(IngestError, match=match):
        ingest_file(path)
    with pytest.raises(IngestError, match=match):
        detect_file(path)
    assert time.monotonic() - start < 30  # generous: a hang, not a slow machine, fails this


def test_excel_zip_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            block = b"<c>0</c>" * (1 << 17)
            for _ in range(40):  # 40 MiB of repetitive XML, packed to ~40 KiB
                fh.write(block)
    _refused_quickly(path, "zip bomb")


def test_endless_line_refused(tmp_path: Path) -> None:
    path = tmp_path / "endless.csv"
    with open(path, "wb") as fh:
        for _ in range(3):
            fh.write(b"a," * (1 << 20))
    _refused_quickly(path, "endless line")


def test_binary_renamed_csv_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 4096)
    _refused_quickly(path, "binary")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        detect_file(tmp_path / "empty.csv")
    with pytest.raises(IngestError, match="no file"):
        detect_file(tmp_path / "nothing.csv")
    (tmp_path / "a.json").write_text(json.dumps([{"a": 1}]))
    with pytest.raises(IngestError, match="JSON lines"):
        detect_file(tmp_path / "a.json")


def test_crlf_decimal_comma_and_currency(tmp_path: Path) -> None:
    text = "user;event;time;price\r\nu1;buy;2023-05-01;2,50\r\nu2;buy;2023-05-02;1.234,00\r\n"
    result = ingest_file(write(tmp_path, "eu.csv", text))
    assert result.events.get_column("price").to_list() == [2.5, 1234.0]
    assert result.events.get_column("user_id").to_list() == ["u1", "u2"]
    text = 'user,event,time,price\nu1,buy,2023-05-01,$1.50\nu2,buy,2023-05-02,"$1,200.00"\n'
    result = ingest_file(write(tmp_path, "us.csv", text))
    assert result.events.get_column("price").to_list() == [1.5, 1200.0]


def test_float_customer_ids_and_negative_price_adjustments(tmp_path: Path) -> None:
    text = (
        "order,sku,qty,date,unit_price,customer\n"
        "A1,S1,1,2011-01-04 10:00,-11062.06,\n"
        "1,S1,2,2011-01-04 10:00,5.0,17850.0\n"
    )
    result = ingest_file(write(tmp_path, "adj.csv", text))
    assert result.events.get_column("user_id").to_list() == ["17850"]
    assert result.anonymous.get_column("event_type").cast(pl.String).to_list() == ["other"]
    assert result.report["revenue_total"] == pytest.approx(10.0 - 11062.06)


def test_bad_value_after_the_sample_falls_back_to_text_scan(tmp_path: Path) -> None:
    """Numbers are parsed while scanning when the sample is clean; a later bad value still
    becomes a reject with its line, not an error and not a silent null."""
    rows = [f"u{i},buy,{1511544070 + i},1.5" for i in range(1500)]
    rows[1400] = "u1400,buy,1511545470,N/A"
    rows[1450] = "u1450,buy,soon,2"
    path = write(tmp_path, "late.csv", "user,event,ts,price\n" + "\n".join(rows) + "\n")
    result = ingest_file(path)
    assert result.rejects.select("line", "reason").rows() == [
        (1402, "unreadable price"),
        (1452, "unreadable time"),
    ]
    assert result.report["rows_accepted"] == 1498
    assert result.report["revenue_total"] == pytest.approx(1498 * 1.5)
