"""Predictions page: train a predictor, read its card and reasons, look up one customer."""

import streamlit as st

from analytics.core.schema import Shape
from models.predict.service import (
    TrainSpec,
    customer_view,
    model_report,
    train_predictor,
    trained_targets,
)
from ui import state
from ui.charts_predictions import (
    TARGET_WORDS,
    beeswarm_chart,
    calibration_chart,
    dependence_chart,
    gains_chart,
    importance_chart,
    lift_chart,
    show_card,
    show_customer,
)
from ui.progress import progress_bar
from ui.widgets import showing_errors

st.title("Predictions")
ws, name = state.require_dataset(
    "No dataset yet: load the demo store or upload your own file on the Data page."
)
if ws.dataset(name).shape == Shape.CUSTOMERS:
    st.info(f"'{name}' is a customer table without activity over time: predictors need events.")
    st.stop()

target = st.selectbox("What to predict", list(TARGET_WORDS), format_func=TARGET_WORDS.get)
with st.form("train"):
    left, right = st.columns([3, 1])
    days = left.number_input("Horizon in days (0 = choose it for me from the data)", 0, 365, 0)
    go = right.form_submit_button("Train", type="primary", width="stretch")
if go:
    with showing_errors(), progress_bar("Training") as progress:
        spec = TrainSpec(target=target, horizon_days=int(days) or None)
        train_predictor(ws, name, spec, progress=progress)

report = model_report(ws, name, target)
if report is None:
    done = ", ".join(TARGET_WORDS[t] for t in trained_targets(ws, name)) or "none yet"
    st.info(f"No {TARGET_WORDS[target].lower()} model yet: press Train (trained: {done}).")
    st.stop()

card, labels = report.card, report.labels
st.subheader(f"{TARGET_WORDS[target]}: model card")
show_card(card)
quality, drivers, lookup = st.tabs(["Quality", "What drives the scores", "Customer lookup"])
with quality:
    if "calibration" in card:
        a, b = st.columns(2)
        a.plotly_chart(calibration_chart(card), width="stretch")
        b.plotly_chart(gains_chart(card), width="stretch")
    if "gains" in card:
        st.plotly_chart(lift_chart(card), width="stretch")
    st.caption(
        "Checked out of time: the model never saw the period it is scored on. "
        f"Baselines on the same split: {', '.join(card['baselines'])}."
    )
with drivers:
    a, b = st.columns(2)
    if not card["importance"]:
        a.caption(
            f"{TARGET_WORDS[target]} comes from the repeat-buying model: how often and how "
            "recently each customer bought, and what they spend per purchase day."
        )
    else:
        a.plotly_chart(importance_chart(card), width="stretch")
    if report.beeswarm.height:
        b.plotly_chart(beeswarm_chart(report.beeswarm), width="stretch")
    cols = st.columns(max(len(card["dependence"]), 1))
    for col, (feature, pts) in zip(cols, card["dependence"].items(), strict=False):
        col.plotly_chart(dependence_chart(pts, labels.get(feature, feature)), width="stretch")
with lookup:
    user = st.text_input("Customer id", placeholder=f"e.g. {report.example_user}")
    if user:
        with showing_errors():
            show_customer(customer_view(ws, name, user), labels)
