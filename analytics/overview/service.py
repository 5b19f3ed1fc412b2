"""The Overview page's one call: the store at a glance, read from the dataset's events.

Customer tables have no activity over time: ``store_overview`` raises ``NotEnoughData`` for them
with a message the page shows.
"""

from __future__ import annotations

from analytics.core.workspace import Workspace
from analytics.features.rfm import RFM_RULES
from analytics.overview.kpis import StoreOverview
from analytics.overview.kpis import store_overview as summarise

__all__ = ["RFM_RULES", "StoreOverview", "store_overview"]


def store_overview(ws: Workspace, dataset: str, *, active_days: int = 28) -> StoreOverview:
    """KPIs, trend, cohorts, funnel and RFM groups of ``dataset`` as of its last event day."""
    return summarise(ws.events(dataset), active_days=active_days)
