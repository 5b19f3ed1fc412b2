"""Ingest of the real datasets in ../shared/data against their published figures (SOURCE.txt)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from analytics.ingest.pipeline import detect_file, ingest_file

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not here"),
]


def test_online_retail() -> None:
    result = ingest_file(DATA / "online_retail" / "online_retail.parquet")
    r = result.report
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (541_909, 541_909, 0)
    assert r["rows_without_user"] == 135_080 and r["users"] == 4_372
    assert r["orders"] == 25_900 and r["cancelled_lines"] == 9_288
    assert r["quantity_total"] == 5_176_450
    # every cancellation line is a refund with negative revenue
    cancelled = result.events.filter(pl.col("order_id").str.starts_with("C"))
    anonymous = result.anonymous.filter(pl.col("order_id").str.starts_with("C"))
    assert cancelled.height + anonymous.height == 9_288
    assert (cancelled.get_column("event_type") == "refund").all()
    assert (cancelled.get_column("revenue") <= 0).all()
    assert r["first_event"] == "2010-12-01T08:26:00+00:00"
    assert r["last_event"] == "2011-12-09T12:50:00+00:00"


def test_cdnow_master() -> None:
    path = DATA / "cdnow" / "CDNOW_master.txt"
    detection = detect_file(path)
    assert detection.delimiter == " " and detection.shape == "transactions"
    assert detection.mapping == {
        "user_id": "customer_id",
        "event_time": "date",
        "quantity": "number_of_cds",
        "revenue": "dollar_value",
    }
    r = ingest_file(path).report
    assert (r["rows_read"], r["rows_rejected"], r["users"]) == (69_659, 0, 23_570)
    assert r["revenue_total"] == pytest.approx(2_500_315.63, abs=0.005)
    assert r["quantity_total"] == 167_881
    assert r["first_event"].startswith("1997-01-01") and r["last_event"].startswith("1998-06-30")


def test_cdnow_sample_without_header() -> None:
    path = DATA / "cdnow" / "CDNOW_sample.txt"
    detection = detect_file(path)
    assert not detection.has_header
    assert detection.mapping == {
        "user_id": "column_1",
        "event_time": "column_3",
        "quantity": "column_4",
        "revenue": "column_5",
    }
    r = ingest_file(path).report
    assert (r["rows_read"], r["rows_rejected"], r["users"]) == (6_919, 0, 2_357)


def test_taobao() -> None:
    path = DATA / "taobao" / "taobao_users_head.csv"
    detection = detect_file(path)
    assert detection.shape == "events"
    assert detection.mapping == {
        "user_id": "user_id",
        "item_id": "item_id",
        "category": "category_id",
        "event_type": "behavior_type",
        "event_time": "timestamp",
    }
    r = ingest_file(path).report
    assert (r["rows_read"], r["rows_rejected"], r["users"]) == (84_287, 0, 814)
    assert r["events_by_type"] == {"view": 75_693, "cart": 4_494, "fav": 2_351, "purchase": 1_749}
