"""Predictions page glue: plotly charts of the model card and the widgets that draw it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from models.predict.service import CustomerView
from ui.chart_style import PEER, PRIMARY, margin
from ui.widgets import noted_metric

__all__ = [
    "TARGET_WORDS",
    "beeswarm_chart",
    "calibration_chart",
    "dependence_chart",
    "gains_chart",
    "importance_chart",
    "lift_chart",
    "show_card",
    "show_customer",
    "timeline_chart",
]

_MARGIN = margin(top=40)
TARGET_WORDS = {
    "purchase": "Purchase probability",
    "churn": "Churn risk",
    "buyer_churn": "Buyer churn risk",
    "revenue": "Future revenue",
    "next_category": "Next category",
    "clv": "Lifetime value",
    "next_order": "Next order (days)",
}


def _layout(fig: go.Figure, title: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=title, margin=_MARGIN, height=height, template="plotly_white",
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


def calibration_chart(card: dict[str, Any]) -> go.Figure:
    """Predicted vs observed rate by score bin, against the diagonal."""
    c = card["calibration"]
    fig = go.Figure()
    top = max(max(c["predicted"]), max(c["observed"]), 0.01)
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="Perfect",
                    line={"color": PEER, "dash": "dot"})  # fmt: skip
    bars = None
    if "observed_high" in c:  # the observed rate's exact 90% interval per bin
        up = [h - o for h, o in zip(c["observed_high"], c["observed"], strict=True)]
        down = [o - lo for lo, o in zip(c["observed_low"], c["observed"], strict=True)]
        bars = {"type": "data", "array": up, "arrayminus": down, "color": PRIMARY}
        top = max(top, *c["observed_high"])
    fig.add_scatter(x=c["predicted"], y=c["observed"], mode="lines+markers", name="Model",
                    line={"color": PRIMARY}, error_y=bars)  # fmt: skip
    fig.update_xaxes(title="Predicted probability", tickformat=".0%")
    fig.update_yaxes(title="Observed rate", tickformat=".0%")
    return _layout(fig, "Calibration: do the probabilities come true?")


def gains_chart(card: dict[str, Any]) -> go.Figure:
    """Cumulative share of positives captured by the top x% of users: model, baseline, random."""
    g, b = card["gains"], card.get("baseline_gains")
    x = [0.0, *g["cum_share_users"]]
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="Random",
                    line={"color": PEER, "dash": "dot"})  # fmt: skip
    if b:
        fig.add_scatter(x=x, y=[0.0, *b["cum_gain"]], mode="lines", name="Baseline",
                        line={"color": "#F59E0B"})  # fmt: skip
    fig.add_scatter(x=x, y=[0.0, *g["cum_gain"]], mode="lines+markers", name="Model",
                    line={"color": PRIMARY})  # fmt: skip
    fig.update_xaxes(title="Share of customers contacted (highest scores first)", tickformat=".0%")
    fig.update_yaxes(title="Share of outcomes captured", tickformat=".0%")
    return _layout(fig, "Cumulative gains")


def lift_chart(card: dict[str, Any]) -> go.Figure:
    """Lift by score decile (1 = the top 10% of scores)."""
    g = card["gains"]
    fig = go.Figure(go.Bar(x=[f"D{d}" for d in g["decile"]], y=g["lift"], marker_color=PRIMARY))
    fig.add_hline(y=1.0, line_dash="dot", line_color=PEER)
    fig.update_yaxes(title="Lift (× the average rate)")
    return _layout(fig, "Lift by decile")


def importance_chart(card: dict[str, Any], top: int = 10) -> go.Figure:
    """Mean |SHAP| per feature, in plain words."""
    imp = card["importance"][:top][::-1]
    fig = go.Figure(go.Bar(x=[r["mean_abs_shap"] for r in imp], y=[r["label"] for r in imp],
                           orientation="h", marker_color=PRIMARY))  # fmt: skip
    fig.update_xaxes(title="Average impact on the score (SHAP, log-odds)")
    return _layout(fig, "What drives the scores", height=380)


def beeswarm_chart(frame: pl.DataFrame) -> go.Figure:
    """SHAP value per user for the top features; colour = the feature's value (low → high)."""
    order = frame.group_by("label").agg(pl.col("shap").abs().mean().alias("m")).sort("m")["label"]
    rank = {name: i for i, name in enumerate(order.to_list())}
    y = np.array([rank[n] for n in frame["label"]], dtype=float)
    y += np.random.default_rng(0).uniform(-0.3, 0.3, len(y))
    fig = go.Figure(go.Scattergl(
        x=frame["shap"].to_numpy(), y=y, mode="markers",
        marker={"size": 4, "color": frame["value_rank"].to_numpy(), "colorscale": "Bluered",
                "colorbar": {"title": "value", "tickvals": [0, 1], "ticktext": ["low", "high"]}},
        hovertext=[f"{n}: {v:,.2f}" for n, v in zip(frame["label"], frame["value"], strict=True)],
    ))  # fmt: skip
    fig.update_yaxes(tickvals=list(rank.values()), ticktext=list(rank.keys()))
    fig.update_xaxes(title="Impact on the score (SHAP)")
    return _layout(fig, "Each dot is a customer", height=420)


