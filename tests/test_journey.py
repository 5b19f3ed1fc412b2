"""The whole journey on an uploaded order log, through the services the Data, Segments,
Predictions and Campaigns pages and the CLI call: ingest -> attach users (consent as yes/no) ->
segment -> train purchase -> simulate -> export. Only consented customers may be listed."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from analytics.core.artifacts import USERS
from analytics.core.workspace import Workspace
from analytics.ingest.service import attach_table, ingest_path
from models.campaigns.audience import AudienceSpec
from models.campaigns.export import ExportSpec
from models.campaigns.service import export_campaign, save_campaign, simulate
from models.campaigns.simulation import CampaignSpec
from models.predict.service import TrainSpec, train_predictor
from models.segments.service import SegmentSpec, run_segmentation

CUSTOMERS = 300
START = date(2025, 1, 1)
DAYS = 120


def _order_log(path: Path, seed: int = 3) -> dict[str, str]:
    """Order lines of a shop: a third of the customers are planted repeat buyers (an order every
    ~10 days), the rest buy once or twice. Returns each customer's consent answer (yes/no)."""
    rng = random.Random(seed)
    lines, consent = ["Invoice,Customer,Date,SKU,Qty,Price"], {}
    invoice = 1000
    for n in range(CUSTOMERS):
        customer = f"C{n:04d}"
        consent[customer] = "yes" if rng.random() < 0.6 else "no"
        repeat = n % 3 == 0
        days = range(rng.randrange(10), DAYS, 8 + rng.randrange(5)) if repeat else (
            sorted(rng.sample(range(DAYS), 1 + rng.randrange(2)))
        )  # fmt: skip
        for day in days:
            invoice += 1
            when = START + timedelta(days=day)
            for _ in range(1 + rng.randrange(3)):
                sku, qty = f"S{rng.randrange(25):02d}", 1 + rng.randrange(3)
                price = rng.choice(["4.50", "9.99", "19.00"])
                lines.append(
                    f"{invoice},{customer},{when} 1{rng.randrange(10)}:00,{sku},{qty},{price}"
                )
    path.write_text("\n".join(lines) + "\n")
    return consent


def test_uploaded_order_log_to_a_consented_campaign_list(
    workspace: Workspace, tmp_path: Path
) -> None:
    consent = _order_log(tmp_path / "orders.csv")
    ingested = ingest_path(workspace, tmp_path / "orders.csv", name="shop")
    assert ingested["shape"] == "transactions" and ingested["users"] == CUSTOMERS

    crm = tmp_path / "customers.csv"
    rows = [f"{c},{c.lower()}@shop.test,{answer}" for c, answer in consent.items()]
    crm.write_text("Customer,Email,Newsletter\n" + "\n".join(rows) + "\nC9999,x@y.z,yes\n")
    attached = attach_table(workspace, "shop", USERS, crm)
    assert (attached.matched_users, attached.unmatched_ids) == (CUSTOMERS, 1)
    assert attached.mapping["consent_email"] == "Newsletter"

    segments = run_segmentation(
        workspace, "shop", SegmentSpec(k=4, dims=8, epochs=2, map_sample=500, map_epochs=20)
    )
    assert segments.segments.height > 0
    trained = train_predictor(
        workspace, "shop", TrainSpec(target="purchase", n_estimators=40, sequence=False)
    )
    assert trained.model_id

    spec = CampaignSpec(name="spring", audience=AudienceSpec(), effect_source="assumed",
                        depth_pct=80, draws=100, holdout_pct=10)  # fmt: skip
    result = simulate(workspace, "shop", spec)
    assert result.summary()["contacts"] > 0
    save_campaign(workspace, "shop", result)
    out = tmp_path / "list.csv"
    exported = export_campaign(workspace, "shop", ExportSpec(campaign_name="spring"), out=out)
    listed = pl.read_csv(out, schema_overrides={"user_id": pl.String})
    assert exported.rows == listed.height > 0
    assert all(consent[u] == "yes" for u in listed["user_id"])  # only consented customers
    assert set(listed["email"]) <= {f"{u.lower()}@shop.test" for u in listed["user_id"]}
