"""Plotly charts and display tables of the Recommendations page (no Streamlit here)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ui.chart_style import PEER, PRIMARY

__all__ = ["TASKS", "comparison_table", "model_comparison_chart"]

TASKS = {
    "all": "Everything they bought next",
    "new": "First-time purchases only",
}
_BASELINE = "popularity"


def comparison_table(table: pl.DataFrame, task: str, chosen: str) -> pl.DataFrame:
    """One row per model for ``task``: NDCG and its ratio to the best-seller baseline beside it."""
    rows = table.filter(pl.col("task") == task)
    base = rows.filter(pl.col("model") == _BASELINE)["ndcg"]
    base_ndcg = float(base[0]) if base.len() else float("nan")
    return rows.sort("ndcg", descending=True).select(
        pl.when(pl.col("model") == chosen)
        .then(pl.col("label") + " ✓")
        .otherwise(pl.col("label"))
        .alias("Model"),
        pl.col("ndcg").alias("NDCG"),
        pl.lit(base_ndcg).alias("Baseline NDCG"),
        (pl.col("ndcg") / base_ndcg).alias("x baseline"),
        pl.col("recall").alias("Recall"),
        pl.col("hit_rate").alias("Hit rate"),
        pl.col("coverage").alias("Catalogue coverage"),
        pl.col("popularity_bias").alias("Popularity bias"),
    )


def model_comparison_chart(table: pl.DataFrame, task: str, chosen: str, k: int) -> go.Figure:
    """Horizontal NDCG@K bars per model, the chosen one highlighted, the baseline as a line."""
    rows = table.filter(pl.col("task") == task).sort("ndcg")
    colours = [PRIMARY if m == chosen else PEER for m in rows["model"]]
    fig = go.Figure(
        go.Bar(
            x=rows["ndcg"].to_list(),
            y=rows["label"].to_list(),
            orientation="h",
            marker_color=colours,
            text=[f"{v:.3f}" for v in rows["ndcg"]],
            textposition="outside",
            hovertemplate="%{y}<br>NDCG@" + str(k) + " %{x:.3f}<extra></extra>",
        )
    )
    base = rows.filter(pl.col("model") == _BASELINE)["ndcg"]
    if base.len():
        fig.add_vline(
            x=float(base[0]),
            line_dash="dash",
            line_color="#dc2626",
            annotation_text="best sellers",
            annotation_position="top",
        )
    fig.update_layout(
        height=60 + 38 * rows.height,
        margin={"l": 10, "r": 40, "t": 30, "b": 30},
        xaxis_title=f"NDCG@{k} (higher is better)",
        showlegend=False,
    )
    return fig
