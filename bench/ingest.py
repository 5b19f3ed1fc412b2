"""Ingest speed and memory: our ingest vs a straightforward pandas version vs a bare polars read.

    .venv/bin/python bench/ingest.py [--rows 1000000 10000000] [--formats csv parquet]

Generates Taobao-like event logs (user, item, category, behaviour pv/cart/fav/buy, epoch seconds,
price; about 50 events per user and 10 per item, Taobao itself has ~100 and ~24) of each size
into a temporary folder (deleted afterwards), then runs every reader in its
own subprocess so that each peak RSS (the worker's own ``ru_maxrss``) is its alone, three
times interleaved (``--repeat``; the run with the median wall time is reported, every wall
time is kept in ``all_seconds``), after the generated file is synced to disk:

- ``ours``: ``analytics.ingest.pipeline.ingest_file``
  (detection, mapping, parsing, rejects, items, report);
- ``pandas``: the same parsing, cleaning, item table and report written plainly with pandas
  (default ``read_csv`` engine, ids as text like ours);
- ``polars_read``: a bare ``pl.read_csv`` / ``pl.read_parquet`` (no cleaning at all).

Prints a table and writes ``bench/out/ingest.json``: wall and CPU seconds (user + sys of the
worker), each side's step split (ours builds its report in a thread beside the item table, so its
``report`` step is only the wait left after the items), the 1-minute load average before each
run. Targets (issue 2): at
least 8x faster than pandas on the 10M-row CSV, within 2x of the bare polars read, peak memory at
most 3x the size of the canonical events frame in memory (``frame_bytes``: String views
counted, which Polars' ``estimated_size`` leaves out; both are reported). Judge wall times only
when the load is low; on a shared machine CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("ours", "pandas", "polars_read")
CHUNK = 1_000_000


# --- data ---------------------------------------------------------------------------------------
def generate(rows: int, folder: Path, formats: list[str], seed: int = 0) -> dict[str, Path]:
    """Write an event log of ``rows`` rows as CSV and/or Parquet, chunk by chunk."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    paths = {fmt: folder / f"events_{rows}.{fmt}" for fmt in formats}
    chunks = []
    csv_file = open(paths["csv"], "wb") if "csv" in paths else None  # noqa: SIM115
    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            chunk = pl.DataFrame(
                {
                    "user_id": rng.integers(1, max(rows // 50, 10), n),
                    "item_id": rng.integers(1, max(rows // 10, 10), n),
                    "category_id": rng.integers(1, 10_000, n),
                    "behavior_type": rng.choice(
                        ["pv", "cart", "fav", "buy"], n, p=[0.89, 0.055, 0.03, 0.025]
                    ),
                    "timestamp": rng.integers(1_511_500_000, 1_512_300_000, n),
                    "price": np.round(rng.gamma(2.0, 20.0, n), 2),
                }
            )
            if csv_file is not None:
                chunk.write_csv(csv_file, include_header=start == 0)
            if "parquet" in paths:
                chunks.append(chunk)
    finally:
        if csv_file is not None:
            csv_file.close()
    if "parquet" in paths:
        pl.concat(chunks).write_parquet(paths["parquet"])
    return paths


# --- workers (run in a subprocess each) ---------------------------------------------------------
# Each worker returns the frame it built; its size is measured after the clock has stopped
# (``frame_bytes`` reads every String column's lengths: a measurement, not part of the work).
def work_ours(path: Path):
    from analytics.ingest.pipeline import ingest_file

    result = ingest_file(path)
    assert result.report["rows_rejected"] == 0
    STEPS.update(result.report["seconds"])
    return result.events


def work_pandas(path: Path):
    """The same parsing, cleaning, item table and report, the way one writes it with pandas."""
    import pandas as pd

    clock = time.perf_counter()
    ids = {"user_id": str, "item_id": str, "category_id": str, "behavior_type": str}
    if path.suffix == ".csv":
        df = pd.read_csv(path, dtype=ids)
    else:
        df = pd.read_parquet(path).astype(ids)
    kinds = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"}
    out = pd.DataFrame(
        {
            "user_id": df["user_id"],
            "event_time": pd.to_datetime(
                pd.to_numeric(df["timestamp"], errors="coerce"), unit="s", utc=True
            ),
            "event_type": df["behavior_type"].str.strip().str.lower().map(kinds).fillna("other"),
            "item_id": df["item_id"],
            "category": df["category_id"],
            "quantity": 1.0,
            "price": pd.to_numeric(df["price"], errors="coerce"),
        }
    )
    out["revenue"] = out["price"].where(out["event_type"] == "purchase")
    out["order_id"] = None
    bad = out["user_id"].isna() | out["event_time"].isna()
    bad |= df["price"].notna() & out["price"].isna()
    rejects = df[bad]  # the rejected rows, kept for the report
    out = out[~bad].reset_index(drop=True)
    out["event_type"] = out["event_type"].astype("category")
    del df
    clock = _step("read_parse", clock)
    # the item table: first category and median positive price per item, sorted by item id
    by_item = out.groupby("item_id", sort=True)
    items = pd.DataFrame(
        {
            "category": by_item["category"].first(),
            "price": out["price"].where(out["price"] > 0).groupby(out["item_id"]).median(),
        }
    )
    clock = _step("items", clock)
    report = {
        "rows_read": len(out) + len(rejects),
        "users": out["user_id"].nunique(),
        "events_by_type": out["event_type"].value_counts().to_dict(),
        "first_event": out["event_time"].min(),
        "last_event": out["event_time"].max(),
        "revenue_total": out["revenue"].sum(),
    }
    _step("report", clock)
    del items, report
    return out


def work_polars_read(path: Path):
    import polars as pl

    return pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)


def sizes(frame) -> tuple[int, int, int]:
    """Rows, the library's own size estimate, and ``frame_bytes`` (pandas: deep memory use)."""
    if hasattr(frame, "memory_usage"):  # pandas
        deep = int(frame.memory_usage(deep=True).sum())
        return len(frame), deep, deep
    return frame.height, int(frame.estimated_size()), frame_bytes(frame)


def frame_bytes(frame) -> int:
    """Bytes a Polars frame really holds. ``estimated_size`` counts only the text bytes of a
    String column, not its 16-byte views (texts of up to 12 bytes live inside the view), so for
    short ids it says a third of the truth; here every view, every text over 12 bytes and the
    validity bitmaps count."""
    import polars as pl

    total = 0
    for column in frame.iter_columns():
        if column.dtype == pl.String:
            lengths = column.str.len_bytes()
            total += 16 * column.len() + int(lengths.filter(lengths > 12).sum() or 0)
            total += (column.len() + 7) // 8 if column.null_count() else 0
        else:
            total += int(column.estimated_size())
    return total


def _step(name: str, since: float) -> float:
    now = time.perf_counter()
    STEPS[name] = round(now - since, 3)
    return now


STEPS: dict[str, float] = {}  # ingest's own step timings, reported beside the total


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(kind: str, path: Path) -> None:
    import polars  # noqa: F401  (imports are not part of the timing)

    if kind == "pandas":
        import pandas  # noqa: F401
    if kind == "ours":
        import analytics.ingest.pipeline  # noqa: F401
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start, start_cpu = time.perf_counter(), _cpu_seconds()
    work = {"ours": work_ours, "pandas": work_pandas, "polars_read": work_polars_read}[kind]
    frame = work(path)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - start_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rows, estimate, size = sizes(frame)
    out = {
        "rows": rows,
        "frame_bytes": size,
        "frame_estimate": estimate,
        "seconds": seconds,
        "cpu_seconds": cpu,
    }
    print(json.dumps({**out, "peak_rss": peak, "import_rss": base_rss, "steps": STEPS}))


def run(kind: str, path: Path) -> dict:
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} on {path.name} failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load_before": load}


# --- driver ---------------------------------------------------------------------------------------
def bench(rows_list: list[int], formats: list[str], repeat: int = 3) -> list[dict]:
    results = []
    folder = Path(tempfile.mkdtemp(prefix="audiencelab-bench-ingest-"))
    try:
        for rows in rows_list:
            print(f"generating {rows:,} rows ...", file=sys.stderr, flush=True)
            paths = generate(rows, folder, formats)
            # the freshly written file's dirty pages would otherwise be flushed to disk during
            # whichever reader comes first
            os.sync()
            for fmt, path in paths.items():
                tries: dict[str, list[dict]] = {kind: [] for kind in KINDS}
                for attempt in range(repeat):  # interleaved, so drifts in load hit every reader
                    for kind in KINDS:
                        print(f"  {fmt} {kind} ({attempt + 1}/{repeat}) ...", file=sys.stderr)
                        tries[kind].append(run(kind, path))
                runs = {kind: _median_run(r) for kind, r in tries.items()}
                summary = summarise(rows, fmt, path.stat().st_size, runs)
                summary["all_seconds"] = {
                    k: [round(r["seconds"], 2) for r in v] for k, v in tries.items()
                }
                results.append(summary)
                print(table([results[-1]]), file=sys.stderr, flush=True)
                path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def _median_run(tries: list[dict]) -> dict:
    """The run with the median wall time (the middle one of an odd count)."""
    return sorted(tries, key=lambda r: r["seconds"])[(len(tries) - 1) // 2]


def summarise(rows: int, fmt: str, file_bytes: int, runs: dict[str, dict]) -> dict:
    ours, pandas, bare = runs["ours"], runs["pandas"], runs["polars_read"]
    canonical = ours["frame_bytes"]

    def without_items(r: dict) -> float:
        return r["seconds"] - r["steps"].get("items", 0.0)

    return {
        "rows": rows,
        "format": fmt,
        "file_mb": round(file_bytes / 1e6, 1),
        # the canonical events frame in memory (String views counted; see frame_bytes), and
        # Polars' own estimate, which leaves the views out
        "canonical_mb": round(canonical / 1e6, 1),
        "canonical_estimate_mb": round(ours["frame_estimate"] / 1e6, 1),
        "runs": {
            kind: {
                "seconds": round(r["seconds"], 3),
                "cpu_seconds": round(r["cpu_seconds"], 3),
                "rows_per_s": round(r["rows"] / r["seconds"]),
                "peak_rss_mb": round(r["peak_rss"] / 1e6, 1),
                "import_rss_mb": round(r["import_rss"] / 1e6, 1),
                "frame_mb": round(r["frame_bytes"] / 1e6, 1),
                "steps_s": r["steps"],
                "load_before": round(r["load_before"], 2),
            }
            for kind, r in runs.items()
        },
        "speedup_vs_pandas": round(pandas["seconds"] / ours["seconds"], 2),
        "time_vs_polars_read": round(ours["seconds"] / bare["seconds"], 2),
        # parse and clean only (both sides leave out their item table): like with like against
        # the bare read, which builds no item table either
        "speedup_vs_pandas_without_items": round(without_items(pandas) / without_items(ours), 2),
        "time_vs_polars_read_without_items": round(without_items(ours) / bare["seconds"], 2),
        # CPU seconds resist contention from other processes (but count every polars thread)
        "cpu_speedup_vs_pandas": round(pandas["cpu_seconds"] / ours["cpu_seconds"], 2),
        "cpu_vs_polars_read": round(ours["cpu_seconds"] / bare["cpu_seconds"], 2),
        "peak_over_canonical": round(ours["peak_rss"] / canonical, 2),
        "peak_over_canonical_estimate": round(ours["peak_rss"] / ours["frame_estimate"], 2),
        "peak_above_imports_over_canonical": round(
            (ours["peak_rss"] - ours["import_rss"]) / canonical, 2
        ),
    }


def table(results: list[dict]) -> str:
    head = (
        f"{'rows':>11} {'fmt':>7} {'reader':>12} {'seconds':>8} {'cpu s':>7} {'rows/s':>11} "
        f"{'peak MB':>8}"
    )
    lines = [head]
    for res in results:
        for kind, r in res["runs"].items():
            lines.append(
                f"{res['rows']:>11,} {res['format']:>7} {kind:>12} {r['seconds']:>8.2f} "
                f"{r['cpu_seconds']:>7.2f} "
                f"{r['rows_per_s']:>11,} {r['peak_rss_mb']:>8.0f}"
            )
        lines.append(
            f"{'':>11} {'':>7} ours: {res['speedup_vs_pandas']}x faster than pandas, "
            f"{res['time_vs_polars_read']}x the bare polars read, peak RSS "
            f"{res['peak_over_canonical']}x the canonical frame ({res['canonical_mb']} MB; "
            f"{res['peak_above_imports_over_canonical']}x above the import baseline; "
            f"{res['peak_over_canonical_estimate']}x Polars' estimate of "
            f"{res['canonical_estimate_mb']} MB)"
        )
        lines.append(
            f"{'':>11} {'':>7} without the item table: {res['speedup_vs_pandas_without_items']}x "
            f"faster than pandas, {res['time_vs_polars_read_without_items']}x the bare read; CPU "
            f"time: {res['cpu_speedup_vs_pandas']}x less than pandas, {res['cpu_vs_polars_read']}x "
            f"the bare read; load {res['runs']['ours']['load_before']}; steps "
            f"ours {res['runs']['ours']['steps_s']} pandas {res['runs']['pandas']['steps_s']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"]
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each reader; the median run is reported"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest.json")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return
    results = bench(args.rows, args.formats, args.repeat)
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():  # keep earlier runs of other sizes/formats; replace the same ones
        done = {(r["rows"], r["format"]) for r in results}
        earlier = json.loads(args.out.read_text()).get("results", [])
        results = [r for r in earlier if (r["rows"], r["format"]) not in done] + results
        results.sort(key=lambda r: (r["rows"], r["format"]))
    args.out.write_text(
        json.dumps(
            {"note": "2 shared CPU cores; see load_before per run", "results": results},
            indent=1,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
