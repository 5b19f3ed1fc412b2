"""Browser-test harness: a real ``streamlit run app.py`` on a small demo workspace, driven by
headless Chromium through Playwright. Reuse these fixtures for every page's browser tests:

- ``browser_workspace``: a workspace folder holding the demo store (1,500 users), built once.
- ``app_server`` / ``app_url``: the app served on a free local port with that workspace.
- ``browser``: headless Chromium (skips the test, saying why, when /usr/bin/chromium is absent).
- ``page``: a fresh tab on the app, waited until the first run has drawn.
- ``open_page(page, "Segments")``: click a page's title in the sidebar navigation.
- ``wait_for_app(page)``: wait until Streamlit has finished running the script.
- ``metric_value(page, "Rows read")``: the text of the ``st.metric`` with that label.
- ``save_screenshot(page, "data_page")``: ``bench/out/screens/data_page.png`` when
  ``AUDIENCELAB_SCREENSHOTS=1``.

The server and workspace are shared by a test session (one per xdist worker): tests must not
delete the ``demo`` dataset; a test that writes should use its own dataset name.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_USERS = 1500
SCREENS = ROOT / "bench" / "out" / "screens"
_START_TIMEOUT_S = 120
_RUN_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class AppServer:
    """A running ``streamlit run app.py``."""

    url: str
    workspace: Path
    log: Path
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def browser_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the demo store of 1,500 users, built by the CLI as a user would."""
    workspace = tmp_path_factory.mktemp("browser_workspace")
    done = subprocess.run(
        [
            sys.executable,
            "cli.py",
            "--workspace",
            str(workspace),
            "demo",
            "--users",
            str(DEMO_USERS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"cli.py demo failed:\n{done.stdout}\n{done.stderr}"
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["dataset"] == "demo"
    return workspace


@pytest.fixture(scope="session")
def app_server(
    browser_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free port with ``browser_workspace``; stopped afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("streamlit_log") / "streamlit.log"
    env = {
        **os.environ,
        "AUDIENCELAB_WORKSPACE": str(browser_workspace),
        "AUDIENCELAB_DEMO_USERS": str(DEMO_USERS),
    }
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.25)
        yield AppServer(url, browser_workspace, log, process)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the server's own process group only
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def app_url(app_server: AppServer) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    """A fresh browser tab on the app's default page (Data), after its first run."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(_RUN_TIMEOUT_MS)
    tab.goto(app_url)
    wait_for_app(tab)
    yield tab
    context.close()


_IDLE_JS = """
() => {
  const busy = document.querySelector("[data-testid='stStatusWidget']")
    || document.querySelector("[data-stale='true']")
    || document.querySelector("[data-testid='stSkeleton']");
  const now = Date.now();
  if (busy) { window.__idleSince = null; return false; }
  window.__idleSince = window.__idleSince || now;
  return now - window.__idleSince > 1000;
}
"""


def wait_for_app(page: Any, timeout_ms: int = _RUN_TIMEOUT_MS) -> None:
    """Wait until the app has drawn a title and Streamlit has been idle for a second.

    Idle means no "running" status widget, no stale (greyed) element and no loading skeleton.
    """
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout_ms)
    page.evaluate("() => { window.__idleSince = null; }")
    page.wait_for_function(_IDLE_JS, timeout=timeout_ms, polling=200)


def open_page(page: Any, title: str) -> None:
    """Open a page by clicking its title in the sidebar navigation, then wait for it."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    href = link.get_attribute("href")
    link.click()
    if href:
        page.wait_for_url(href)
    wait_for_app(page)


def metric_value(page: Any, label: str) -> str:
    """The shown value of the first ``st.metric`` whose label contains ``label``."""
    metric = page.get_by_test_id("stMetric").filter(has_text=label).first
    return str(metric.get_by_test_id("stMetricValue").inner_text()).strip()


def save_screenshot(page: Any, name: str) -> Path | None:
    """Save ``bench/out/screens/<name>.png`` (full page) when ``AUDIENCELAB_SCREENSHOTS=1``."""
    if os.environ.get("AUDIENCELAB_SCREENSHOTS") != "1":
        return None
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    wait_for_charts(page)
    # Streamlit scrolls inside its main block, not the body: grow the viewport to fit it all.
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll(\"[data-testid='stMain'], "
        "[data-testid='stMainBlockContainer']\")].map(e => e.scrollHeight), 0)"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 80)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def wait_for_charts(page: Any, timeout_ms: int = 30_000) -> None:
    """Wait until every Plotly chart on the page has drawn its SVG."""
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stPlotlyChart']\")]"
        ".every(c => c.querySelector('.main-svg'))",
        timeout=timeout_ms,
    )
