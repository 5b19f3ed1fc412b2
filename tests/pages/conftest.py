"""Page tests point each AppTest at its own workspace through the sidebar's admin switch."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _workspace_switch_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCELAB_ALLOW_WORKSPACE_CHANGE", "1")
