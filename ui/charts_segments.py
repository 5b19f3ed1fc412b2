"""Plotly builders and Streamlit glue for the Segments page (map, cards, RFM view)."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.features.user_features import describe_feature
from models.segments.clustering import SegmentProfile
from models.segments.service import SegmentationResult
from ui.chart_style import PEER, RFM_COLORS, SEGMENT_PALETTE

__all__ = [
    "rfm_groups_chart",
    "segment_comparison_chart",
    "segment_map_chart",
    "selected_user_ids",
    "show_segment_card",
]

_HOVER_FEATURES = ("orders", "revenue_total", "days_since_last_event", "avg_order_value")


def _colour(segment: int) -> str:
    return SEGMENT_PALETTE[segment % len(SEGMENT_PALETTE)]


def segment_map_chart(df: pl.DataFrame, colour: str) -> go.Figure:
    """The customer map as WebGL points: one trace per segment, or one coloured by a number."""
    hover = [c for c in _HOVER_FEATURES if c in df.columns]
    custom = df.select("user_id", "segment_name", *hover).to_numpy()
    lines = ["<b>%{customdata[0]}</b>", "%{customdata[1]}"] + [
        f"{describe_feature(c)}: %{{customdata[{i + 2}]:,.0f}}" for i, c in enumerate(hover)
    ]
    template = "<br>".join(lines) + "<extra></extra>"
    fig = go.Figure()
    if colour == "segment":
        for seg in sorted(df["segment"].unique().to_list()):
            rows = (df["segment"] == seg).to_numpy()
            sub = df.filter(pl.Series(rows))
            fig.add_trace(
                go.Scattergl(
                    x=sub["x"], y=sub["y"], mode="markers", name=sub["segment_name"][0],
                    marker={"size": 3, "color": _colour(seg), "opacity": 0.7},
                    customdata=custom[rows], hovertemplate=template,
                )
            )  # fmt: skip
    else:
        fig.add_trace(
            go.Scattergl(
                x=df["x"], y=df["y"], mode="markers", name=colour, customdata=custom,
                marker={"size": 3, "color": df[colour].fill_null(np.nan).to_numpy(),
                        "colorscale": "Viridis", "showscale": True, "opacity": 0.8,
                        "colorbar": {"title": {"text": colour[:18]}}},
                hovertemplate=template,
            )
        )  # fmt: skip
    fig.update_layout(
        height=560, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="lasso",
        legend={"itemsizing": "constant", "orientation": "h", "y": -0.05},
        xaxis={"visible": False}, yaxis={"visible": False},
    )  # fmt: skip
    return fig


def selected_user_ids(event: Any) -> list[str]:
    """User ids of the points picked with the lasso or the box (customdata[0])."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    return [str(p["customdata"][0]) for p in points if p.get("customdata")]


def segment_comparison_chart(profile: SegmentProfile) -> go.Figure:
    """Lift of the segment's most distinctive traits against everyone (1 = like everyone)."""
    traits = list(profile.traits)[:5][::-1]
    fig = go.Figure(
        go.Bar(
            x=[t.lift for t in traits], y=[t.label for t in traits], orientation="h",
            marker_color=["#54A24B" if t.lift >= 1 else "#E45756" for t in traits],
            hovertemplate="%{y}: %{x:.2f}x everyone<extra></extra>",
        )
    )  # fmt: skip
    fig.add_vline(x=1.0, line_dash="dot", line_color="grey")
    fig.update_layout(height=200, margin={"l": 0, "r": 0, "t": 0, "b": 0}, xaxis_title="x everyone")
    return fig


def show_segment_card(profile: SegmentProfile) -> None:
    """One segment: size, value, rule, traits and a small comparison chart."""
    with st.container(border=True):
        st.markdown(f"**{profile.segment}. {profile.name}**")
        st.caption(f"{profile.share_users:.0%} of all customers")
        a, b, c = st.columns(3)
        a.metric("Customers", f"{profile.size:,}", help=f"{profile.share_users:.1%} of all")
        b.metric("Share of revenue", f"{profile.share_revenue:.0%}")
        c.metric("Revenue per customer", f"{profile.revenue_per_user:,.0f}")
        for rule in profile.rules:
            st.caption(
                f"Rule: {rule.text} — precision {rule.precision:.0%}, coverage {rule.coverage:.0%}"
            )
        if profile.top_categories:
            cats = ", ".join(f"{c} ({s:.0%})" for c, s in profile.top_categories)
            st.caption(f"Top categories: {cats}")
        trend = profile.activity_trend
        word = "growing" if trend > 1.1 else "cooling" if trend < 0.9 else "steady"
        st.caption(f"Activity trend: {word} ({trend:.2f} recent vs earlier activity)")
        if profile.traits:
            st.plotly_chart(segment_comparison_chart(profile), key=f"cmp_{profile.segment}")


def rfm_groups_chart(rfm: pl.DataFrame) -> go.Figure:
    """Customers per classic RFM group."""
    counts = rfm.group_by("rfm_group").agg(pl.len().alias("n")).sort("n", descending=True)
    fig = go.Figure(
        go.Bar(
            x=counts["rfm_group"],
            y=counts["n"],
            marker_color=[RFM_COLORS.get(g, PEER) for g in counts["rfm_group"]],
        )
    )
    fig.update_layout(height=300, margin={"l": 0, "r": 0, "t": 10, "b": 0}, yaxis_title="customers")
    return fig


def result_caption(result: SegmentationResult) -> str:
    """One line on how the segments were made."""
    return (
        f"{result.n_users:,} customers as of {result.cutoff[:10]} · {result.k} segments "
        f"({'chosen by silhouette' if result.chosen_by == 'silhouette' else 'as asked'}) · "
        f"map trustworthiness {result.trustworthiness:.2f} · trained on {result.device} in "
        f"{result.seconds:.0f} s"
    )
