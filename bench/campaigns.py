"""Campaign quality targets, measured: uplift Qini vs the planted truth, simulator accuracy,
uplift vs propensity targeting, a Hillstrom-format test through the CLI, and simulator speed.

Run: ``.venv/bin/python bench/campaigns.py [--users 20000] [--seeds 7 8 9]
[--hillstrom-rows 64000]``.
Writes ``bench/out/campaigns.json`` and prints it. Timings depend on the machine's load (the load
average is recorded with them).

Populations. Qini: the users exposed to the demo's past e-mail (treated and control, every one
scored out of fold by the cross-fitted learners), against the Qini of the planted ``true_uplift``
(the effect at that send) on the same users and outcomes. Top 30%: every user of the store ranked by
the stored model's uplift (features as of the end of the history), against the planted
``true_uplift_now`` (the same e-mail sent on the first day after the history, which is what the
simulator forecasts) summed over the same targeted users. Each demo seed is a fresh store; the
summary gives mean and sd over seeds, so no figure rests on one realisation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.core.workspace import Workspace  # noqa: E402
from bench.hillstrom import hillstrom_frame  # noqa: E402
from models.campaigns.audience import AudienceSpec  # noqa: E402
from models.campaigns.simulation import (  # noqa: E402
    CampaignSpec,
    EffectModel,
    compare_strategies,
    depth_curve,
    rank_users,
    simulate_campaign,
)

OUT = ROOT / "bench" / "out" / "campaigns.json"


def _cli(ws: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "cli.py", "--workspace", str(ws), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cli {args[0]} failed: {done.stdout}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def demo_targets(users: int, seed: int = 7) -> dict:
    """Qini vs truth, top-30% incremental conversions vs truth, uplift vs propensity profit."""
    from analytics.demo.service import load_demo
    from models.campaigns.service import UpliftSpec, campaign_frame, train_uplift

    ws = Workspace(Path(tempfile.mkdtemp()) / "ws")
    t0 = time.perf_counter()
    load_demo(ws, users=users, seed=seed)
    t1 = time.perf_counter()
    result = train_uplift(ws, "demo", UpliftSpec())
    t2 = time.perf_counter()
    m = result.metrics["treatment"]
    truth = ws.read_frame("demo", "truth")
    spec = CampaignSpec(depth_pct=30, audience=AudienceSpec(exclude_no_consent=False), draws=1000)
    frame, effect, _ = campaign_frame(ws, "demo", spec)
    frame = frame.join(truth, on="user_id", how="left")
    sim = simulate_campaign(frame, spec, effect)
    chosen = frame[sim.selected]
    expected = sim.metrics["incremental_conversions"]
    planted_now = float(chosen["true_uplift_now"].sum())
    planted_send = float(chosen["true_uplift"].sum())
    strategies = {}
    econ_m, disc, cpc = (
        spec.margin_pct / 100,
        spec.offer.discount_pct / 100,
        spec.offer.cost_per_contact,
    )
    for strategy in ("uplift", "propensity", "random"):
        picked = frame[rank_users(frame, strategy, seed=0)[: sim.contacts]]
        u = picked["true_uplift_now"].to_numpy()
        v = picked["value"].to_numpy()
        # true no-contact chance over 14 days from the planted 7-day one (two independent weeks)
        p0 = 1 - (1 - picked["p_purchase_7d"].to_numpy()) ** 2
        profit = econ_m * (v * u).sum() - len(picked) * cpc - disc * (v * (p0 + u)).sum()
        strategies[strategy] = {
            "true_incremental_conversions": float(u.sum()),
            "true_profit": float(profit),
        }
    table = compare_strategies(frame, spec, effect, sim.contacts)
    for row in table.iter_rows(named=True):
        strategies[row["strategy"]]["simulated_profit"] = row["profit"]
    return {
        "users": users,
        "seed": seed,
        "exposed_users": sum(r["users"] for r in result_harm(ws, result.model)),
        "seconds_demo": t1 - t0,
        "seconds_uplift": t2 - t1,
        "learner": m["learner"],
        "qini_model": m["qini"],
        "qini_planted_truth": m.get("truth_qini"),
        "qini_ratio": m["qini"] / m["truth_qini"] if m.get("truth_qini") else None,
        "qini_by_learner": {k: v["qini"] for k, v in m["learners"].items()},
        "top30_contacts": sim.contacts,
        "top30_expected_incremental_conversions": expected,
        "top30_planted_truth_now": planted_now,
        "top30_planted_truth_at_send": planted_send,
        "top30_ratio_vs_truth_now": expected["mean"] / planted_now,
        "top30_truth_now_in_interval": expected["lower"] <= planted_now <= expected["upper"],
        "strategies": strategies,
        "uplift_beats_propensity_true_profit": strategies["uplift"]["true_profit"]
        > strategies["propensity"]["true_profit"],
    }


def result_harm(ws: Workspace, model_id: str) -> list[dict]:
    from models.campaigns.service import uplift_card

    return uplift_card(ws, model_id)["arms"]["treatment"]["harm"]


def _summary(runs: list[dict]) -> dict:
    """Mean and sd over demo seeds of the figures with targets."""
    out = {}
    for key in ("qini_ratio", "top30_ratio_vs_truth_now"):
        x = np.array([r[key] for r in runs], dtype=float)
        out[key] = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
                    "values": x.tolist()}  # fmt: skip
    # the targets: Qini at least 0.8x the truth's, top-30% forecast within +/-15% of the truth
    out["qini_ratio_at_least_0.8"] = [r["qini_ratio"] >= 0.8 for r in runs]
    out["top30_within_15pct"] = [abs(r["top30_ratio_vs_truth_now"] - 1) <= 0.15 for r in runs]
    out["top30_truth_now_in_interval"] = [r["top30_truth_now_in_interval"] for r in runs]
    out["uplift_beats_propensity_true_profit"] = [
        r["uplift_beats_propensity_true_profit"] for r in runs
    ]
    out["learners"] = [r["learner"] for r in runs]
    return out


def hillstrom_cli(rows: int, held_out: int) -> dict:
    """Ingest, uplift and score on held-out customers through the CLI, naming only the columns."""
    tmp = Path(tempfile.mkdtemp())
    train, new = tmp / "hillstrom.csv", tmp / "hillstrom_new.csv"
    hillstrom_frame(rows, seed=0).write_csv(train)
    truth = hillstrom_frame(held_out, seed=1, truth=True)
    truth.drop("true_uplift_visit_mens", "true_uplift_visit_womens").write_csv(new)
    ws = tmp / "ws"
    t0 = time.perf_counter()
    _cli(ws, "ingest", str(train), "--name", "hillstrom")
    _cli(ws, "ingest", str(new), "--name", "hillstrom_new")
    up = _cli(
        ws,
        "uplift",
        "--dataset",
        "hillstrom",
        "--treatment",
        "segment",
        "--outcome",
        "visit",
        "--control",
        "No E-Mail",
    )
    out = tmp / "scores.csv"
    try:
        scored = _cli(
            ws, "score", "--model", up["model"], "--dataset", "hillstrom_new", "--out", str(out)
        )
        via = "cli score"
    except RuntimeError as err:  # the score verb belongs to the predictions work
        from models.campaigns.service import score_uplift_model

        frame = score_uplift_model(Workspace(ws), up["model"], "hillstrom_new")
        frame.write_csv(out)
        scored, via = (
            {"rows": frame.height, "error": str(err)[:200]},
            "service (cli score unavailable)",
        )
    scores = pl.read_csv(out, schema_overrides={"user_id": pl.String})
    # ingest numbers rows 1..n when the file has no id column: join the truth on that number
    truth = truth.with_row_index("row", offset=1).with_columns(
        pl.col("row").cast(pl.String).alias("user_id")
    )
    joined = scores.join(truth, on="user_id")
    corr = {}
    for arm, col in (
        ("Mens E-Mail", "true_uplift_visit_mens"),
        ("Womens E-Mail", "true_uplift_visit_womens"),
    ):
        part = joined.filter(pl.col("arm") == arm)
        corr[arm] = {
            "corr": float(np.corrcoef(part["uplift"].to_numpy(), part[col].to_numpy())[0, 1]),
            "mean_scored": float(part["uplift"].mean()),
            "mean_planted": float(part[col].mean()),
        }
    return {
        "rows": rows,
        "held_out": held_out,
        "seconds": time.perf_counter() - t0,
        "uplift": {
            k: up[k] for k in ("model", "arms", "control", "metrics", "excluded", "warnings")
        },
        "score": scored,
        "score_via": via,
        "corr_scored_vs_planted_uplift": corr,
    }


def speed(users: int = 1_000_000, draws: int = 1000) -> dict:
    rng = np.random.default_rng(0)
    raw = rng.normal(0.02, 0.03, users)
    frame = pl.DataFrame(
        {
            "user_id": pl.int_range(users, eager=True).cast(pl.String),
            "p0": rng.beta(1, 8, users),
            "value": rng.gamma(2, 30, users),
            "uplift_raw": raw,
            "uplift": raw,
            "segment": rng.integers(0, 8, users),
        }
    )
    effect = EffectModel((0.0, 1.0), ((1e-5, 0.0), (0.0, 0.01)), "model")
    spec = CampaignSpec(draws=draws)
    t0 = time.perf_counter()
    sim = simulate_campaign(frame, spec, effect)
    t1 = time.perf_counter()
    depth_curve(frame, spec, effect)
    t2 = time.perf_counter()
    compare_strategies(frame, spec, effect, sim.contacts)
    t3 = time.perf_counter()
    return {
        "users": users,
        "draws": draws,
        "seconds_simulate": t1 - t0,
        "seconds_depth_curve": t2 - t1,
        "seconds_four_strategies": t3 - t2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--hillstrom-rows", type=int, default=64_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["demo", "hillstrom", "speed"])
    args = parser.parse_args()
    report: dict = {"load_average_start": list(os.getloadavg())}
    if "speed" not in args.skip:
        report["speed"] = speed()
    if "demo" not in args.skip:
        runs = [demo_targets(args.users, seed) for seed in args.seeds]
        report["demo_summary"] = _summary(runs)
        report["demo"] = runs
    if "hillstrom" not in args.skip:
        report["hillstrom"] = hillstrom_cli(args.hillstrom_rows, 10_000)
    report["load_average_end"] = list(os.getloadavg())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
