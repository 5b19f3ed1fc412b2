"""SHAP values sum to the model output, agree with shap.TreeExplainer, and read as reasons."""

from __future__ import annotations

import numpy as np
import pytest
import shap

from models.predict.category import GBMCategory
from models.predict.classifier import GBMClassifier
from models.predict.explain import (
    beeswarm_frame,
    dependence_frame,
    explain_trees,
    global_importance,
    reason_text,
    reasons_frame,
    score_points,
)
from models.predict.gbm import GBMConfig

NAMES = ["purchases_28d", "days_since_last_purchase", "noise"]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.poisson(2, 800), rng.integers(0, 60, 800), rng.normal(size=800)]
    ).astype(float)
    logit = 1.5 * (X[:, 0] - 2) - 0.02 * X[:, 1]
    y = (rng.uniform(size=800) < 1 / (1 + np.exp(-logit))).astype(int)
    model = GBMClassifier(
        config=GBMConfig(n_estimators=60, early_stopping_rounds=10), n_jobs=1
    ).fit(X, y, feature_names=NAMES)
    return model, X


def test_shap_values_sum_to_the_raw_output(fitted):
    model, X = fitted
    expl = explain_trees(model.booster_, X, NAMES, num_iteration=model.best_iteration_)
    assert np.allclose(expl.margin, model.decision_function(X), atol=1e-6)


def test_agrees_with_shap_tree_explainer(fitted):
    model, X = fitted
    ours = explain_trees(model.booster_, X[:50], NAMES, num_iteration=model.best_iteration_)
    model.booster_.best_iteration = model.best_iteration_
    theirs = shap.TreeExplainer(model.booster_).shap_values(X[:50])
    assert np.allclose(ours.values, np.asarray(theirs), atol=1e-5)


def test_points_add_up_to_the_score_and_name_the_driver(fitted):
    model, X = fitted
    expl = explain_trees(model.booster_, X, NAMES, num_iteration=model.best_iteration_)
    points, base = score_points(expl, model.calibrate)
    score = model.predict_proba(X)[:, 1] * 100
    assert np.allclose(points.sum(axis=1), score - base, atol=1e-6)
    imp = global_importance(expl, {"purchases_28d": "purchases in the last 28 days"})
    assert imp["feature"][0] == "purchases_28d"
    assert imp["label"][0] == "purchases in the last 28 days"
    assert imp["feature"][-1] == "noise"
    reasons = reasons_frame([f"u{i}" for i in range(len(X))], points, X, NAMES, {}, k=2)
    assert reasons.height == 2 * len(X) and set(reasons["rank"]) == {1, 2}
    for row in reasons.head(20).iter_rows(named=True):  # vectorised text == reason_text
        assert row["text"] == reason_text(row["feature"], row["value"], row["points"], {})
    top = reasons.filter(reasons["rank"] == 1)
    assert (top["feature"] == "purchases_28d").mean() > 0.5


def test_reason_text_reads_like_a_sentence():
    labels = {"purchases_28d": "purchases in the last 28 days"}
    assert reason_text("purchases_28d", 3.0, 12.4, labels) == (
        "3 purchases in the last 28 days: +12 points"
    )
    assert reason_text(
        "view_to_cart_rate", 0.25, -0.42, {"view_to_cart_rate": "views to cart"}
    ) == ("25% views to cart: −0.4 points")


def test_beeswarm_and_dependence_frames_sample(fitted):
    model, X = fitted
    expl = explain_trees(model.booster_, X, NAMES)
    bees = beeswarm_frame(expl, X, top=2, sample=100)
    assert bees.height == 200 and bees["value_rank"].is_between(0, 1).all()
    dep = dependence_frame(expl, X, "days_since_last_purchase", sample=50)
    assert dep.height == 50 and dep.columns == ["value", "shap"]


def test_multiclass_explains_the_chosen_class():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0, "a", "b")
    model = GBMCategory(config=GBMConfig(n_estimators=30, early_stopping_rounds=5), n_jobs=1).fit(
        X, y
    )
    expl = explain_trees(model.booster_, X, ["x0", "x1"], class_index=1)
    raw = model.booster_.predict(X, raw_score=True)[:, 1]
    assert np.allclose(expl.margin, raw, atol=1e-6)
