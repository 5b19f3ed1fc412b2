"""Shared fixtures: a fresh workspace, a small demo store, and a workspace holding it.

The session-scoped fixtures are built once per test process (pytest-xdist runs two).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.core.workspace import Workspace
from analytics.demo.generator import DemoSpec, DemoStore, generate_demo

SMALL_DEMO_USERS = 1_500
SMALL_DEMO_SEED = 7


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A fresh, empty workspace in a temporary folder."""
    return Workspace(tmp_path / "workspace")


@pytest.fixture(scope="session")
def small_demo() -> DemoStore:
    """The demo store with 1,500 users (seed 7), generated once per test process."""
    return generate_demo(DemoSpec(users=SMALL_DEMO_USERS, seed=SMALL_DEMO_SEED))


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace holding the 1,500-user demo store as dataset ``demo`` (with truth, future).

    Shared by the tests of a process: read from it, do not write into dataset ``demo``.
    """
    from analytics.demo.service import load_demo

    ws = Workspace(tmp_path_factory.mktemp("demo_workspace") / "workspace")
    load_demo(ws, users=SMALL_DEMO_USERS, seed=SMALL_DEMO_SEED)
    yield ws
