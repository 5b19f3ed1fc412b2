"""The Overview service reads a dataset's events and summarises them."""

from __future__ import annotations

import pytest

from analytics.core.errors import DatasetNotFound, NotEnoughData
from analytics.core.schema import empty_events
from analytics.core.workspace import Workspace
from analytics.overview.service import store_overview
from tests.analytics.overview.test_kpis import events


def test_overview_of_a_stored_dataset(workspace: Workspace) -> None:
    workspace.save_dataset("shop", shape="events", source="test", mapping={}, report={},
                           frames={"events": events()})  # fmt: skip
    view = store_overview(workspace, "shop", active_days=28)
    assert view.kpis["users"] == 3 and view.kpis["revenue"] == pytest.approx(140.0)
    assert view.rfm["users"].sum() == 3


def test_overview_errors_are_typed(workspace: Workspace) -> None:
    with pytest.raises(DatasetNotFound):
        store_overview(workspace, "nowhere")
    workspace.save_dataset("customers", shape="customers", source="test", mapping={},
                           report={}, frames={"events": empty_events()})  # fmt: skip
    with pytest.raises(NotEnoughData, match="customer table"):
        store_overview(workspace, "customers")
