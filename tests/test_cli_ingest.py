"""The ingest verb of the command line: JSON on stdout, exit 2 with {"error": ...} on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli import main

ROOT = Path(__file__).resolve().parents[1]
EVENTS = "user,event,time\nu1,pv,1511544070\nu2,buy,1511544080\nu2,cart,oops\n"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_ingest_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text(EVENTS)
    code, out = run_cli(capsys, "--workspace", str(tmp_path / "ws"), "ingest", str(path))
    assert code == 0
    assert out["dataset"] == "clicks" and out["shape"] == "events"
    assert (out["rows_read"], out["rows_accepted"], out["rows_rejected"]) == (3, 2, 1)
    assert out["rejected_by_reason"] == {"unreadable time": 1}
    assert out["users"] == 2 and out["events_by_type"] == {"view": 1, "purchase": 1}
    assert out["first_event"] == "2017-11-24T17:21:10+00:00"
    assert out["last_event"] == "2017-11-24T17:21:20+00:00"


def test_ingest_with_map_shape_and_day_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dates.csv"
    path.write_text("who,when,what\nu1,03/04/2011,x\nu2,05/06/2011,y\n")
    ws = str(tmp_path / "ws")
    code, out = run_cli(
        capsys, "--workspace", ws, "ingest", str(path), "--map", "user_id=who", "event_time=when"
    )
    assert code == 2 and "day/month or month/day" in out["error"]
    code, out = run_cli(
        capsys,
        "--workspace",
        ws,
        "ingest",
        str(path),
        "--name",
        "d",
        "--shape",
        "events",
        "--map",
        "user_id=who",
        "event_time=when",
        "--day-first",
    )
    assert code == 0 and out["dataset"] == "d" and out["first_event"].startswith("2011-04-03")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/file.csv"], "no file"),
        (["ingest", "{path}", "--map", "user_id=nope", "event_time=time"], "no column 'nope'"),
        (["ingest", "{path}", "--map", "user_id"], "canonical=source"),
    ],
)
def test_ingest_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = tmp_path / "e.csv"
    path.write_text(EVENTS)
    argv = ["--workspace", str(tmp_path / "ws"), *(a.format(path=path) for a in args)]
    code, out = run_cli(capsys, *argv)
    assert code == 2 and message in out["error"]


def test_cli_process_stdout_is_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(256)) * 100)
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "--workspace",
            str(tmp_path / "ws"),
            "ingest",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "binary data" in json.loads(proc.stdout)["error"]
