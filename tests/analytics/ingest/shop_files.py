"""Small files in the layouts of multi-file shops, written by the tests (nothing downloaded).

``olist``: an order marketplace split over customers / orders / order items files (the Olist
layout). ``dunnhumby``: household transactions with a demographics table and a campaigns table
(The Complete Journey layout; its ``DAY`` counts days from the study start, so a ``DATE`` column
is written beside it, as a shop's own export would carry the date).
Each writer returns the paths and the planted counts the tests assert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class Olist:
    orders: Path
    items: Path
    customers: Path
    order_count: int
    buyers: int  # distinct customer_id in the orders file
    customers_rows: int  # rows of the customers file (one has no id)
    never_ordered: tuple[str, ...]  # customer ids in the customers file with no order


def write_olist(folder: Path) -> Olist:
    """40 orders of 25 customers; a customers file with those 25, 3 who never ordered, 1 blank."""
    orders, items = [], []
    for i in range(40):
        day = date(2017, 10, 1) + timedelta(days=i % 28)
        orders.append(
            {
                "order_id": f"{i:04x}e481f51cbdc54678b7cc49136f2d",
                "customer_id": f"{i % 25:03d}9ef432eb6251297304e76186b10a928d",
                "order_status": "delivered",
                "order_purchase_timestamp": f"{day} 10:{i % 60:02d}:00",
                "order_approved_at": f"{day} 11:07:15",
                "order_delivered_customer_date": f"{day + timedelta(days=9)} 21:25:13",
                "order_estimated_delivery_date": f"{day + timedelta(days=15)} 00:00:00",
            }
        )
        items.append(
            {
                "order_id": orders[-1]["order_id"],
                "order_item_id": 1,
                "product_id": f"p{i % 6}",
                "seller_id": "s1",
                "price": 29.99 + i,
                "freight_value": 8.72,
            }
        )
    ids = [f"{i:03d}9ef432eb6251297304e76186b10a928d" for i in range(28)]
    customers = [
        {
            "customer_id": cid,
            "customer_unique_id": f"u{n:03d}",
            "customer_zip_code_prefix": f"{14409 + n:05d}",
            "customer_city": "franca" if n % 2 else "sao paulo",
            "customer_state": "SP",
        }
        for n, cid in enumerate(ids)
    ]
    customers.append(
        {
            "customer_id": None,
            "customer_unique_id": "u999",
            "customer_zip_code_prefix": "01151",
            "customer_city": "sao paulo",
            "customer_state": "SP",
        }
    )
    paths = (
        folder / "olist_orders_dataset.csv",
        folder / "olist_order_items_dataset.csv",
        folder / "olist_customers_dataset.csv",
    )
    for frame, path in zip((orders, items, customers), paths, strict=True):
        pl.DataFrame(frame).write_csv(path)
    return Olist(*paths, order_count=40, buyers=25, customers_rows=29,
                 never_ordered=tuple(ids[25:]))  # fmt: skip


@dataclass(frozen=True)
class Dunnhumby:
    transactions: Path
    demographics: Path
    campaigns: Path  # DESCRIPTION, household_key, CAMPAIGN: who got which campaign
    campaign_sends: Path  # the same with an arm and a send date, as a campaign tool exports
    households: int
    lines: int
    demographics_rows: int
    unknown_households: tuple[str, ...]  # in the demographics / campaigns, never in transactions


def write_dunnhumby(folder: Path) -> Dunnhumby:
    """60 lines of 12 households; demographics for 6 (+1 unknown); 2 campaigns over 10 sends."""
    start = date(2020, 1, 1)
    lines = [
        {
            "household_key": 1 + i % 12,
            "BASKET_ID": 26984851472 + i // 2,
            "DAY": 1 + i // 3,
            "DATE": str(start + timedelta(days=i // 3)),
            "PRODUCT_ID": 1004906 + i % 7,
            "QUANTITY": 1 + i % 3,
            "SALES_VALUE": round(1.5 + (i % 5) * 0.7, 2),
            "STORE_ID": 364,
            "RETAIL_DISC": -0.39,
            "TRANS_TIME": 1631,
            "WEEK_NO": 1 + i // 21,
        }
        for i in range(60)
    ]
    demographics = [
        {
            "AGE_DESC": ["25-34", "35-44", "45-54"][k % 3],
            "MARITAL_STATUS_CODE": "AB"[k % 2],
            "INCOME_DESC": "50-74K",
            "HOMEOWNER_DESC": "Homeowner",
            "HH_COMP_DESC": "2 Adults No Kids",
            "HOUSEHOLD_SIZE_DESC": str(1 + k % 3),
            "KID_CATEGORY_DESC": "None/Unknown",
            "household_key": k,
        }
        for k in (1, 3, 5, 7, 9, 11, 2500)
    ]
    arms = {8: ((1, "treatment"), (2, "treatment"), (3, "control"), (4, "control")),
            13: ((5, "treatment"), (6, "treatment"), (7, "control"), (8, "treatment"),
                 (9, "control"), (2500, "treatment"))}  # fmt: skip
    starts = {8: "2020-01-10", 13: "2020-01-15"}
    sends = [
        {"DESCRIPTION": "TypeA" if c == 8 else "TypeB", "household_key": k, "CAMPAIGN": c,
         "arm": arm, "START_DATE": starts[c]}
        for c, pairs in arms.items()
        for k, arm in pairs
    ]  # fmt: skip
    paths = (
        folder / "transaction_data.csv",
        folder / "hh_demographic.csv",
        folder / "campaign_table.csv",
        folder / "campaign_sends.csv",
    )
    plain = [{k: s[k] for k in ("DESCRIPTION", "household_key", "CAMPAIGN")} for s in sends]
    for frame, path in zip((lines, demographics, plain, sends), paths, strict=True):
        pl.DataFrame(frame).write_csv(path)
    return Dunnhumby(*paths, households=12, lines=60, demographics_rows=7,
                     unknown_households=("2500",))  # fmt: skip
