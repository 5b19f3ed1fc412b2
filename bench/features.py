"""User features, RFM and the Overview summary: how long they take, beside a plain pandas peer.

    .venv/bin/python bench/features.py [--users 20000] [--skip-real]

On the demo store (``--users`` customers, about 60 events each) and, when ``../shared/data`` is
there, on Online Retail, CDNOW and the Taobao sample, times:

- ``features``: ``analytics.features.user_features.build_user_features``
  (every column) at the default cutoff;
- ``rfm``: ``analytics.features.rfm.rfm_table``;
- ``overview``: ``analytics.overview.kpis.store_overview``
  (KPIs, trend, cohorts, funnel, RFM groups);
- ``pandas_peer``: a straightforward pandas groupby computing only the RFM core and the per-window
  event counts (a fraction of our columns), as a yardstick.

Wall and process CPU seconds are both printed (CPU counts all threads). Prints a table and writes
``bench/out/features.json``. Timings on a shared machine are inflated by contention.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from analytics.features.rfm import rfm_table  # noqa: E402
from analytics.features.user_features import build_user_features, default_cutoff  # noqa: E402
from analytics.overview.kpis import store_overview  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def pandas_peer(events: pl.DataFrame, cutoff: Any, windows: tuple[int, ...]) -> Any:
    """RFM core plus per-type counts in each window, written plainly with pandas."""
    df = events.filter(pl.col("event_time") <= cutoff).to_pandas()
    df["day"] = df["event_time"].dt.floor("D")
    df["ago"] = (df["day"].max().normalize() - df["day"]).dt.days
    df["value"] = df["revenue"].fillna(df["price"] * df["quantity"].fillna(1)).fillna(0).abs()
    buys = df[df["event_type"] == "purchase"]
    out = df.groupby("user_id").agg(days_since_last_event=("ago", "min"), events=("ago", "size"))
    out["days_since_last_purchase"] = buys.groupby("user_id")["ago"].min()
    out["orders"] = buys.groupby("user_id")["order_id"].nunique()
    out["revenue"] = buys.groupby("user_id")["value"].sum()
    for w in windows:
        recent = df[df["ago"] < w]
        counts = (
            recent.groupby(["user_id", "event_type"], observed=True).size().unstack(fill_value=0)
        )
        out = out.join(counts.add_suffix(f"_{w}d"))
    return out.fillna(0)


def bench_one(name: str, events: pl.DataFrame) -> list[dict[str, Any]]:
    cutoff = default_cutoff(events)
    rows = []
    feats, wall, cpu = timed(lambda: build_user_features(events.lazy(), cutoff))
    rows.append(_row(name, "features", events, wall, cpu, feats.shape))
    windows = tuple(
        sorted({int(c.split("_")[-1][:-1]) for c in feats.columns if c.startswith("purchases_")})
    )
    out, wall, cpu = timed(lambda: rfm_table(events.lazy(), cutoff))
    rows.append(_row(name, "rfm", events, wall, cpu, out.shape))
    _, wall, cpu = timed(lambda: store_overview(events.lazy()))
    rows.append(_row(name, "overview", events, wall, cpu, None))
    out, wall, cpu = timed(lambda: pandas_peer(events, cutoff, windows))
    rows.append(_row(name, "pandas_peer", events, wall, cpu, out.shape))
    return rows


def _row(data: str, step: str, events: pl.DataFrame, wall: float, cpu: float, shape: Any) -> dict:
    return {
        "data": data,
        "step": step,
        "events": events.height,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "shape": list(shape) if shape else None,
    }


def datasets(users: int, skip_real: bool) -> dict[str, pl.DataFrame]:
    from analytics.demo.generator import DemoSpec, generate_demo

    out = {"demo": generate_demo(DemoSpec(users=users)).events}
    if skip_real:
        return out
    from bench import _data

    if _data.DATA.exists():
        out["online_retail"] = _data.online_retail()
        out["cdnow"] = _data.cdnow()
        out["taobao"] = _data.taobao()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    results = []
    for name, events in datasets(args.users, args.skip_real).items():
        print(f"{name}: {events.height:,} events", file=sys.stderr, flush=True)
        results += bench_one(name, events)
    table = pl.DataFrame(results)
    with pl.Config(tbl_rows=50, tbl_cols=10, tbl_width_chars=120):
        print(table)
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "out" / "features.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
