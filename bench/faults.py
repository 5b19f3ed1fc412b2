"""Fault loops too heavy for the test suite: kill -9 while writing, many times; two writers.

    .venv/bin/python bench/faults.py [--iterations 100] [--seed 15] [--max-delay 0.6]

Runs the child writer of ``tests/analytics/core/test_workspace_faults.py`` (re-ingest, then a
segment operation, stamping every file with its round) and kills it ``--iterations`` times at
random moments. After each kill the workspace is opened and the dataset must be one round's
version, whole; every fifth kill ``doctor --repair`` then ``doctor`` must answer ok. Prints JSON:
kills, distinct rounds seen, wall and CPU seconds, and the second-writer check (busy, seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.core.timing import Stopwatch
from tests.analytics.core.test_workspace_faults import (
    kill_loop,
    test_a_second_writer_in_another_process_is_told_busy_at_once,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--max-delay", type=float, default=0.6, help="seconds before a kill")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        watch = Stopwatch()
        seen = kill_loop(Path(tmp) / "ws", args.iterations, args.seed, args.max_delay)
        seconds, cpu_seconds = watch.seconds, watch.cpu_seconds  # CPU: this process, not children
        test_a_second_writer_in_another_process_is_told_busy_at_once(Path(tmp) / "busy")
    print(
        json.dumps(
            {
                "kills": args.iterations,
                "whole_after_every_kill": True,  # kill_loop asserts it after each kill
                "distinct_rounds_seen": len(set(seen)),
                "last_round": seen[-1],
                "seconds": round(seconds, 1),
                "parent_cpu_seconds": round(cpu_seconds, 1),
                "second_writer_busy_within_2s": True,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