def dependence_chart(points: dict[str, list[float]], label: str) -> go.Figure:
    """How one feature's value moves the score."""
    fig = go.Figure(go.Scattergl(x=points["value"], y=points["shap"], mode="markers",
                                 marker={"size": 4, "color": PRIMARY, "opacity": 0.5}))  # fmt: skip
    fig.update_xaxes(title=label)
    fig.update_yaxes(title="Impact (SHAP)")
    return _layout(fig, label[:1].upper() + label[1:], height=300)


def timeline_chart(events: pl.DataFrame) -> go.Figure:
    """A customer's events over time, one row per event type."""
    fig = go.Figure(go.Scatter(
        x=events["event_time"].to_list(), y=events["event_type"].cast(pl.String).to_list(),
        mode="markers", marker={"size": 9, "color": PRIMARY, "opacity": 0.7},
        hovertext=events["category"].cast(pl.String).fill_null("").to_list()
        if "category" in events.columns else None,
    ))  # fmt: skip
    return _layout(fig, "Timeline", height=260)


def _day(text: str) -> str:
    return f"{datetime.fromisoformat(text):%d %b %Y}"


def _ci(metrics: dict[str, Any], key: str) -> str:
    """`` (90%: low–high)`` after a figure, or nothing when the card has no interval."""
    ci = metrics.get(f"{key}_ci")
    return f" (90%: {ci[0]:.3f}–{ci[1]:.3f})" if ci else ""


