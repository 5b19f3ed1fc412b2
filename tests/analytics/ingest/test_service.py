"""The datasets service: ingest into the workspace, summaries, side tables, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics.core.errors import DatasetNotFound, MappingError, SpecError
from analytics.core.workspace import Workspace
from analytics.ingest.service import (
    attach_table,
    dataset_name_for,
    detect,
    events_per_day,
    ingest_path,
    rejects_csv,
    table_preview,
)

ORDERS = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,A,HOLDER,6,2010-12-01 08:26:00,2.50,17850,UK\n"
    "C536379,A,HOLDER,-1,2010-12-01 09:41:00,2.50,17850,UK\n"
    "536380,B,CLOCK,4,2010-12-01 09:45:00,3.75,,UK\n"
    "536381,B,CLOCK,2,2010-12-02 09:46:00,3.75,13047,France\n"
    "536382,B,CLOCK,two,2010-12-02 09:46:00,3.75,13047,France\n"
)


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "Online Retail (copy).csv"
    path.write_text(ORDERS)
    return path


def test_ingest_path_persists_frames_report_and_mapping(workspace: Workspace, orders: Path) -> None:
    seen: list[float] = []
    out = ingest_path(workspace, orders, progress=lambda f, _m: seen.append(f))
    assert out["dataset"] == "Online_Retail_copy"
    assert out["shape"] == "transactions"
    assert (out["rows_read"], out["rows_accepted"], out["rows_rejected"]) == (5, 4, 1)
    assert out["rejected_by_reason"] == {"unreadable quantity": 1}
    assert out["rows_without_user"] == 1 and out["users"] == 2
    assert out["events_by_type"] == {"purchase": 3, "refund": 1}
    assert out["revenue_total"] == pytest.approx(15 - 2.5 + 15 + 7.5)
    assert out["first_event"].startswith("2010-12-01T08:26")
    assert seen[-1] == 1.0 and seen == sorted(seen)

    info = workspace.dataset("Online_Retail_copy")
    assert info.mapping["user_id"] == "CustomerID" and info.report["rows_read"] == 5
    assert info.report["detection"]["format"] == "csv"
    events = workspace.read_frame("Online_Retail_copy", "events")
    assert events.height == 3 and events.get_column("user_id").null_count() == 0
    assert workspace.read_frame("Online_Retail_copy", "anonymous_events").height == 1
    rejects = workspace.read_frame("Online_Retail_copy", "rejects")
    assert rejects.rows() == [
        (6, "unreadable quantity", "536382,B,CLOCK,two,2010-12-02 09:46:00,3.75,13047,France")
    ]
    items = workspace.read_frame("Online_Retail_copy", "items")
    assert items.get_column("item_id").to_list() == ["A", "B"]


def test_user_mapping_replaces_the_detected_one(workspace: Workspace, orders: Path) -> None:
    mapping = {"user_id": "Country", "event_time": "InvoiceDate"}
    out = ingest_path(workspace, orders, name="by_country", shape="events", mapping=mapping)
    assert out["shape"] == "events" and out["users"] == 2  # UK, France
    assert out["events_by_type"] == {"other": 5}
    assert workspace.dataset("by_country").mapping == mapping


def test_ingest_errors(workspace: Workspace, orders: Path) -> None:
    with pytest.raises(MappingError, match="no column 'Nope'"):
        ingest_path(workspace, orders, mapping={"user_id": "Nope", "event_time": "InvoiceDate"})
    with pytest.raises(SpecError):
        ingest_path(workspace, orders, name="bad name!")
    assert workspace.list_datasets() == []


def test_detect_and_names(orders: Path) -> None:
    detection = detect(orders)
    assert detection.shape == "transactions" and detection.mapping["order_id"] == "InvoiceNo"
    assert dataset_name_for("/x/UserBehavior.csv.gz") == "UserBehavior"
    assert dataset_name_for("/x/用户.csv") == "dataset"


def test_side_tables(workspace: Workspace, orders: Path, tmp_path: Path) -> None:
    ingest_path(workspace, orders, name="shop")
    exposures = tmp_path / "spring_mail.csv"
    exposures.write_text(
        "customer_id,group,sent_at\n17850,treatment,2011-01-05\n13047,control,2011-01-05\n,control,2011-01-05\n"
    )
    out = attach_table(workspace, "shop", "exposures", exposures)
    assert (out.rows_accepted, out.rows_rejected) == (2, 1)
    frame = workspace.read_frame("shop", "exposures")
    assert frame.columns == ["user_id", "campaign_id", "arm", "sent_time"]
    assert frame.get_column("campaign_id").to_list() == ["spring_mail"] * 2
    assert frame.get_column("arm").to_list() == ["treatment", "control"]

    users = tmp_path / "crm.csv"
    users.write_text("user_id,email,consent_email\n17850,a@x.com,true\n13047,b@x.com,false\n")
    attach_table(workspace, "shop", "users", users)
    table = workspace.read_frame("shop", "users").sort("user_id")
    assert table.get_column("consent_email").to_list() == [False, True]
    assert table.schema["consent_email"] == pl.Boolean

    with pytest.raises(DatasetNotFound):
        attach_table(workspace, "nope", "users", users)
    with pytest.raises(MappingError):
        attach_table(workspace, "shop", "exposures", users)


def test_what_the_data_page_reads(workspace: Workspace, orders: Path) -> None:
    ingest_path(workspace, orders, name="shop")
    assert table_preview(workspace, "shop", rows=2).height == 2
    assert table_preview(workspace, "shop", "users").is_empty()  # no such table
    per_day = events_per_day(workspace, "shop")
    assert per_day.rows() == [(date(2010, 12, 1), 2), (date(2010, 12, 2), 1)]  # customers only
    csv = rejects_csv(workspace, "shop").decode()
    assert csv.splitlines()[0] == "line,reason,raw" and "unreadable quantity" in csv
    assert rejects_csv(workspace, "shop", "rejects_users").decode() == "line,reason,raw\n"


def test_encoding_and_timezone_choices(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "kunden.csv"
    path.write_bytes(
        "user_id,event_time,event_type,item_id\n"
        "Müller,2024-03-01 08:00:00,view,Käse\nBöhm,2024-03-01 09:30:00,buy,Brötchen\n".encode(
            "cp1252"
        )
    )
    ingest_path(workspace, path, name="de", encoding="cp1252", timezone="Asia/Shanghai")
    events = workspace.read_frame("de", "events").sort("user_id")
    assert events["user_id"].to_list() == ["Böhm", "Müller"]
    assert events["item_id"].to_list() == ["Brötchen", "Käse"]
    assert events["event_time"].to_list()[1] == datetime(2024, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 +8


def test_attaching_changes_the_fingerprint(workspace: Workspace, orders: Path, tmp_path: Path):
    ingest_path(workspace, orders, name="shop")
    before = workspace.dataset("shop")
    users = tmp_path / "crm.csv"
    users.write_text("user_id,email\n17850,a@x.com\n")
    attach_table(workspace, "shop", "users", users)
    after = workspace.dataset("shop")
    assert after.fingerprint != before.fingerprint and after.report == before.report
    assert table_preview(workspace, "shop", "users")["email"].to_list() == ["a@x.com"]


def test_consent_from_the_orders_file_itself(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "orders_export.csv"
    path.write_text(
        "Name,Email,Created at,Lineitem sku,Lineitem quantity,Lineitem price,Accepts Marketing\n"
        "#1001,ann@x.com,2024-03-01 10:00:00,A,1,10.0,no\n"
        "#1002,bo@x.com,2024-03-02 10:00:00,B,1,5.0,yes\n"
        "#1003,ann@x.com,2024-03-05 10:00:00,A,2,10.0,yes\n"
        "#1004,bo@x.com,2024-03-06 10:00:00,B,1,5.0,\n"
        "#1005,cy@x.com,2024-03-07 10:00:00,B,1,5.0,maybe\n"
    )
    mapping = {"order_id": "Name", "user_id": "Email", "event_time": "Created at",
               "item_id": "Lineitem sku", "quantity": "Lineitem quantity",
               "price": "Lineitem price"}  # fmt: skip
    out = ingest_path(workspace, path, name="shopify", shape="transactions", mapping=mapping)
    assert out["consent_known"] == 2
    users = workspace.read_frame("shopify", "users").sort("user_id")
    # the latest readable answer wins: ann said no, then yes; bo's empty answer changes nothing
    assert users.rows() == [("ann@x.com", True), ("bo@x.com", True)]
