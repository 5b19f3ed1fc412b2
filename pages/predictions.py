"""Predictions page: train a predictor, read its card and reasons, look up one customer."""

import streamlit as st

from analytics.core.schema import Shape
from analytics.features.user_features import feature_labels
from models.predict.service import (
    TrainSpec,
    customer_view,
    load_card,
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

card = load_card(ws, name, target)
if card is None:
    done = ", ".join(TARGET_WORDS[t] for t in trained_targets(ws, name)) or "none yet"
    st.info(f"No {TARGET_WORDS[target].lower()} model yet: press Train (trained: {done}).")
    st.stop()

st.subheader(f"{TARGET_WORDS[target]}: model card")
show_card(card)
labels = {**feature_labels(card["feature_names"]), **{r["feature"]: r["label"]
                                                      for r in card["importance"]}}  # fmt: skip
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
    a.plotly_chart(importance_chart(card), width="stretch")
    swarm = ws.read_frame(name, f"shap_{target}")
    if swarm is not None and swarm.height:
        b.plotly_chart(beeswarm_chart(swarm), width="stretch")
    cols = st.columns(max(len(card["dependence"]), 1))
    for col, (feature, pts) in zip(cols, card["dependence"].items(), strict=False):
        col.plotly_chart(dependence_chart(pts, labels.get(feature, feature)), width="stretch")
with lookup:
    scores = ws.read_frame(name, f"scores_{target}")
    example = scores.sort("score", descending=True)["user_id"][0] if scores is not None else ""
    user = st.text_input("Customer id", placeholder=f"e.g. {example}")
    if user:
        with showing_errors():
            show_customer(customer_view(ws, name, user), labels)
