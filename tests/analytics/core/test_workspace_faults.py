"""Fault injection: ``kill -9`` while writing, and a second writer from another process.

A child process re-ingests and re-segments one dataset in a loop, each round stamping every file
with its round number; the test kills it at random moments and checks that the workspace opens
and the dataset is one round's version, whole. ``bench/faults.py`` runs the same loop 100 times.
Run as a script (``python test_workspace_faults.py write ROOT``) this module is that child.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from analytics.core.workspace import Workspace
from analytics.datasets.service import doctor

DATASET = "shop"
_ME = Path(__file__).resolve()
_REPO = _ME.parents[3]


def _rows(k: int) -> int:
    return 40 + k % 11


def ingest_round(ws: Workspace, k: int) -> None:
    users = [f"u{i}" for i in range(_rows(k))]
    frames = {
        "events": pl.DataFrame({"user_id": users, "round": [k] * len(users)}),
        "users": pl.DataFrame({"user_id": users, "round": [k] * len(users)}),
    }
    ws.save_dataset(
        DATASET, shape="events", source=f"round {k}", mapping={}, report={}, frames=frames
    )


def segment_round(ws: Workspace, k: int) -> None:
    users = ws.read_frame(DATASET, "users")
    with ws.operation(DATASET, "segment"):
        ws.write_frame(DATASET, "segments", users.with_columns(pl.lit(k).alias("seg_round")))
        ws.write_frame(DATASET, "features", users.select("user_id", pl.lit(k).alias("seg_round")))
        ws.write_json(DATASET, "segment_profiles", {"round": k})
        ws.put_record("run", DATASET, "segments", {"round": k})


def check_whole(ws: Workspace) -> int:
    """The dataset is one round's ingest (and that round's segments, or none): its round."""
    events, users = ws.read_frame(DATASET, "events"), ws.read_frame(DATASET, "users")
    assert events is not None and users is not None, "the dataset lost its frames"
    k = int(events["round"][0])
    assert events["round"].to_list() == users["round"].to_list() == [k] * _rows(k)
    assert ws.dataset(DATASET).source == f"round {k}"
    parts = [
        ws.read_frame(DATASET, "segments"),
        ws.read_frame(DATASET, "features"),
        ws.read_json(DATASET, "segment_profiles"),
        ws.get_record("run", DATASET, "segments"),
    ]
    if parts[0] is None:
        assert parts == [None] * 4, f"half a segment run: {parts}"
    else:
        rounds = {
            *parts[0]["seg_round"].to_list(),
            *parts[1]["seg_round"].to_list(),
            parts[2]["round"],
            parts[3].payload["round"],
        }
        assert rounds == {k}, f"segments of rounds {rounds} beside events of round {k}"
    return k


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    return subprocess.Popen(
        [sys.executable, str(_ME), *args], stdout=subprocess.PIPE, text=True, env=env
    )


def kill_loop(root: Path, iterations: int, seed: int, max_delay_s: float = 0.6) -> list[int]:
    """Kill a writing child ``iterations`` times; after each, check the workspace. Rounds seen."""
    rng = random.Random(seed)
    ws = Workspace(root)
    if not ws.has_dataset(DATASET):
        ingest_round(ws, 0)
    seen = []
    for i in range(iterations):
        child = _spawn("write", str(root))
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, max_delay_s))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        ws = Workspace(root)
        seen.append(check_whole(ws))
        if i % 5 != 4:
            continue  # doctor every fifth kill keeps the loop fast
        doctor(ws, repair=True)  # a manifest may lag by one commit: repaired, nothing lost
        report = doctor(ws)
        assert report.ok, report.problems
        assert [(d.name, d.version) for d in report.datasets] == [
            (DATASET, ws.dataset(DATASET).version)
        ]
    return seen


def _write_forever(root: str) -> None:
    ws = Workspace(root)
    k = int(ws.read_frame(DATASET, "events")["round"][0]) + 1
    print("ready", flush=True)
    while True:
        ingest_round(ws, k)
        segment_round(ws, k)
        k += 1


def _try_to_write(root: str) -> None:
    ws = Workspace(root)
    started = time.monotonic()
    try:
        ws.write_json(DATASET, "segment_profiles", {"round": -1})
        out = {"error": None}
    except Exception as err:  # the parent checks the type by name
        out = {"error": type(err).__name__, "message": str(err)}
    print(json.dumps(out | {"seconds": time.monotonic() - started}), flush=True)


def test_kill_minus_nine_leaves_the_old_or_the_new_version_whole(tmp_path: Path) -> None:
    seen = kill_loop(tmp_path / "ws", iterations=20, seed=15)
    assert seen == sorted(seen)  # rounds only move forward
    assert seen[-1] > 0  # the child did get work done between kills


def test_a_second_writer_in_another_process_is_told_busy_at_once(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ingest_round(ws, 0)
    with ws.operation(DATASET, "segment"):
        ws.write_json(DATASET, "segment_profiles", {"round": 0})
        child = _spawn("try", str(ws.root))
        out, _ = child.communicate(timeout=60)
    answer = json.loads(out)
    assert answer["error"] == "WorkspaceBusy"
    assert answer["message"].startswith(f"busy: segment on {DATASET} since ")
    assert answer["seconds"] < 2.0
    assert ws.read_json(DATASET, "segment_profiles") == {"round": 0}


if __name__ == "__main__":
    {"write": _write_forever, "try": _try_to_write}[sys.argv[1]](sys.argv[2])
