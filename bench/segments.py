"""Learned segments vs the classic peer, side by side in one run.

    .venv/bin/python bench/segments.py [--workspace DIR] [--users 20000] [--seed 7] [--skip-retail]

For the demo store (generated if the workspace lacks it) and for Online Retail (ingested from
../shared/data if present; segments at cutoff 2011-09-09, revenue over the next 91 days) it prints:

- ``seconds`` (wall) and ``cpu_seconds`` (this process's CPU time, all threads) of the whole segment
  step (features, embeddings, map, clustering, profiles), per step too, and the load average
  (wall time on a shared machine measures contention; the target is under 90 s on 2 cores);
- ``ari_vs_truth`` (demo only): adjusted Rand index against the planted user types;
- ``eta2``: share of the variance of log(1 + next-period revenue) explained by the learned segments,
  and ``eta2_peer``: the same for k-means on standardised log recency, frequency and monetary value
  with the same number of groups; ``eta2_ratio`` = learned / peer (target ≥ 1.2);
- the peer's eta² for 6 to 8 groups, for reference;
- ``targets``: the figures the issue names (demo ARI, both eta² ratios, demo seconds) together.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

# run as a script, sys.path[0] is bench/, where this very file would shadow umap-learn
sys.path[0] = str(Path(__file__).resolve().parents[1])

from analytics.core.artifacts import FUTURE, RFM  # noqa: E402
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, REVENUE, USER_ID  # noqa: E402
from analytics.core.workspace import Workspace  # noqa: E402
from analytics.features.user_features import to_utc  # noqa: E402
from models.segments.service import SegmentSpec, ari_vs_truth, run_segmentation  # noqa: E402

RETAIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail"
RETAIL_CUTOFF = date(2011, 9, 9)
RETAIL_HORIZON_DAYS = 91


def eta_squared(y: np.ndarray, groups: np.ndarray) -> float:
    """Between-group share of the total sum of squares of ``y``."""
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = sum(
        float((groups == g).sum()) * (float(y[groups == g].mean()) - float(y.mean())) ** 2
        for g in np.unique(groups)
    )
    return between / total


def peer_groups(rfm: pl.DataFrame, k: int, seed: int = 0) -> np.ndarray:
    """k-means on standardised log(1 + recency), log(1 + frequency), log(1 + monetary)."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    x = np.column_stack(
        [
            np.log1p(rfm["recency_days"].to_numpy().astype(float)),
            np.log1p(rfm["frequency"].to_numpy().astype(float)),
            np.log1p(np.clip(rfm["monetary"].to_numpy().astype(float), 0, None)),
        ]
    )
    return KMeans(k, n_init=10, random_state=seed).fit_predict(StandardScaler().fit_transform(x))


def future_log_revenue(users: pl.Series, future: pl.DataFrame) -> np.ndarray:
    """log(1 + net revenue) per user in ``future`` (purchases minus refunds, floored at 0)."""
    spend = (
        future.filter(pl.col(EVENT_TYPE).cast(pl.String).is_in(["purchase", "refund"]))
        .group_by(USER_ID)
        .agg(pl.col(REVENUE).sum().alias("spend"))
    )
    joined = users.to_frame().join(spend, on=USER_ID, how="left").fill_null(0.0)
    return np.log1p(joined["spend"].clip(lower_bound=0.0).to_numpy())


def compare(ws: Workspace, dataset: str, future: pl.DataFrame, spec: SegmentSpec) -> dict:
    result = run_segmentation(ws, dataset, spec, progress=_progress)
    seg = result.segments
    rfm = ws.read_frame(dataset, RFM)
    assert rfm is not None
    rfm = seg.select(USER_ID).join(rfm, on=USER_ID, how="left")  # same users, same order
    y = future_log_revenue(seg[USER_ID], future)
    learned = eta_squared(y, seg["segment"].to_numpy())
    peer = eta_squared(y, peer_groups(rfm, result.k))
    out = {
        "n_users": result.n_users,
        "k": result.k,
        "segments": [p.name for p in result.profiles],
        "seconds": round(result.seconds, 1),
        "timings": {k: round(v, 1) for k, v in result.timings.items()},
        "cpu_seconds": round(sum(result.cpu_timings.values()), 1),
        "cpu_timings": {k: round(v, 1) for k, v in result.cpu_timings.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "device": result.device,
        "trustworthiness": round(result.trustworthiness, 4),
        "eta2": round(learned, 4),
        "eta2_peer": round(peer, 4),
        "eta2_ratio": round(learned / peer, 3) if peer else None,
        "eta2_peer_6_to_8": {k: round(eta_squared(y, peer_groups(rfm, k)), 4) for k in (6, 7, 8)},
    }
    ari = ari_vs_truth(ws, dataset, seg)
    if ari is not None:
        out["ari_vs_truth"] = round(ari, 4)
    return out


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def demo_bench(ws: Workspace, users: int, spec: SegmentSpec) -> dict:
    from analytics.demo.service import load_demo

    if not ws.has_dataset("demo"):
        load_demo(ws, users=users, seed=7, progress=_progress)
    future = ws.read_frame("demo", FUTURE)
    assert future is not None, "the demo store keeps its simulated future as artifact 'future'"
    return compare(ws, "demo", future, spec)


def retail_bench(ws: Workspace, spec: SegmentSpec) -> dict | None:
    path = RETAIL / "online_retail.parquet"
    if not path.exists():
        return None
    if not ws.has_dataset("online_retail"):
        from analytics.ingest.service import ingest_path

        ingest_path(ws, path, name="online_retail", progress=_progress)
    start = to_utc(RETAIL_CUTOFF)
    end = start + timedelta(days=RETAIL_HORIZON_DAYS)
    future = (
        ws.events("online_retail")
        .filter((pl.col(EVENT_TIME) > start) & (pl.col(EVENT_TIME) <= end))
        .collect()
    )
    return compare(
        ws, "online_retail", future, SegmentSpec(**{**spec.__dict__, "cutoff": RETAIL_CUTOFF})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, default=None)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7, help="seed of the segment step")
    parser.add_argument("--skip-retail", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    ws = Workspace(args.workspace or Path(tempfile.mkdtemp(prefix="bench_segments_")))
    spec = SegmentSpec(k=args.k, seed=args.seed)
    out: dict[str, object] = {"workspace": str(ws.root), "seed": args.seed}
    if not args.skip_demo:
        out["demo"] = demo_bench(ws, args.users, spec)
        print(json.dumps(out), file=sys.stderr, flush=True)
    if not args.skip_retail:
        out["online_retail"] = retail_bench(ws, spec)
    out["targets"] = _targets(out)
    print(json.dumps(out, indent=1))


def _targets(out: dict[str, object]) -> dict[str, object]:
    """The issue's targets in one place: figure, target, met."""
    rows: dict[str, object] = {}
    demo, retail = out.get("demo"), out.get("online_retail")
    if isinstance(demo, dict):
        rows["demo_ari_vs_truth"] = [demo.get("ari_vs_truth"), ">= 0.8"]
        rows["demo_eta2_ratio"] = [demo["eta2_ratio"], ">= 1.2", f"k={demo['k']}"]
        rows["demo_seconds"] = [demo["seconds"], "< 90", f"cpu {demo['cpu_seconds']}"]
    if isinstance(retail, dict):
        rows["online_retail_eta2_ratio"] = [retail["eta2_ratio"], ">= 1.2", f"k={retail['k']}"]
    return rows


if __name__ == "__main__":
    main()
