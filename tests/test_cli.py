"""The command line's contract: one strict JSON line on stdout, the engine named; exit 2 if bad."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import cli
from analytics.core.errors import WorkspaceBusy


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "stdout holds exactly one JSON line"
    return code, json.loads(out)


def test_a_bad_command_line_is_answered_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "segment")
    assert code == 2 and "--dataset" in out["error"] and out["engine"] == "local"
    code, out = run(capsys, "nonsense")
    assert code == 2 and "invalid choice" in out["error"]


def test_a_name_that_looks_like_an_option_says_how_to_write_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run(capsys, "ingest", "x.csv", "--name", "-rf")
    assert code == 2 and "--name=-x" in out["error"]


def test_nan_and_infinity_become_null() -> None:
    nested = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (2.5, "x")}
    assert cli.strict_json(nested) == {"a": None, "b": [1.0, None, {"c": None}], "d": [2.5, "x"]}


def test_every_answer_is_strict_json_and_names_the_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(
        cli.VERBS, "demo", (*cli.VERBS["demo"][:2], lambda ws, a: {"effect": math.inf})
    )
    code, out = run(capsys, "--workspace", str(tmp_path), "demo")
    assert code == 0 and out == {"effect": None, "engine": "local"}


def test_a_busy_workspace_says_busy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def busy(ws: object, args: object) -> dict:
        raise WorkspaceBusy("busy: segment on demo since 10:00")

    monkeypatch.setitem(cli.VERBS, "demo", (*cli.VERBS["demo"][:2], busy))
    code, out = run(capsys, "--workspace", str(tmp_path), "demo")
    assert code == 2 and out["busy"] is True and "segment on demo" in out["error"]


def test_an_internal_error_is_json_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(ws: object, args: object) -> dict:
        raise KeyError("alice@example.com")

    monkeypatch.delenv("AUDIENCELAB_DEBUG", raising=False)
    monkeypatch.setitem(cli.VERBS, "demo", (*cli.VERBS["demo"][:2], broken))
    code, out = run(capsys, "--workspace", str(tmp_path), "demo")
    assert code == 1 and "KeyError" in out["error"] and "alice" not in out["error"]
