"""Recommendation quality and speed, every model side by side on the same time split.

    .venv/bin/python bench/recommend.py [--only online_retail taobao demo] [--demo-users 20000]
                                        [--no-seq] [--serve-users 100000]
                                        [--out bench/out/recommend.json]

Datasets go through the product's own ingest (``analytics.ingest.service.ingest_path``) into a
temporary workspace. Splits:

- Online Retail: history up to 2011-09-09, purchases over the next 91 days, users who bought both
  before and after (the issue's reference: popularity 0.108, own most-bought items 0.343).
- Taobao (head file, 9 days): history up to 2017-12-01 (UTC), purchases over the next 2 days.
- Demo store: history up to its last day, the 28 simulated future days as the test window.

Targets checked: combined NDCG@10 >= 1.3x popularity and >= 1.05x own most-bought; "new for
you" NDCG@10 on first-time purchases >= 1.3x the best of popularity, item-kNN and ALS; training
every recommender on the demo < 60 s; top-10 for 100k users < 10 s (a demo store generated with
100k customers, every one with a distinct history, served from scratch; see ``_speed``). Timings
on a shared machine are inflated by contention (the script prints the load average beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.core.workspace import Workspace
from models.recommend.evaluation import evaluate_recommenders
from models.recommend.fitting import RecommendConfig, fit_recommender
from models.recommend.serving import recommend_lists

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _events(name: str, ws: Workspace, demo_users: int) -> tuple[pl.DataFrame, date, float]:
    """(events, cutoff, horizon days) of one benchmark dataset."""
    from analytics.ingest.service import ingest_path

    if name == "online_retail":
        ingest_path(ws, DATA / "online_retail" / "online_retail.parquet", name=name)
        return ws.events(name).collect(), date(2011, 9, 9), 91.0
    if name == "taobao":
        ingest_path(ws, DATA / "taobao" / "taobao_users_head.csv", name=name)
        return ws.events(name).collect(), date(2017, 12, 1), 2.0
    from analytics.demo.generator import DemoSpec, generate_demo

    store = generate_demo(DemoSpec(users=demo_users, seed=7))
    events = pl.concat([store.events, store.future.select(store.events.columns)], how="vertical")
    last_day = date.fromordinal(store.history_end.date().toordinal() - 1)
    return events, last_day, float(store.spec.future_days)


def _ratios(table: pl.DataFrame) -> dict[str, float]:
    def ndcg(model: str, task: str) -> float:
        row = table.filter((pl.col("model") == model) & (pl.col("task") == task))["ndcg"]
        return float(row[0]) if row.len() else float("nan")

    peers_new = max(ndcg(m, "new") for m in ("popularity", "knn", "als"))
    return {
        "combined_vs_popularity": ndcg("blend", "all") / ndcg("popularity", "all"),
        "combined_vs_own_most_bought": ndcg("blend", "all") / ndcg("own_most_bought", "all"),
        "new_vs_best_of_pop_knn_als": ndcg("blend", "new") / peers_new,
    }


def _speed(users: int, k: int = 10) -> dict[str, float]:
    """What "top-10 for 100k users" measures: a demo store generated with ``users`` customers
    (the same generator and seed family as the quality run, so every customer has a real,
    distinct history), the recommender fitted on it (sequence model off: serving never reads
    it), then ``recommend_lists`` (candidates, features, both LightGBM blends, the three lists,
    fallback top-up) timed from scratch over every customer with history. Customers the
    generator left without events are not served, so the time is also scaled to exactly
    ``users``. Wall and process CPU seconds (all threads) are reported side by side, with the
    load average, because the machine is shared."""
    from analytics.demo.generator import DemoSpec, generate_demo

    store = generate_demo(DemoSpec(users=users, seed=11))
    last_day = date.fromordinal(store.history_end.date().toordinal() - 1)
    cfg = RecommendConfig(horizon_days=float(store.spec.future_days), sequential=False)
    fitted = fit_recommender(store.events, last_day, cfg)
    ids = fitted.history.users["user_id"]
    load = os.getloadavg()[0]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    recs = recommend_lists(fitted, ids, k=k)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    served = recs["user_id"].n_unique()
    return {
        "users_in_store": float(users),
        "users_served": float(served),
        "wall": wall,
        "cpu": cpu,
        "wall_for_100k": wall / served * 100_000,
        "cpu_for_100k": cpu / served * 100_000,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def run(name: str, ws: Workspace, args: argparse.Namespace) -> dict:
    _log(f"--- {name}: loading")
    events, cutoff, horizon = _events(name, ws, args.demo_users)
    cfg = RecommendConfig(horizon_days=horizon, sequential=not args.no_seq)  # product defaults
    started, cpu0 = time.perf_counter(), time.process_time()
    evaluation, fitted = evaluate_recommenders(
        events, cutoff, cfg, progress=lambda f, m: _log(f"  [{f:5.0%}] {m}")
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    out = {
        "dataset": name,
        "cutoff": str(cutoff),
        "horizon_days": horizon,
        "users": evaluation.users,
        "chosen": evaluation.chosen,
        "table": evaluation.table.to_dicts(),
        "ratios": _ratios(evaluation.table),
        "seconds": {**evaluation.seconds, "evaluate_wall": wall, "evaluate_cpu": cpu},
        "device": evaluation.device,
        "load_average": os.getloadavg(),
    }
    if name == "demo":
        out["seconds"]["train_all_recommenders"] = fitted.seconds["total"] + evaluation.seconds.get(
            "sasrec", 0.0
        )
        _log(f"--- serving: demo store of {args.serve_users} customers")
        out["serving"] = _speed(args.serve_users)
        out["seconds"]["top10_for_100k_users"] = out["serving"]["wall_for_100k"]
    return out


def _print(results: list[dict]) -> None:
    for r in results:
        print(
            f"\n{r['dataset']}  cutoff {r['cutoff']}  horizon {r['horizon_days']:.0f} d  "
            f"users {r['users']}  chosen {r['chosen']}"
        )
        table = pl.DataFrame(r["table"]).select(
            "model",
            "task",
            *[
                pl.col(c).round(4)
                for c in ("ndcg", "recall", "hit_rate", "coverage", "popularity_bias")
            ],
        )
        with pl.Config(tbl_rows=40, tbl_hide_dataframe_shape=True):
            print(table)
        print("ratios:", {k: round(v, 3) for k, v in r["ratios"].items()})
        if "serving" in r:
            print("serving:", {k: round(v, 1) for k, v in r["serving"].items()})
        print(
            "seconds:",
            {k: round(v, 1) for k, v in r["seconds"].items()},
            "load average:",
            [round(x, 1) for x in r["load_average"]],
        )


def _targets(results: list[dict]) -> None:
    """Every target of the issue in one block: figure, threshold, met or not."""
    print("\ntargets:")
    for r in results:
        for key, floor in (
            ("combined_vs_popularity", 1.3),
            ("combined_vs_own_most_bought", 1.05),
            ("new_vs_best_of_pop_knn_als", 1.3),
        ):
            value = r["ratios"][key]
            print(
                f"  {r['dataset']:14s} {key:28s} {value:6.3f}x  >= {floor}  {_ok(value >= floor)}"
            )
        if "serving" in r:
            train = r["seconds"]["train_all_recommenders"]
            s = r["serving"]
            label = "train all recommenders"
            print(f"  {'demo':14s} {label:28s} {train:6.1f} s  < 60  {_ok(train < 60)}")
            print(
                f"  {'demo':14s} {'top-10 for 100k users':28s} {s['wall_for_100k']:6.1f} s  < 10  "
                f"{_ok(s['wall_for_100k'] < 10)}  (CPU {s['cpu_for_100k']:.1f} s; "
                f"load {s['load_before']:.1f} -> {s['load_after']:.1f})"
            )


def _ok(met: bool) -> str:
    return "met" if met else "NOT MET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=["online_retail", "taobao", "demo"])
    parser.add_argument("--demo-users", type=int, default=20_000)
    parser.add_argument("--no-seq", action="store_true", help="skip the sequence model")
    parser.add_argument(
        "--serve-users", type=int, default=100_000, help="customers in the serving-speed store"
    )
    parser.add_argument("--out", type=Path, default=OUT / "recommend.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "workspace")
        for name in args.only:
            if name != "demo" and not DATA.exists():
                _log(f"skipping {name}: {DATA} is absent")
                continue
            results.append(run(name, ws, args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    _print(results)
    _targets(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
