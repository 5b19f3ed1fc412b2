"""Plotly charts of the Campaigns page: depth curve, strategies, Qini, persuadability, campaigns."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from ui.chart_style import GAIN, LOSS, PRIMARY, PRIMARY_BAND

__all__ = [
    "campaigns_chart",
    "depth_curve_chart",
    "persuadable_chart",
    "qini_chart",
    "strategy_chart",
]

_LABELS = {
    "uplift": "Top uplift (persuadable first)",
    "propensity": "Top purchase probability",
    "random": "Random",
    "segment": "Best segments first",
}


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 340) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        # below the x-axis title, growing downwards: a legend of several rows never covers it
        legend=dict(orientation="h", yanchor="top", y=-0.3, x=0),
    )
    return fig


def depth_curve_chart(curve: pl.DataFrame, chosen: int | None = None) -> go.Figure:
    """Expected profit (with its interval band) by share of the ranked audience contacted."""
    x = curve["depth"] * 100
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=curve["profit_upper"], line=dict(width=0), showlegend=False, hoverinfo="skip"
    )
    fig.add_scatter(
        x=x,
        y=curve["profit_lower"],
        fill="tonexty",
        line=dict(width=0),
        name="90% interval",
        fillcolor=PRIMARY_BAND,
        hoverinfo="skip",
    )
    fig.add_scatter(
        x=x,
        y=curve["profit"],
        name="expected profit",
        line=dict(color=PRIMARY),
        customdata=curve["contacts"],
        hovertemplate="%{x:.0f}% (%{customdata:,} contacts): %{y:,.0f}<extra></extra>",
    )
    best = curve.filter(pl.col("best"))
    if best.height:
        fig.add_scatter(
            x=best["depth"] * 100,
            y=best["profit"],
            mode="markers+text",
            marker=dict(size=12, color=GAIN, symbol="star"),
            name="best cut",
            text=["best cut"],
            textposition="top center",
        )
    over = curve.filter(~pl.col("within_budget"))
    if over.height:
        fig.add_vrect(
            x0=float(over["depth"].min() * 100),
            x1=100,
            fillcolor="grey",
            opacity=0.12,
            line_width=0,
            annotation_text="over budget",
        )
    if chosen is not None and curve.height:
        share = chosen / max(int(curve["contacts"].max()), 1) * 100
        fig.add_vline(x=share, line_dash="dash", annotation_text="this campaign")
    fig.add_hline(y=0, line_color="grey", line_width=1)
    return _layout(
        fig, "Profit by how deep you go", "share of the audience contacted (%)", "profit"
    )


def strategy_chart(strategies: pl.DataFrame, metric: str = "profit") -> go.Figure:
    """The same number of contacts chosen by each strategy: expected metric with its interval."""
    names = [_LABELS.get(s, s) for s in strategies["strategy"]]
    mean = strategies[metric]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=mean,
            error_y=dict(
                type="data",
                symmetric=False,
                array=strategies[f"{metric}_upper"] - mean,
                arrayminus=mean - strategies[f"{metric}_lower"],
            ),
            marker_color=[GAIN if v >= 0 else LOSS for v in mean],
        )
    )
    return _layout(fig, f"Incremental {metric.replace('_', ' ')} by targeting strategy", "", metric)


def qini_chart(curves: dict[str, list], truth: dict[str, list] | None = None) -> go.Figure:
    """Qini curves of the uplift model per arm (out-of-fold scores) against random targeting."""
    fig = go.Figure()
    for arm, points in curves.items():
        if not points:
            continue
        x = [p[0] * 100 for p in points]
        y = [p[1] for p in points]
        fig.add_scatter(x=x, y=y, name=f"model: {arm}")
        fig.add_scatter(x=[0, 100], y=[0, y[-1]], name=f"random: {arm}", line=dict(dash="dot"))
    for arm, points in (truth or {}).items():
        if points:
            fig.add_scatter(
                x=[p[0] * 100 for p in points],
                y=[p[1] for p in points],
                name=f"planted truth: {arm}",
                line=dict(dash="dash"),
            )
    return _layout(
        fig,
        "Qini curve (every customer, scored out of fold)",
        "share targeted (%)",
        "extra conversions",
    )


def persuadable_chart(
    shap: list[dict[str, Any]], labels: dict[str, str] | None = None
) -> go.Figure:
    """What makes a customer persuadable: mean |SHAP| of the uplift per feature, with direction."""
    rows = list(reversed(shap[:10]))
    labels = labels or {}
    names = [labels.get(r["feature"], r["feature"].replace("_", " ")) for r in rows]
    colors = [GAIN if r["direction"] >= 0 else LOSS for r in rows]
    fig = go.Figure(
        go.Bar(x=[r["importance"] for r in rows], y=names, orientation="h", marker_color=colors)
    )
    fig.update_layout(showlegend=False)
    return _layout(
        fig,
        "What makes a customer persuadable (green: more of it, more uplift)",
        "effect on uplift (mean |SHAP|)",
        "",
        height=360,
    )


def campaigns_chart(rows: list[dict[str, Any]]) -> go.Figure:
    """Saved campaigns side by side: expected profit with its interval."""
    names = [r["name"] for r in rows]
    profit = [r["outcome"]["profit"]["mean"] for r in rows]
    upper = [r["outcome"]["profit"]["upper"] - p for r, p in zip(rows, profit, strict=True)]
    lower = [p - r["outcome"]["profit"]["lower"] for r, p in zip(rows, profit, strict=True)]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=profit,
            error_y=dict(type="data", symmetric=False, array=upper, arrayminus=lower),
        )
    )
    return _layout(fig, "Saved campaigns: expected profit", "", "profit")
