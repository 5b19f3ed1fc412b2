"""Small files in the layouts of well-known public e-commerce data sets and shop-system exports,
written by the tests (nothing downloaded). Each writer returns the path and its planted truth.

- ``rees46``: a multi-category store's event log (UTC-suffixed times, a 19-digit category id
  beside a readable category path, brand, session), as CSV or JSON lines;
- ``retailrocket``: item views, add-to-carts and transactions with epoch milliseconds;
- ``instacart``: grocery orders with "days since prior order" instead of dates;
- ``shopify``: a shop system's orders export (order names like #1001, times with an offset);
- ``tmall``: a Taobao/Tmall-style log in GBK with Chinese headers and Chinese dates;
- ``windows1252``: a German shop's orders in Windows-1252 (umlauts, ';' and decimal commas);
- ``shoppers``: anonymous sessions without customer id or time (UCI online shoppers).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass(frozen=True)
class Planted:
    path: Path
    rows: int  # data rows written
    bad_rows: int  # rows planted to be rejected
    users: int  # distinct customers among the accepted rows
    first_event: datetime | None = None  # UTC


_CATEGORIES = (
    (2053013555631882655, "electronics.smartphone"),
    (2053013554658804075, "electronics.audio.headphone"),
    (2053013563810775923, "appliances.kitchen.washer"),
    (2053013565983425517, "apparel.shoes"),
)
_BRANDS = ("samsung", "apple", "xiaomi", "bosch", None)
_KINDS = ("view", "view", "view", "cart", "purchase")


def rees46(folder: Path, *, jsonl: bool = False, rows: int = 300) -> Planted:
    """REES46 layout; one row with a broken time is planted (the last)."""
    rng = random.Random(46)
    start = datetime(2019, 10, 1, tzinfo=UTC)
    records = []
    for i in range(rows):
        category_id, code = rng.choice(_CATEGORIES)
        when = start + timedelta(minutes=7 * i)
        records.append(
            {
                "event_time": when.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "event_type": rng.choice(_KINDS),
                "product_id": 1000000 + rng.randrange(80),
                "category_id": category_id,
                "category_code": code if rng.random() > 0.1 else None,
                "brand": rng.choice(_BRANDS),
                "price": round(rng.uniform(5, 900), 2),
                "user_id": 512000000 + i % 60,
                "user_session": f"{i // 5:08x}-72e1-4ac3-b2c4-{i % 60:012x}",
            }
        )
    records[-1]["event_time"] = "not a time UTC"
    path = folder / ("rees46.jsonl" if jsonl else "rees46.csv")
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        header = list(records[0])
        lines = [",".join(header)]
        for r in records:
            lines.append(",".join("" if r[k] is None else str(r[k]) for k in header))
        path.write_text("\n".join(lines) + "\n")
    return Planted(path, rows, 1, 60, start)


def retailrocket(folder: Path, rows: int = 400) -> Planted:
    """RetailRocket events.csv: timestamp (epoch ms), visitorid, event, itemid, transactionid."""
    rng = random.Random(7)
    start_ms = 1433221332117  # 2015-06-02 05:02:12.117 UTC
    lines = ["timestamp,visitorid,event,itemid,transactionid"]
    for i in range(rows):
        event = rng.choice(("view", "view", "addtocart", "transaction"))
        transaction = str(4000 + i) if event == "transaction" else ""
        visitor = 257597 + i % 90
        lines.append(f"{start_ms + i * 61_000},{visitor},{event},{355908 + i % 40},{transaction}")
    path = folder / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    first = datetime(2015, 6, 2, 5, 2, 12, 117000, tzinfo=UTC)
    return Planted(path, rows, 0, 90, first)


def instacart(folder: Path, rows: int = 200) -> Planted:
    """Instacart orders.csv: the order's weekday, hour and days since the prior one; no date."""
    rng = random.Random(3)
    lines = [
        "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order"
    ]
    for i in range(rows):
        user, number = 1 + i // 10, 1 + i % 10
        gap = "" if number == 1 else f"{rng.randrange(1, 31)}.0"
        lines.append(
            f"{2539329 + i},{user},prior,{number},{rng.randrange(7)},{rng.randrange(24)},{gap}"
        )
    path = folder / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    return Planted(path, rows, 0, rows // 10)


def shopify(folder: Path, orders: int = 40) -> Planted:
    """A Shopify orders export: one line per line item; 'Name' is the order (#1001)."""
    rng = random.Random(11)
    lines = [
        "Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,"
        "Lineitem price,Lineitem sku,Accepts Marketing"
    ]
    rows = 0
    for k in range(orders):
        email = f"buyer{k % 15}@example.com"
        when = datetime(2024, 3, 5, 14, 22, 10) + timedelta(hours=5 * k)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S +0100")
        for _ in range(1 + k % 3):
            sku = rng.randrange(6)
            lines.append(
                f"#{1001 + k},{email},paid,{stamp},{1 + rng.randrange(3)},Mug {sku},"
                f"{12 + sku}.50,MUG-{sku},{'yes' if k % 2 else 'no'}"
            )
            rows += 1
    path = folder / "orders_export.csv"
    path.write_text("\n".join(lines) + "\n")
    return Planted(path, rows, 0, 15, datetime(2024, 3, 5, 13, 22, 10, tzinfo=UTC))


def tmall(folder: Path, rows: int = 240) -> Planted:
    """A Tmall/Taobao-style log in GBK: Chinese headers, behaviours and dates (8时5分)."""
    rng = random.Random(5)
    lines = ["用户ID,商品ID,类目ID,行为类型,时间,品牌"]
    for i in range(rows):
        day, hour, minute = 1 + i % 9, i % 24, i % 60
        kind = rng.choice(("浏览", "浏览", "加购", "收藏", "购买"))
        lines.append(
            f"{10000 + i % 60},{500 + i % 25},{7 + i % 4},{kind},"
            f"2019年10月{day}日 {hour}时{minute}分,{('小米', '华为', '李宁')[i % 3]}"
        )
    path = folder / "tmall.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    return Planted(path, rows, 0, 60, datetime(2019, 10, 1, 0, 0, tzinfo=UTC))


def windows1252(folder: Path, rows: int = 120) -> Planted:
    """A German shop's orders in Windows-1252: umlauts, ';', decimal commas, day.month dates."""
    names = ("Müller", "Schäfer", "Größe", "Köhler", "Weiß", "Jürgens")
    lines = ["Kundennummer;Kundenname;Stadt;Bestelldatum;Artikel;Menge;Preis"]
    for i in range(rows):
        day = 1 + i % 28  # days over 12 settle day/month order
        lines.append(
            f"K{100 + i % 24};{names[i % 6]};Köln;{day:02d}.10.2019 14:05;"
            f"Kaffeebohnen {i % 5};{1 + i % 3};{4 + i % 5},50 €"
        )
    path = folder / "bestellungen.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    return Planted(path, rows, 0, 24, datetime(2019, 10, 1, 14, 5, tzinfo=UTC))


def shoppers(folder: Path, rows: int = 300) -> Planted:
    """UCI online shoppers: one anonymous session a row; no customer id, no time."""
    rng = random.Random(1)
    header = (
        "Administrative,Administrative_Duration,Informational,Informational_Duration,"
        "ProductRelated,ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,"
        "Month,OperatingSystems,Browser,Region,TrafficType,VisitorType,Weekend,Revenue"
    )
    lines = [header]
    for _ in range(rows):
        related = rng.randrange(0, 700)
        lines.append(
            f"{rng.randrange(0, 27)},{rng.uniform(0, 3000):.3f},{rng.randrange(0, 24)},"
            f"{rng.uniform(0, 2500):.3f},{related},{related * rng.uniform(10, 60):.3f},"
            f"{rng.uniform(0, 0.2):.5f},{rng.uniform(0, 0.2):.5f},{rng.uniform(0, 360):.4f},"
            f"{rng.choice((0, 0.2, 0.4, 0.6, 0.8, 1))},{rng.choice(('Feb', 'Mar', 'May', 'Nov'))},"
            f"{rng.randrange(1, 9)},{rng.randrange(1, 14)},{rng.randrange(1, 10)},"
            f"{rng.randrange(1, 21)},"
            f"{rng.choice(('Returning_Visitor', 'New_Visitor', 'Other'))},"
            f"{rng.choice(('TRUE', 'FALSE'))},{rng.choice(('TRUE', 'FALSE'))}"
        )
    path = folder / "online_shoppers_intention.csv"
    path.write_text("\n".join(lines) + "\n")
    return Planted(path, rows, 0, 0)