def show_card(card: dict[str, Any]) -> None:
    """The model card: quality word and numbers, the baseline beside it, device, time, window."""
    m, b = card["metrics"], card["baseline"]
    cols = st.columns(5)
    if "auc" in m:
        noted_metric(cols[0], "Model quality", m["quality"], f"AUC {m['auc']:.3f}{_ci(m, 'auc')}")
    else:
        cols[0].metric("Model quality", m.get("quality", "—"))
    if b.get("auc") is not None:
        noted_metric(
            cols[1], f"Baseline ({b['name']})", b.get("quality", ""), f"AUC {b['auc']:.3f}"
        )
    elif "top1" in b:
        cols[1].metric(f"Baseline ({b['name']})", f"{b['top1']:.0%} right")
    if "top_decile_lift" in m:
        lift = m.get("top_decile_lift_ci")
        note = f"90%: {lift[0]:.1f}× to {lift[1]:.1f}×" if lift else ""
        noted_metric(cols[2], "Top-10% lift", f"{m['top_decile_lift']:.1f}×", note)
    elif "top1" in m:
        noted_metric(cols[2], "Top guess right", f"{m['top1']:.0%}", f"top 3: {m['top3']:.0%}")
    elif "mae" in m:
        noted_metric(cols[2], "Typical error", f"{m['mae']:,.2f}", f"total bias {m['bias']:+.0%}")
    noted_metric(cols[3], "Trained on", card["device"], f"{card['seconds']:.0f} s")
    cols[4].metric("Horizon", f"{card['horizon_days']} days")
    if "orderers" in m and "coverage" in m:
        st.caption(
            f"Checked on the {m['horizon_days_checked']} days after "
            f"{_day(card['window']['eval_cutoff'])}: {m['coverage']:.0%} of the "
            f"{m['orderers']:,} customers who ordered did so within their 80% range (median "
            f"error {m['median_error_days']:.0f} days); {m['expected_orderers']:,.0f} orders were "
            "expected."
        )
    if "coverage" in m and "bias" in m:
        st.caption(
            f"Checked on the {m['horizon_days_checked']} days after "
            f"{_day(card['window']['eval_cutoff'])}: "
            f"predicted total {m['predicted_total']:,.0f} against {m['actual_total']:,.0f} actual "
            f"({m['bias']:+.1%}; 90%: {m['bias_ci'][0]:+.1%} to {m['bias_ci'][1]:+.1%}); "
            f"{m['coverage']:.0%} of customers spent within their 80% range."
        )
    for note in m.get("notes", []):
        st.warning(note)
    w = card["window"]
    comp = card.get("comparison") or {}
    if "auc" in comp:
        a = comp["auc"]
        st.caption(
            f"Sequence model (GRU, {comp['sequence_device']}, {comp['sequence_seconds']:.0f} s): "
            f"AUC {a['sequence']:.3f} against LightGBM {a['lightgbm']:.3f} and a blend "
            f"{a['blend']:.3f} on the same split; the scores use **{comp['used']}**."
        )
    elif "skipped" in comp:
        st.caption(f"Scores from LightGBM; the {comp['skipped']}.")
    clv = card.get("clv") or {}
    if "total" in clv:
        st.caption(
            f"365-day customer value ({clv['method']}): {clv['total']:,.0f} in total, "
            f"{clv['mean']:,.2f} per customer on average, {clv['top_decile_share']:.0%} of it from "
            "the top 10% (column `clv_365` of the scores)."
        )
    st.caption(
        f"{card['horizon_reason']} Data from {_day(w['first_event'])}; trained with history to "
        f"{_day(w['train_cutoff'])}, checked out of time on the {card['horizon_days']} days after "
        f"{_day(w['eval_cutoff'])}; scores are as of {_day(w['score_cutoff'])}."
    )


def show_customer(view: CustomerView, labels: dict[str, str]) -> None:
    """One customer: segment, every score with its reasons, timeline and features."""
    st.markdown(f"**Segment:** {view.segment or 'not segmented yet (see the Segments page)'}")
    for s in view.scores:
        word = TARGET_WORDS[s["target"]]
        value = (f"{s['category']} ({s['score']:.0%})" if s["target"] == "next_category"
                 else f"{s['score']:,.2f}" if s["target"] in ("revenue", "clv", "next_order")
                 else f"{s['score_100']} / 100")  # fmt: skip
        if "lower" in s and "upper" in s:
            value += f" (80% range {s['lower']:,.2f} to {s['upper']:,.2f})"
        st.markdown(f"**{word}: {value}** — percentile {s['percentile']:.0f}")
        for text in s["reasons"]:
            st.markdown(f"- {text}")
    st.plotly_chart(timeline_chart(view.events), width="stretch")
    rows = [{"feature": labels.get(k, k), "value": round(v, 2)} for k, v in view.features.items()]
    st.dataframe(pl.DataFrame(rows), hide_index=True, height=260)
