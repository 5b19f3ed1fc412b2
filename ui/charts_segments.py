"""Plotly builders and Streamlit glue for the Segments page (map, cards, RFM view).

Names from data (segment names, categories, rules, customer ids) go through ``ui.safe_text``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.core.schema import USER_ID
from models.segments.service import (
    ColourChoice,
    SegmentationResult,
    SegmentProfile,
    describe_feature,
)
from ui.chart_style import PEER, RFM_COLORS, SEGMENT_PALETTE
from ui.safe_text import chart_text, chart_texts, plain

__all__ = [
    "result_caption",
    "rfm_groups_chart",
    "segment_comparison_chart",
    "segment_map_chart",
    "selected_user_ids",
    "show_segment_card",
]

_HOVER_FEATURES = ("orders", "revenue_total", "days_since_last_event", "avg_order_value")


def _colour(segment: int) -> str:
    return SEGMENT_PALETTE[segment % len(SEGMENT_PALETTE)]


def _hover(df: pl.DataFrame) -> tuple[np.ndarray, str]:
    """customdata and its hover template.

    customdata[0] is the raw id (read back by ``selected_user_ids``); the hover shows the
    escaped id and segment name (1, 2), then the hover features.
    """
    hover = [c for c in _HOVER_FEATURES if c in df.columns]
    shown = [
        df[USER_ID].cast(pl.String).alias("_id"),
        pl.Series("_shown_id", chart_texts(df[USER_ID])),
        pl.Series("_name", chart_texts(df["segment_name"])),
    ]
    custom = pl.DataFrame(shown + [df[c] for c in hover]).to_numpy()
    lines = ["<b>%{customdata[1]}</b>", "%{customdata[2]}"] + [
        f"{describe_feature(c)}: %{{customdata[{i + 3}]:,.0f}}" for i, c in enumerate(hover)
    ]
    return custom, "<br>".join(lines) + "<extra></extra>"


def _log_marker(values: np.ndarray) -> dict[str, Any]:
    """Colours on log(1 + value), with the colour bar's ticks in the values' own units."""
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    ticks = [0.0] + [10.0**e for e in range(int(np.log10(max(top, 1.0))) + 1)]
    return {
        "color": np.log1p(np.clip(values, 0, None)),
        "colorbar": {
            "tickvals": np.log1p(ticks).tolist(),
            "ticktext": [f"{t:,.0f}" for t in ticks],
        },
    }


def segment_map_chart(df: pl.DataFrame, colour: ColourChoice) -> go.Figure:
    """The customer map as WebGL points: one trace per segment, or one coloured by a number."""
    custom, template = _hover(df)
    fig = go.Figure()
    if colour.scale == "segment":
        for seg in sorted(df["segment"].unique().to_list()):
            rows = (df["segment"] == seg).to_numpy()
            sub = df.filter(pl.Series(rows))
            fig.add_trace(
                go.Scattergl(
                    x=sub["x"], y=sub["y"], mode="markers", name=chart_text(sub["segment_name"][0]),
                    marker={"size": 3, "color": _colour(seg), "opacity": 0.7},
                    customdata=custom[rows], hovertemplate=template,
                )
            )  # fmt: skip
    else:
        values = df[colour.column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        marker: dict[str, Any] = {"color": values, "colorbar": {}}
        if colour.scale == "log":
            marker = _log_marker(values)
        # upright along the bar: a long plain-words name neither cut off nor under the toolbar
        marker["colorbar"]["title"] = {"text": chart_text(colour.label), "side": "right"}
        fig.add_trace(
            go.Scattergl(
                x=df["x"], y=df["y"], mode="markers", name=chart_text(colour.label),
                customdata=custom, hovertemplate=template,
                marker={"size": 3, "colorscale": "Viridis", "showscale": True, "opacity": 0.8}
                | marker,
            )
        )  # fmt: skip
    fig.update_layout(
        height=560, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="lasso",
        legend={"itemsizing": "constant", "orientation": "h", "y": -0.05},
        xaxis={"visible": False}, yaxis={"visible": False},
    )  # fmt: skip
    return fig


def selected_user_ids(event: Any) -> list[str]:
    """User ids of the points picked with the lasso or the box (customdata[0], the raw id)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    return [str(p["customdata"][0]) for p in points if p.get("customdata")]


def segment_comparison_chart(profile: SegmentProfile) -> go.Figure:
    """Lift of the segment's most distinctive traits against everyone (1 = like everyone)."""
    traits = list(profile.traits)[:5][::-1]
    fig = go.Figure(
        go.Bar(
            x=[t.lift for t in traits], y=chart_texts(t.label for t in traits), orientation="h",
            marker_color=["#54A24B" if t.lift >= 1 else "#E45756" for t in traits],
            hovertemplate="%{y}: %{x:.2f}x everyone<extra></extra>",
        )
    )  # fmt: skip
    fig.add_vline(x=1.0, line_dash="dot", line_color="grey")
    fig.update_layout(height=200, margin={"l": 0, "r": 0, "t": 0, "b": 0}, xaxis_title="x everyone")
    return fig


def show_segment_card(profile: SegmentProfile, min_size: int) -> None:
    """One segment: size, value, rule, traits and a small comparison chart (small: size only)."""
    with st.container(border=True):
        st.markdown(f"**{profile.segment}. {plain(profile.name)}**")
        st.caption(f"{profile.share_users:.0%} of all customers")
        if profile.suppressed:
            st.metric("Customers", f"{profile.size:,}")
            st.caption(
                f"Fewer than {min_size} customers: their spend and profile are not shown, "
                "so that no one can be recognised in them."
            )
            return
        a, b, c = st.columns(3)
        a.metric("Customers", f"{profile.size:,}", help=f"{profile.share_users:.1%} of all")
        b.metric("Share of revenue", f"{profile.share_revenue:.0%}")
        c.metric("Revenue per customer", f"{profile.revenue_per_user:,.0f}")
        for rule in profile.rules:
            st.caption(
                f"Rule: {plain(rule.text)} — precision {rule.precision:.0%}, "
                f"coverage {rule.coverage:.0%}"
            )
        if profile.top_categories:
            cats = ", ".join(f"{plain(c)} ({s:.0%})" for c, s in profile.top_categories)
            st.caption(f"Top categories: {cats}")
        trend = profile.activity_trend
        word = "growing" if trend > 1.1 else "cooling" if trend < 0.9 else "steady"
        st.caption(f"Activity trend: {word} ({trend:.2f} recent vs earlier activity)")
        if profile.traits:
            st.plotly_chart(segment_comparison_chart(profile), key=f"cmp_{profile.segment}")


def rfm_groups_chart(groups: pl.DataFrame) -> go.Figure:
    """Customers per classic RFM group (``rfm_group, customers``)."""
    fig = go.Figure(
        go.Bar(
            x=groups["rfm_group"].cast(pl.String),
            y=groups["customers"],
            marker_color=[RFM_COLORS.get(g, PEER) for g in groups["rfm_group"].cast(pl.String)],
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
