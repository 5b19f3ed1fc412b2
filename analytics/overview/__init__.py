"""Overview: the store at a glance (KPIs, activity trend, cohort retention, funnel, RFM groups).

``kpis`` computes them from canonical events; ``service.store_overview`` reads a dataset's events
from the workspace and returns the typed ``StoreOverview`` the Overview page draws.
"""
