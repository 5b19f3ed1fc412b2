"""AppTests of the app shell and the Data page: the numbers shown are the stored ones.

AppTest runs ``app.py`` (router + sidebar) only on an app's first run; later runs of the same
AppTest execute the page script alone, so sidebar checks look at the first run, and tests that
start from a page set the workspace and dataset in session state, as the sidebar would.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analytics.core.workspace import Workspace
from analytics.ingest.service import ingest_path
from tests.pages.apptest import metric, open_page
from ui import state

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TIMEOUT = 120

# day/month order unclear (03/04, 05/04), one unreadable date, one row without a user
SHOP_CSV = (
    "customer,date,action,product,amount\n"
    "A,03/04/2024,buy,p1,10.5\n"
    "B,05/04/2024,view,p2,\n"
    "A,06/04/2024,view,p3,\n"
    "C,not a date,view,p1,\n"
)


def run_app(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("AUDIENCELAB_WORKSPACE", str(ws.root))
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def run_page(ws: Workspace, dataset: str | None, tab: str | None = None) -> AppTest:
    session = {state.DATA_TAB: tab} if tab else {}
    return open_page("data", ws, dataset, timeout=TIMEOUT, **session)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="upload").set_value((name, content, "text/csv"))
    return at.run()


@pytest.fixture
def seeded(workspace: Workspace, tmp_path: Path) -> Workspace:
    """A workspace with one tiny dataset, so nothing builds the demo store."""
    seed = tmp_path / "seed.csv"
    seed.write_text("user_id,event_time,event_type\nu1,2024-01-02 10:00:00,view\n")
    ingest_path(workspace, seed, name="seed")
    return workspace


def test_data_page_shows_the_stored_ingest_report(demo_workspace, monkeypatch) -> None:
    at = run_app(demo_workspace, monkeypatch)
    assert not at.exception, at.exception
    report = demo_workspace.dataset("demo").report
    assert metric(at, "Rows read") == f"{report['rows_read']:,}"
    assert metric(at, "Rows accepted") == f"{report['rows_accepted']:,}"
    assert metric(at, "Rows rejected") == "0"
    assert metric(at, "Users") == f"{report['users']:,}"
    assert metric(at, "Revenue") == f"{report['revenue_total']:,.2f}"
    assert metric(at, "First event") == report["first_event"][:10]
    assert "Ingest report: demo" in [s.value for s in at.subheader]
    assert [s.value for s in at.success] == ["Every row was accepted."]
    # the sidebar picked the dataset and states its facts
    assert at.sidebar.selectbox[0].value == "demo"
    assert f"{report['users']:,} users" in at.sidebar.caption[0].value
    # events by type and events per day are drawn; the preview holds canonical columns
    assert len(at.get("plotly_chart")) == 2
    preview = at.dataframe[0].value
    assert {"user_id", "event_time", "event_type"} <= set(preview.columns)


def test_first_start_builds_a_demo_store_and_shows_it(workspace, monkeypatch) -> None:
    monkeypatch.setenv("AUDIENCELAB_DEMO_USERS", "300")
    at = run_app(workspace, monkeypatch)
    assert not at.exception, at.exception
    assert workspace.has_dataset("demo")
    report = workspace.dataset("demo").report
    assert metric(at, "Rows read") == f"{report['rows_read']:,}"
    assert at.sidebar.selectbox[0].value == "demo"


def test_upload_then_ingest_with_the_day_order_asked(seeded: Workspace) -> None:
    at = run_page(seeded, "seed", tab="Add data")
    at = upload(at, "My Shop.csv", SHOP_CSV.encode())
    assert not at.exception and not at.error, (at.exception, at.error)
    assert next(t for t in at.text_input if t.label == "Dataset name").value == "My_Shop"
    shown = {s.label.split(" ·")[0]: s.value for s in at.selectbox}
    assert shown["user_id"] == "customer" and shown["event_time"] == "date"
    assert button(at, "Ingest").disabled  # the day/month order must be answered first
    day_order = next(r for r in at.radio if r.label.startswith("The dates could be read"))
    day_order.set_value("day").run()
    button(at, "Ingest").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)

    report = seeded.dataset("My_Shop").report
    assert report["rows_read"] == 4
    assert at.session_state[state.DATASET] == "My_Shop"
    assert metric(at, "Rows read") == "4"
    assert metric(at, "Rows rejected") == f"{report['rows_rejected']:,}"
    assert metric(at, "First event") == "2024-04-03"  # 03/04 read day first
    assert "uploaded file My Shop.csv" in at.caption[0].value


def test_a_changed_mapping_is_the_one_ingested(seeded: Workspace) -> None:
    at = upload(run_page(seeded, "seed", tab="Add data"), "shop.csv", SHOP_CSV.encode())
    item = next(s for s in at.selectbox if s.label.startswith("item_id"))
    item.set_value("(not in the file)").run()
    next(r for r in at.radio if r.label.startswith("The dates")).set_value("month").run()
    button(at, "Ingest").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    mapping = seeded.dataset("shop").mapping
    assert "item_id" not in mapping and mapping["user_id"] == "customer"
    assert metric(at, "First event") == "2024-03-04"  # 03/04 read month first


def test_rejected_lines_can_be_downloaded(seeded: Workspace) -> None:
    at = upload(run_page(seeded, "seed", tab="Add data"), "shop.csv", SHOP_CSV.encode())
    next(r for r in at.radio if r.label.startswith("The dates")).set_value("day").run()
    button(at, "Ingest").click().run()
    rejects = seeded.read_frame("shop", "rejects")
    assert rejects is not None and rejects.height == seeded.dataset("shop").report["rows_rejected"]
    assert [d.label for d in at.get("download_button")] == ["Download the rejected lines (CSV)"]
    from ui.cache import rejects_csv

    info = seeded.dataset("shop")
    downloaded = pl.read_csv(io.BytesIO(rejects_csv(seeded, "shop", info.fingerprint)))
    assert downloaded["line"].to_list() == rejects["line"].to_list()


def test_a_file_that_is_not_data_shows_a_plain_error(seeded: Workspace) -> None:
    at = upload(run_page(seeded, "seed", tab="Add data"), "photo.csv", bytes(range(256)) * 64)
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "Traceback" not in at.error[0].value
    assert not [b for b in at.button if b.label == "Ingest"]


def test_delete_needs_confirmation_and_removes_the_dataset(seeded: Workspace) -> None:
    at = run_page(seeded, "seed", tab="Datasets")
    assert button(at, "Delete").disabled
    at.checkbox[0].check().run()
    button(at, "Delete").click().run()
    assert not at.exception, at.exception
    assert not seeded.has_dataset("seed")
    assert seeded.dataset_dir("seed").exists() is False
    assert any("Deleted 'seed'" in s.value for s in at.success)


def test_an_empty_workspace_says_where_to_start(workspace: Workspace) -> None:
    at = run_page(workspace, None)
    assert not at.exception, at.exception
    assert "Add data" in at.info[0].value


def test_a_customer_table_shows_its_customers(workspace: Workspace, tmp_path: Path) -> None:
    table = tmp_path / "crm.csv"
    table.write_text("customer_id,segment,spend\nc1,gold,120\nc2,silver,40\nc3,gold,300\n")
    ingest_path(workspace, table, name="crm", shape="customers")
    at = run_page(workspace, "crm")
    assert not at.exception and not at.error, (at.exception, at.error)
    assert metric(at, "Rows read") == "3"
    assert at.dataframe[0].value.shape[0] == 3
    assert "**Preview of the canonical customers**" in [m.value for m in at.markdown]


ORDERS_CSV = (
    "order_id,customer,order_date,sku,qty,price\n1,c1,2024-01-02,A,1,10\n2,c2,2024-01-03,B,2,5\n"
)
MORE_CSV = (
    "order_id,customer,order_date,sku,qty,price\n2,c2,2024-01-03,B,2,5\n3,c3,2024-01-05,A,1,10\n"
)


@pytest.fixture
def shop(workspace: Workspace, tmp_path: Path) -> Workspace:
    """A workspace with a two-order shop (customers c1, c2)."""
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    ingest_path(workspace, path, name="shop")
    return workspace


def choose(at: AppTest, action: str) -> AppTest:
    """Pick what the uploaded file is: ``new``, ``append``, ``users`` or ``exposures``."""
    return next(r for r in at.radio if r.label == "What is this file?").set_value(action).run()


def test_attach_a_users_table_shows_matches(shop: Workspace) -> None:
    at = upload(run_page(shop, "shop", tab="Add data"), "crm.csv",
                b"Customer ID,Email,Accepts Email Marketing\nc1,a@x.com,yes\nc2,b@x.com,no\n"
                b"c9,c@x.com,yes\n")  # fmt: skip
    at = choose(at, "users")
    shown = {s.label: s.value for s in at.selectbox}
    assert shown["user_id"] == "Customer ID"
    assert shown["consent_email"] == "Accepts Email Marketing" and shown["email"] == "Email"
    button(at, "Attach").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert metric(at, "Matched customers") == "2" and metric(at, "Unknown ids") == "1"
    assert "c9" in at.warning[0].value
    users = shop.read_frame("shop", "users").sort("user_id")
    assert users["consent_email"].to_list() == [True, False, True]
    report = run_page(shop, "shop")  # the report tab lists the attached table
    shown = [m.value for m in report.markdown if m.value.startswith("**users**")]
    assert shown == [
        "**users** · 3 rows · from crm.csv · 2 opted in, 1 opted out, 0 unknown (e-mail)"
    ]


def test_attach_exposures_needs_a_time_and_says_so(shop: Workspace) -> None:
    at = upload(run_page(shop, "shop", tab="Add data"), "sends.csv",
                b"customer,campaign,group\nc1,spring,treatment\nc2,spring,control\n")  # fmt: skip
    at = choose(at, "exposures")
    shown = {s.label: s.value for s in at.selectbox}
    assert shown["arm"] == "group" and shown["event_time"] == "(not in the file)"
    button(at, "Attach").click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "time the campaign was sent" in at.error[0].value
    assert shop.read_frame("shop", "exposures") is None


def test_add_to_this_dataset(shop: Workspace) -> None:
    shop.write_frame("shop", "segments", pl.DataFrame({"user_id": ["c1"], "segment": [0]}))
    at = upload(run_page(shop, "shop", tab="Add data"), "more.csv", MORE_CSV.encode())
    at = choose(at, "append")
    button(at, "Add to this dataset").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert "Added 1 rows to 'shop' (1 new customers; 1 rows were already there" in (
        at.success[0].value
    )
    assert metric(at, "Users") == "3" and metric(at, "Rows read") == "4"
    assert "Results made before" in at.info[0].value  # segments kept, marked stale
    assert shop.read_frame("shop", "segments") is not None


def test_an_unsure_encoding_can_be_chosen(seeded: Workspace) -> None:
    text = "user_id,event_time,event_type\nŁukasz,2024-03-01 08:00:00,view\n"
    at = upload(run_page(seeded, "seed", tab="Add data"), "pl.csv", text.encode("cp1250"))
    choice = next(s for s in at.selectbox if s.label.startswith("The text encoding"))
    assert choice.value == "cp1252"  # the detector's guess, which reads "£ukasz"
    choice.set_value("cp1250").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.dataframe[0].value.iloc[0, 0] == "Łukasz"
    button(at, "Ingest").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert seeded.read_frame("pl", "events")["user_id"].to_list() == ["Łukasz"]
