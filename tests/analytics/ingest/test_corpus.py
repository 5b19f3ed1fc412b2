"""Files in the layouts of well-known public e-commerce data sets and shop-system exports ingest
with the right shape, time column, category and counts (``corpus_files`` writes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics.core.errors import MappingError
from analytics.core.schema import Shape
from analytics.ingest.pipeline import detect_file, ingest_file, resolve_spec
from tests.analytics.ingest import corpus_files


def counts_add_up(report: dict) -> None:
    assert report["rows_accepted"] + report["rows_rejected"] == report["rows_read"]


@pytest.mark.parametrize("jsonl", [False, True])
def test_multi_category_store_event_log(tmp_path: Path, jsonl: bool) -> None:
    planted = corpus_files.rees46(tmp_path, jsonl=jsonl)
    detection = detect_file(planted.path)
    assert detection.shape == Shape.EVENTS
    assert detection.mapping["event_time"] == "event_time"
    assert detection.mapping["category"] == "category_code"  # readable, not the 19-digit id
    assert detection.mapping["brand"] == "brand"
    assert detection.mapping["session_id"] == "user_session"
    assert detection.mapping["user_id"] == "user_id"
    assert detection.time_zone == "UTC"
    result = ingest_file(planted.path, detection=detection)
    r = result.report
    counts_add_up(r)
    assert (r["rows_read"], r["rows_rejected"]) == (planted.rows, planted.bad_rows)
    assert r["rejected_by_reason"] == {"unreadable time": 1}
    assert r["users"] == planted.users
    assert r["first_event"] == planted.first_event.isoformat()
    assert r["time_zone"].startswith("UTC (written in the file)")
    events = result.events
    first = events.row(0, named=True)
    assert first["event_time"] == datetime(2019, 10, 1, tzinfo=UTC)
    # the path's top level is the category; the whole path is kept beside it
    paths = events.drop_nulls("category_path")
    assert set(paths.get_column("category").unique()) == {"electronics", "appliances", "apparel"}
    assert (
        paths.get_column("category_path").str.split(".").list.first()
        == paths.get_column("category")
    ).all()
    assert "category_id" in events.columns and "session_id" in events.columns
    assert (
        events.get_column("brand").drop_nulls().is_in(["samsung", "apple", "xiaomi", "bosch"]).all()
    )


def test_view_cart_transaction_log_with_epoch_milliseconds(tmp_path: Path) -> None:
    planted = corpus_files.retailrocket(tmp_path)
    detection = detect_file(planted.path)
    assert detection.shape == Shape.EVENTS
    assert detection.mapping == {
        "event_time": "timestamp",
        "event_type": "event",
        "item_id": "itemid",
        "user_id": "visitorid",
        "order_id": "transactionid",
    }
    assert detection.time_format == "epoch milliseconds"
    result = ingest_file(planted.path, detection=detection)
    counts_add_up(result.report)
    assert result.report["rows_read"] == planted.rows and result.report["users"] == planted.users
    assert result.events.get_column("event_time").min() == planted.first_event
    kinds = set(result.events.get_column("event_type").cast(pl.String).unique())
    assert kinds == {"view", "cart", "purchase"}


def test_grocery_orders_without_dates_say_what_is_missing(tmp_path: Path) -> None:
    planted = corpus_files.instacart(tmp_path)
    detection = detect_file(planted.path)
    assert detection.mapping == {"order_id": "order_id", "user_id": "user_id"}
    assert "event_time" not in detection.mapping
    assert detection.note is not None and "no date or time" in detection.note
    assert "days_since_prior_order" in detection.note
    with pytest.raises(MappingError, match="days_since_prior_order") as caught:
        ingest_file(planted.path, detection=detection)
    assert "customer ids but no date or time" in str(caught.value)


def test_shop_system_orders_export(tmp_path: Path) -> None:
    planted = corpus_files.shopify(tmp_path)
    detection = detect_file(planted.path)
    assert detection.shape == Shape.TRANSACTIONS
    assert detection.mapping == {
        "user_id": "Email",
        "event_time": "Created at",
        "order_id": "Name",
        "quantity": "Lineitem quantity",
        "item_name": "Lineitem name",
        "price": "Lineitem price",
        "item_id": "Lineitem sku",
    }
    assert detection.time_zone == "+0100"
    result = ingest_file(planted.path, detection=detection)
    r = result.report
    counts_add_up(r)
    assert (r["rows_read"], r["rows_rejected"], r["users"]) == (planted.rows, 0, planted.users)
    assert r["orders"] == 40
    first = result.events.row(0, named=True)
    assert first["event_time"] == planted.first_event  # 14:22:10 +0100 is 13:22:10 UTC
    assert first["order_id"] == "#1001"
    assert first["revenue"] == pytest.approx(first["quantity"] * first["price"])
    assert "Accepts Marketing" in result.events.columns


def test_tmall_log_in_gbk_with_chinese_headers(tmp_path: Path) -> None:
    planted = corpus_files.tmall(tmp_path)
    detection = detect_file(planted.path)
    assert detection.encoding == "gb18030" and not detection.encoding_unsure
    assert detection.shape == Shape.EVENTS
    assert detection.mapping["user_id"] == "用户ID"
    assert detection.mapping["event_time"] == "时间"
    assert detection.mapping["event_type"] == "行为类型"
    assert detection.mapping["brand"] == "品牌"
    result = ingest_file(planted.path, detection=detection)
    counts_add_up(result.report)
    assert result.report["rows_read"] == planted.rows
    assert result.report["users"] == planted.users
    # row 2: 2019年10月2日 1时1分, read as UTC (no zone written)
    assert result.events.row(1, named=True)["event_time"] == datetime(2019, 10, 2, 1, 1, tzinfo=UTC)
    kinds = set(result.events.get_column("event_type").cast(pl.String).unique())
    assert kinds == {"view", "cart", "fav", "purchase"}
    assert set(result.events.get_column("brand").unique()) == {"小米", "华为", "李宁"}


def test_windows_1252_orders_keep_their_umlauts(tmp_path: Path) -> None:
    planted = corpus_files.windows1252(tmp_path)
    detection = detect_file(planted.path)
    assert detection.encoding == "cp1252" and not detection.encoding_unsure
    assert detection.delimiter == ";"
    assert detection.mapping["event_time"] == "Bestelldatum"
    assert detection.mapping["price"] == "Preis"
    result = ingest_file(planted.path, detection=detection)
    counts_add_up(result.report)
    assert result.report["rows_read"] == planted.rows
    names = result.events.get_column("Kundenname").unique().sort().to_list()
    assert names == ["Größe", "Jürgens", "Köhler", "Müller", "Schäfer", "Weiß"]
    first = result.events.row(0, named=True)
    assert first["event_time"] == planted.first_event  # 01.10.2019 14:05, day first
    assert first["price"] == 4.5  # '4,50 €'


def test_anonymous_sessions_are_explained_not_given_a_label_as_customer(tmp_path: Path) -> None:
    planted = corpus_files.shoppers(tmp_path)
    detection = detect_file(planted.path)
    assert detection.shape == Shape.CUSTOMERS
    assert "user_id" not in detection.mapping  # VisitorType (3 values) is a label
    assert detection.note is not None and "no customer ids and no date or time" in detection.note
    with pytest.raises(MappingError) as caught:
        ingest_file(planted.path, resolve_spec(detection, shape=Shape.EVENTS))
    message = str(caught.value)
    assert "no customer ids and no date or time" in message and "customer table" in message
    result = ingest_file(planted.path, detection=detection)  # one row each, numbered
    counts_add_up(result.report)
    assert result.users is not None and result.users.height == planted.rows


def test_label_column_named_like_a_visitor_is_not_the_customer_id(tmp_path: Path) -> None:
    """'VisitorType' (3 values over 300 rows) is never the customer id: beside a real visitor
    id column that one is taken; alone, the file is explained as having no customer ids."""
    kinds = ("New_Visitor", "Returning_Visitor", "Other")
    rows = [f"{kinds[i % 3]},{i % 120},{1433221332 + i},view" for i in range(300)]
    path = tmp_path / "with_id.csv"
    path.write_text("VisitorType,visitorid,timestamp,event\n" + "\n".join(rows) + "\n")
    assert detect_file(path).mapping["user_id"] == "visitorid"
    alone = tmp_path / "without_id.csv"
    alone.write_text(
        "VisitorType,timestamp,event\n"
        + "\n".join(f"{kinds[i % 3]},{1433221332 + i},view" for i in range(300))
        + "\n"
    )
    detection = detect_file(alone)
    assert "user_id" not in detection.mapping
    with pytest.raises(MappingError, match="no customer id column"):
        ingest_file(alone, detection=detection)
