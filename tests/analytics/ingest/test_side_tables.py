"""Side tables: users (consent in any spelling, contact columns) and exposures attach to a dataset;
unmatched ids are kept, counted and listed; multi-file shop layouts (Olist, dunnhumby)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics.core.artifacts import EXPOSURES, USERS, side_rejects
from analytics.core.errors import MappingError
from analytics.core.workspace import Workspace
from analytics.ingest.service import (
    attach_table,
    ingest_path,
    propose_side_mapping,
    side_table_facts,
)
from tests.analytics.ingest.shop_files import write_dunnhumby, write_olist

ORDERS = (
    "order_id,customer,order_date,sku,qty,price\n"
    "1,c1,2024-01-02,A,1,10\n2,c2,2024-01-03,B,2,5\n3,c3,2024-01-04,A,1,10\n"
)


@pytest.fixture
def shop(workspace: Workspace, tmp_path: Path) -> Workspace:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    ingest_path(workspace, path, name="shop")
    return workspace


def test_shop_system_customers_export(shop: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "customers_export.csv"
    path.write_text(
        "Customer ID,First Name,Email,Accepts Email Marketing,Default Address Country Code,Phone\n"
        "c1,Ann,ann@x.com,yes,DE,+49 1\n"
        "c2,Bo,bo@x.com,no,FR,\n"
        "c9,Cy,cy@x.com,Y,DE,\n"
        ",Dee,dee@x.com,yes,DE,\n"
        "c3,Ed,ed@x.com,perhaps,NL,\n"
    )
    out = attach_table(shop, "shop", USERS, path)
    assert (out.rows_read, out.rows_accepted, out.rows_rejected) == (5, 4, 1)
    assert out.rejected_by_reason == {"missing user id": 1}
    assert (out.matched_users, out.unmatched_ids, out.unmatched_sample) == (3, 1, ("c9",))
    assert out.consent_unread == 1  # "perhaps": unknown, never consent
    assert out.mapping == {
        "user_id": "Customer ID",
        "consent_email": "Accepts Email Marketing",
        "email": "Email",
        "phone": "Phone",
        "country": "Default Address Country Code",
    }
    users = shop.read_frame("shop", USERS).sort("user_id")
    assert users.schema["consent_email"] == pl.Boolean
    assert users.select("user_id", "consent_email", "country", "First Name").rows() == [
        ("c1", True, "DE", "Ann"),
        ("c2", False, "FR", "Bo"),
        ("c3", None, "NL", "Ed"),
        ("c9", True, "DE", "Cy"),  # unmatched: kept, not dropped
    ]
    assert shop.read_frame("shop", side_rejects(USERS)).get_column("line").to_list() == [5]
    summary = out.summary()
    assert summary["unmatched_ids"] == 1 and summary["matched_users"] == 3
    assert set(summary) >= {"dataset", "table", "rows_read", "rows_accepted", "rows_rejected"}


def test_chinese_consent_and_numeric_flags(shop: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "会员.csv"
    path.write_text("会员id,是否同意营销,邮箱\nc1,是,a@x.cn\nc2,否,b@x.cn\nc3,同意,c@x.cn\n")
    out = attach_table(shop, "shop", USERS, path)
    assert out.mapping["consent_email"] == "是否同意营销" and out.mapping["email"] == "邮箱"
    users = shop.read_frame("shop", USERS).sort("user_id")
    assert users.get_column("consent_email").to_list() == [True, False, True]

    flags = tmp_path / "flags.csv"
    flags.write_text("user_id,email_opt_in\nc1,0\nc2,1\n")
    attach_table(shop, "shop", USERS, flags)  # new values win; c3 keeps its consent
    users = shop.read_frame("shop", USERS).sort("user_id")
    assert users.get_column("consent_email").to_list() == [False, True, True]
    assert users.get_column("email").to_list() == ["a@x.cn", "b@x.cn", "c@x.cn"]


def test_users_mapping_by_hand(shop: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("id,mail_ok,land\nc1,on,DE\nc2,off,FR\n")
    mapping = {"user_id": "id", "consent_email": "mail_ok", "country": "land"}
    out = attach_table(shop, "shop", USERS, path, mapping=mapping)
    assert out.mapping == mapping
    users = shop.read_frame("shop", USERS).sort("user_id")
    assert users.select("consent_email", "country").rows() == [(True, "DE"), (False, "FR")]
    with pytest.raises(MappingError, match="no column 'nope'"):
        attach_table(shop, "shop", USERS, path, mapping={"user_id": "id", "email": "nope"})
    with pytest.raises(MappingError, match="not a field of a users table"):
        attach_table(shop, "shop", USERS, path, mapping={"revenue": "land"})
    with pytest.raises(MappingError, match="'users' or 'exposures'"):
        attach_table(shop, "shop", "orders", path)


def test_exposures_many_campaigns(shop: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "sends.csv"
    path.write_text(
        "user_id,campaign,arm,event_time\n"
        "c1,spring,treatment,2024-01-10 09:00\nc2,spring,control,2024-01-10 09:00\n"
        "c1,summer,treatment,2024-02-10 09:00\nc7,summer,control,2024-02-10 09:00\n"
        "c3,summer,,2024-02-10 09:00\n"
    )
    proposal = propose_side_mapping(path, EXPOSURES)
    assert proposal.mapping == {
        "user_id": "user_id",
        "campaign": "campaign",
        "arm": "arm",
        "event_time": "event_time",
    }
    out = attach_table(shop, "shop", EXPOSURES, path)
    assert (out.rows_read, out.rows_accepted, out.rows_rejected) == (5, 4, 1)
    assert out.rejected_by_reason == {"missing arm": 1}
    assert (out.matched_users, out.unmatched_ids, out.unmatched_sample) == (2, 1, ("c7",))
    assert out.campaigns == ("spring", "summer")
    stored = shop.read_frame("shop", EXPOSURES)
    assert stored.columns == ["user_id", "campaign_id", "arm", "sent_time"]  # the campaigns code
    assert stored.row(0) == ("c1", "spring", "treatment", datetime(2024, 1, 10, 9, tzinfo=UTC))

    again = tmp_path / "spring.csv"
    again.write_text("user_id,campaign,arm,event_time\nc3,spring,treatment,2024-01-11\n")
    attach_table(shop, "shop", EXPOSURES, again)  # replaces spring, keeps summer
    stored = shop.read_frame("shop", EXPOSURES)
    assert sorted(stored.select("user_id", "campaign_id").rows()) == [
        ("c1", "summer"), ("c3", "spring"), ("c7", "summer")
    ]  # fmt: skip


def test_exposures_need_a_send_time(shop: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "sends.csv"
    path.write_text("user_id,campaign,arm\nc1,spring,treatment\n")
    with pytest.raises(MappingError, match="time the campaign was sent"):
        attach_table(shop, "shop", EXPOSURES, path)
    assert shop.read_frame("shop", EXPOSURES) is None


def test_olist_orders_and_customers(workspace: Workspace, tmp_path: Path) -> None:
    olist = write_olist(tmp_path)
    out = ingest_path(workspace, olist.orders, name="olist")
    assert out["shape"] == "transactions"
    assert out["mapping"]["user_id"] == "customer_id"
    assert out["mapping"]["event_time"] == "order_purchase_timestamp"
    assert (out["rows_read"], out["rows_accepted"], out["users"]) == (40, 40, olist.buyers)
    assert out["orders"] == olist.order_count

    attached = attach_table(workspace, "olist", USERS, olist.customers)
    assert attached.mapping["user_id"] == "customer_id"
    assert attached.rows_read == olist.customers_rows
    assert attached.rows_accepted + attached.rows_rejected == attached.rows_read
    assert attached.rows_rejected == 1
    assert attached.matched_users == olist.buyers
    assert attached.unmatched_sample == olist.never_ordered
    users = workspace.read_frame("olist", USERS)
    assert users.height == olist.buyers + len(olist.never_ordered)
    assert {"customer_unique_id", "customer_city", "customer_state"} <= set(users.columns)


def test_dunnhumby_households(workspace: Workspace, tmp_path: Path) -> None:
    dh = write_dunnhumby(tmp_path)
    out = ingest_path(workspace, dh.transactions, name="dh", shape="transactions",
                      mapping={"user_id": "household_key", "event_time": "DATE",
                               "order_id": "BASKET_ID", "item_id": "PRODUCT_ID",
                               "quantity": "QUANTITY", "revenue": "SALES_VALUE"})  # fmt: skip
    assert (out["rows_read"], out["rows_accepted"], out["users"]) == (dh.lines, dh.lines, 12)

    demo = attach_table(workspace, "dh", USERS, dh.demographics)
    assert demo.mapping["user_id"] == "household_key"
    assert (demo.rows_read, demo.rows_accepted) == (dh.demographics_rows, dh.demographics_rows)
    assert (demo.matched_users, demo.unmatched_sample) == (6, dh.unknown_households)
    users = workspace.read_frame("dh", USERS).sort("user_id")
    assert users.filter(pl.col("user_id") == "3")["AGE_DESC"].item() == "25-34"

    with pytest.raises(MappingError, match="time the campaign was sent"):  # who, not when
        attach_table(workspace, "dh", EXPOSURES, dh.campaigns)
    sends = attach_table(workspace, "dh", EXPOSURES, dh.campaign_sends,
                         mapping={"campaign": "CAMPAIGN", "event_time": "START_DATE"})  # fmt: skip
    assert (sends.rows_read, sends.rows_accepted, sends.rows_rejected) == (10, 10, 0)
    assert sends.campaigns == ("13", "8")
    assert (sends.matched_users, sends.unmatched_sample) == (9, dh.unknown_households)
    facts = {f.table: f for f in side_table_facts(workspace, "dh")}
    assert facts[USERS].rows == 7 and facts[USERS].consent is None
    assert (facts[EXPOSURES].rows, facts[EXPOSURES].campaigns) == (10, ("13", "8"))
    stored = workspace.read_frame("dh", EXPOSURES)
    arms = stored.group_by("campaign_id", "arm").len().sort("campaign_id", "arm").rows()
    assert arms == [("13", "control", 2), ("13", "treatment", 4), ("8", "control", 2),
                    ("8", "treatment", 2)]  # fmt: skip
