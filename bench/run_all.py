"""Run every benchmark in ``bench/`` in sequence and print their summaries (``make bench``).

    .venv/bin/python bench/run_all.py [--only ingest umap] [--list] [--timeout 3600]

Each ``bench/<name>.py`` (files starting with ``_`` are helpers, not benchmarks) runs in its own
process with its default arguments, one after another so they do not compete for the CPU. Its
stdout (its summary: a table or a JSON object) is printed under its name; its stderr (progress)
passes through. A final table lists each benchmark's exit status and wall time, and
``bench/out/run_all.json`` keeps the lot. A failing benchmark does not stop the others; the exit
status is non-zero if any failed. Timings on a shared machine are inflated by contention.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"


def benchmarks() -> list[Path]:
    """Every benchmark script, in name order."""
    return sorted(
        p for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.name != "run_all.py"
    )


def run_one(path: Path, timeout_s: float) -> dict[str, object]:
    """Run one benchmark; its stdout is its summary."""
    print(f"\n=== {path.stem} ===", flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(path)],
            cwd=BENCH.parent,
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
        )
        rc, summary = done.returncode, done.stdout
    except subprocess.TimeoutExpired as err:
        out = err.stdout
        rc = -1
        summary = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
        summary += f"\n(stopped after {timeout_s:.0f} s)"
    seconds = round(time.perf_counter() - started, 1)
    print(summary.rstrip() or "(no summary printed)", flush=True)
    return {"benchmark": path.stem, "rc": rc, "seconds": seconds, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args()

    found = benchmarks()
    if args.list:
        print("\n".join(p.stem for p in found))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in found})
        if unknown:
            parser.error(f"no benchmark named {', '.join(unknown)}")
        found = [p for p in found if p.stem in args.only]

    results = [run_one(path, args.timeout) for path in found]
    print("\n=== summary ===")
    for r in results:
        status = "ok" if r["rc"] == 0 else f"FAILED (exit {r['rc']})"
        print(f"{r['benchmark']:<20} {status:<20} {r['seconds']:>8.1f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "run_all.json").write_text(json.dumps(results, indent=1))
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
