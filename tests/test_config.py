"""The shipped Streamlit config keeps the secure defaults of a self-hosted deployment."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


@pytest.fixture(scope="module")
def config() -> dict:
    return tomllib.loads(CONFIG.read_text())


def test_xsrf_protection_is_on(config: dict) -> None:
    assert config["server"]["enableXsrfProtection"] is True


def test_usage_statistics_are_off(config: dict) -> None:
    assert config["browser"]["gatherUsageStats"] is False


def test_error_details_are_not_shown_to_users(config: dict) -> None:
    assert config["client"]["showErrorDetails"] == "none"


def test_upload_limit_is_stated(config: dict) -> None:
    limit = config["server"]["maxUploadSize"]
    assert isinstance(limit, int) and 1 <= limit <= 4096


def test_server_runs_headless_without_reloading_on_save(config: dict) -> None:
    assert config["server"]["headless"] is True
    assert config["server"]["runOnSave"] is False


def test_streamlit_reads_these_options() -> None:
    """Catch typos: every option in the file is one Streamlit knows."""
    from streamlit import config as st_config

    known = set(st_config._config_options_template)  # private, but the only list of options
    for section, options in tomllib.loads(CONFIG.read_text()).items():
        for option in options:
            assert f"{section}.{option}" in known, f"unknown option {section}.{option}"


def test_the_server_listens_on_this_machine_only_without_a_file_watcher(config: dict) -> None:
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["fileWatcherType"] == "none"


def test_the_settings_hold_when_started_from_another_folder(tmp_path: Path) -> None:
    """Streamlit reads the config beside app.py too, so `streamlit run /path/app.py` is safe."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = CONFIG.parents[1] / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port)]
    env = {"AUDIENCELAB_WORKSPACE": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline, seen = time.monotonic() + 60, ""
        assert proc.stdout is not None
        while "URL:" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in seen, seen
    finally:
        proc.terminate()
        proc.wait(timeout=30)
