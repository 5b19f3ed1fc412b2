"""Raw benchmark files as canonical events (the bench's own readers until ingest is used)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TIME = pl.Datetime("us", "UTC")


def cdnow(path: Path = DATA / "cdnow" / "CDNOW_master.txt") -> pl.DataFrame:
    """CDNOW order lines: customer, YYYYMMDD, units, dollars → purchase events."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r[0].isdigit()]
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "day": [r[-3] for r in rows],
            "quantity": [float(r[-2]) for r in rows],
            "revenue": [float(r[-1]) for r in rows],
        }
    ).select(
        "user_id",
        pl.col("day").str.strptime(TIME, "%Y%m%d").alias("event_time"),
        pl.lit("purchase").alias("event_type"),
        pl.lit(None, pl.String).alias("item_id"),
        pl.lit(None, pl.String).alias("category"),
        "quantity",
        (pl.col("revenue") / pl.col("quantity").clip(lower_bound=1)).alias("price"),
        "revenue",
        pl.lit(None, pl.String).alias("order_id"),
    )


def online_retail(path: Path = DATA / "online_retail" / "online_retail.parquet") -> pl.DataFrame:
    """UCI Online Retail invoice lines: cancellations become refunds; no customer id dropped."""
    df = pl.read_parquet(path)
    return df.filter(pl.col("CustomerID").is_not_null() & (pl.col("UnitPrice") > 0)).select(
        pl.col("CustomerID").cast(pl.Int64).cast(pl.String).alias("user_id"),
        pl.col("InvoiceDate")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .alias("event_time"),
        pl.when(pl.col("InvoiceNo").cast(pl.String).str.starts_with("C"))
        .then(pl.lit("refund"))
        .otherwise(pl.lit("purchase"))
        .alias("event_type"),
        pl.col("StockCode").cast(pl.String).alias("item_id"),
        pl.lit(None, pl.String).alias("category"),
        pl.col("Quantity").cast(pl.Float64).abs().alias("quantity"),
        pl.col("UnitPrice").cast(pl.Float64).alias("price"),
        (pl.col("Quantity").abs() * pl.col("UnitPrice")).cast(pl.Float64).alias("revenue"),
        pl.col("InvoiceNo").cast(pl.String).alias("order_id"),
    )


def taobao(path: Path = DATA / "taobao" / "taobao_users_head.csv") -> pl.DataFrame:
    """Taobao UserBehavior: pv/cart/fav/buy with epoch seconds."""
    kinds = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"}
    df = pl.read_csv(
        path,
        schema_overrides={"user_id": pl.String, "item_id": pl.String, "category_id": pl.String},
    )
    return df.select(
        "user_id",
        pl.from_epoch("timestamp", time_unit="s").dt.replace_time_zone("UTC").alias("event_time"),
        pl.col("behavior_type").replace_strict(kinds, default="other").alias("event_type"),
        "item_id",
        pl.col("category_id").alias("category"),
        pl.lit(1.0).alias("quantity"),
        pl.lit(None, pl.Float64).alias("price"),
        pl.lit(None, pl.Float64).alias("revenue"),
        pl.lit(None, pl.String).alias("order_id"),
    )
