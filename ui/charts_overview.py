"""Plotly charts of the Overview page: trend, cohort heat map, funnel and the classic RFM groups."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl

from ui.chart_style import GAIN, PALE, PRIMARY, RFM_COLORS, margin

__all__ = [
    "TREND_METRICS",
    "cohort_caption",
    "cohort_chart",
    "compact_number",
    "funnel_chart",
    "period_word",
    "rfm_chart",
    "trend_chart",
]

_MARGIN = margin(top=30)
TREND_METRICS = {
    "users": "Active users",
    "buyers": "Buyers",
    "orders": "Orders",
    "revenue": "Revenue (net of refunds)",
}
_PERIOD_WORD = {"1d": "day", "1w": "week", "1mo": "month", "1y": "year"}


def compact_number(value: float) -> str:
    """A KPI figure short enough for a sixth of a wide page: 24,691,204 -> 24.7M, 84,512 -> 84.5K.

    Below 10,000 the figure is written in full.
    """
    size = abs(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if size >= scale * 0.99995 and size >= 1e4:  # 999,999 reads 1.0M, not 1,000.0K
            return f"{value / scale:,.1f}{unit}"
    return f"{value:,.0f}"


def period_word(every: str) -> str:
    """The period in words ("week" for "1w"), for titles."""
    return _PERIOD_WORD.get(every, every)


def trend_chart(trend: pl.DataFrame, metric: str, every: str) -> go.Figure:
    """A line of one metric per period; partly covered first/last periods drawn pale and dashed."""
    label = TREND_METRICS[metric]
    fmt = "%{y:,.0f}"
    fig = go.Figure()
    complete = trend.filter(pl.col("complete"))
    fig.add_trace(
        go.Scatter(
            x=trend["period"].to_list(),
            y=trend[metric].to_list(),
            mode="lines",
            line={"color": PALE, "width": 2, "dash": "dot"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=complete["period"].to_list(),
            y=complete[metric].to_list(),
            mode="lines+markers",
            line={"color": PRIMARY, "width": 2.5},
            marker={"size": 6},
            name=label,
            hovertemplate=f"{period_word(every).capitalize()} of %{{x|%d %b %Y}}: {fmt}"
            "<extra></extra>",
        )
    )
    partial = trend.filter(~pl.col("complete"))
    fig.add_trace(
        go.Scatter(
            x=partial["period"].to_list(),
            y=partial[metric].to_list(),
            mode="markers",
            marker={"size": 7, "color": "white", "line": {"color": PALE, "width": 2}},
            name="partly covered by the data",
            hovertemplate=f"%{{x|%d %b %Y}} (partly covered): {fmt}<extra></extra>",
        )
    )
    fig.update_layout(
        height=300,
        margin=_MARGIN,
        yaxis_title=f"{label} per {period_word(every)}",
        yaxis_rangemode="tozero",
        legend={"orientation": "h", "y": 1.12, "x": 0},
        hovermode="x",
    )
    return fig


def cohort_caption(cohorts: pl.DataFrame, every: str) -> str:
    """One sentence telling how to read the cohort heat map."""
    word = period_word(every)
    if cohorts.height and cohorts["basis"][0] == "activity":
        return (
            f"Each row is the customers first seen in one {word}; a cell is the share who came "
            f"back that many {word}s later."
        )
    return (
        f"Each row is the customers whose first purchase fell in one {word}; a cell is the share "
        f"who bought again that many {word}s later."
    )


def cohort_chart(cohorts: pl.DataFrame, every: str, start: date | None = None) -> go.Figure:
    """Heat map: rows are cohorts (first purchase or first visit), columns periods since.

    Period 0 (100% by construction) is left out and the colour scale stops at the highest later
    retention, so the differences that matter are visible; the cohort size is in the row label.
    A first period that begins before the data's ``start`` (a week from Monday when the data
    starts on a Sunday) is labelled with ``start``, not a day without data.
    """
    word = period_word(every)
    later = cohorts.filter(pl.col("period") >= 1)
    sizes = cohorts.filter(pl.col("period") == 0).sort("cohort")
    fmt = "%d %b %Y" if every in ("1d", "1w") else "%b %Y"
    names = {
        d: f"{max(d, start or d).strftime(fmt)} ({n:,})"
        for d, n in zip(sizes["cohort"], sizes["cohort_users"], strict=True)
    }
    if later.height == 0:  # a single period of data: nothing to come back in yet
        later = cohorts
    grid = later.pivot(on="period", index="cohort", values="retention", sort_columns=True)
    users = later.pivot(on="period", index="cohort", values="users", sort_columns=True)
    periods = [int(c) for c in grid.columns[1:]]
    labels = [names[d] for d in grid["cohort"]]
    z = [[None if v is None else 100 * v for v in row] for row in grid.drop("cohort").rows()]
    top = max([v for row in z for v in row if v is not None] or [1.0])
    small = len(periods) <= 14 and len(labels) <= 14
    basis = cohorts["basis"][0] if cohorts.height else "purchase"
    doing = "bought again" if basis == "purchase" else "came back"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=periods,
            y=labels,
            customdata=users.drop("cohort").rows(),
            colorscale="Blues",
            zmin=0,
            zmax=max(top, 1.0),
            text=[["" if v is None else f"{v:.0f}%" for v in row] for row in z] if small else None,
            texttemplate="%{text}" if small else None,
            colorbar={"title": "%", "thickness": 12, "ticksuffix": "%"},
            hovertemplate=f"Cohort %{{y}}<br>{word} %{{x}}: %{{z:.1f}}% {doing}"
            " (%{customdata:,} customers)<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    first = "purchase" if basis == "purchase" else "visit"
    fig.update_layout(
        height=max(260, min(640, 22 * len(labels) + 90)),
        margin=_MARGIN,
        xaxis={"title": f"{word}s since the first {first}", "dtick": 1 if small else None},
        yaxis={"autorange": "reversed", "title": "cohort (customers)", "type": "category"},
    )
    return fig


def funnel_chart(funnel: pl.DataFrame) -> go.Figure:
    """Funnel of users who viewed, added to cart and purchased."""
    fig = go.Figure(
        go.Funnel(
            y=funnel["step"].to_list(),
            x=funnel["users"].to_list(),
            texttemplate="%{value:,}<br>%{percentInitial:.0%}",
            marker={"color": [PRIMARY, "#6366F1", GAIN][: funnel.height]},
            connector={"fillcolor": "#E0E7FF", "line": {"width": 0}},
            hovertemplate="%{y}: %{x:,} users<br>%{percentPrevious:.1%} of the step before"
            "<extra></extra>",
        )
    )
    fig.update_layout(height=300, margin=_MARGIN)
    return fig


def rfm_chart(summary: pl.DataFrame, *, with_revenue: bool = True) -> go.Figure:
    """Bars per classic RFM group: share of customers beside share of revenue."""
    groups = summary["rfm_group"].cast(pl.String).to_list()
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=groups,
            x=(100 * summary["share_users"]).to_list(),
            orientation="h",
            name="% of customers",
            marker_color=[RFM_COLORS.get(g, PRIMARY) for g in groups],
            customdata=summary["users"].to_list(),
            text=[f"{u:,}" for u in summary["users"].to_list()],
            textposition="outside",
            hovertemplate="%{y}: %{customdata:,} customers (%{x:.1f}%)<extra></extra>",
        )
    )
    if with_revenue:
        fig.add_trace(_revenue_bars(summary, groups))
    fig.update_layout(
        barmode="group",
        height=320,
        margin=_MARGIN,
        xaxis={
            "title": "% of customers (filled) and of revenue (outlined)"
            if with_revenue
            else "% of customers",
            "ticksuffix": "%",
        },
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": 1.1, "x": 0},
    )
    return fig


def _revenue_bars(summary: pl.DataFrame, groups: list[str]) -> go.Bar:
    return go.Bar(
        y=groups,
        x=(100 * summary["share_revenue"]).to_list(),
        orientation="h",
        name="% of revenue",
        marker={"color": "rgba(0,0,0,0)", "line": {"color": "#111827", "width": 1.5}},
        hovertemplate="%{y}: %{x:.1f}% of revenue<extra></extra>",
    )
