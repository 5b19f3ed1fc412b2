"""Plotly charts of the Data page: rejects by reason, events by type, events per day."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl

from ui.chart_style import LOSS, PRIMARY, margin

__all__ = ["events_by_type_chart", "events_per_day_chart", "rejects_chart"]

_HEIGHT = 260
_MARGIN = margin()


def _bars(counts: Mapping[str, int], color: str) -> go.Figure:
    ordered = sorted(counts.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in ordered],
            y=[k for k, _ in ordered],
            orientation="h",
            marker_color=color,
            text=[f"{v:,}" for _, v in ordered],
            textposition="auto",
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(_HEIGHT // 2, 40 * len(ordered) + 40), margin=_MARGIN, xaxis_title="rows"
    )
    return fig


def rejects_chart(rejected_by_reason: Mapping[str, int]) -> go.Figure:
    """Horizontal bars: how many rows were rejected for each reason."""
    return _bars(rejected_by_reason, LOSS)


def events_by_type_chart(events_by_type: Mapping[str, int]) -> go.Figure:
    """Horizontal bars: events of each canonical type."""
    fig = _bars(events_by_type, PRIMARY)
    fig.update_layout(xaxis_title="events")
    return fig


def events_per_day_chart(per_day: pl.DataFrame) -> go.Figure:
    """A line of events per UTC day (``per_day`` has ``day`` and ``events``)."""
    fig = go.Figure(
        go.Scatter(
            x=per_day["day"].to_list(),
            y=per_day["events"].to_list(),
            mode="lines",
            line={"color": PRIMARY, "width": 1.5},
            hovertemplate="%{x|%a %d %b %Y}: %{y:,} events<extra></extra>",
        )
    )
    fig.update_layout(height=_HEIGHT, margin=_MARGIN, yaxis_rangemode="tozero")
    return fig
