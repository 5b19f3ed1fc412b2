"""GBMClassifier: scikit-learn contract, calibration, bagging, the linear start, round trips."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.core.errors import NotEnoughData
from models.predict.classifier import GBMClassifier
from models.predict.predictors import load_predictor
from tests.models.predict.synthetic import SMALL


def _binary(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(2 * X[:, 0] - X[:, 1])))
    return X, (rng.uniform(size=n) < p).astype(int), p


def test_classifier_contract_and_calibration():
    X, y, p_true = _binary()
    model = GBMClassifier(**SMALL)
    assert model.fit(X, y, feature_names=["a", "b", "c", "d"]) is model
    proba = model.predict_proba(X)
    assert proba.shape == (600, 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(model.predict(X)) <= {0, 1}
    assert model.feature_names_in_ == ["a", "b", "c", "d"] and model.best_iteration_ >= 1
    assert abs(proba[:, 1].mean() - y.mean()) < 0.08  # calibrated on average
    assert np.corrcoef(proba[:, 1], p_true)[0, 1] > 0.8
    assert model.get_params()["config"].n_estimators == 60


def test_classifier_round_trips_through_text_and_json():
    X, y, _ = _binary()
    model = GBMClassifier(**SMALL).fit(X, y)
    data = model.to_bytes()
    assert b"tree" in data  # LightGBM text inside JSON, no pickle
    again = load_predictor(data)
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))


def test_bagged_classifier_averages_its_boosters_and_round_trips():
    X, y, p_true = _binary()
    model = GBMClassifier(**SMALL, n_bags=3).fit(X, y)
    bags = model.bags()
    assert len(bags) == 3 and len({b.model_to_string() for b, _ in bags}) == 3
    mean = np.mean([b.predict(X, raw_score=True, num_iteration=it) for b, it in bags], axis=0)
    assert np.allclose(model.decision_function(X), mean)
    assert np.corrcoef(model.predict_proba(X)[:, 1], p_true)[0, 1] > 0.8
    again = load_predictor(model.to_bytes())
    assert len(again.bags()) == 3
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))


def test_linear_start_is_explained_exactly_and_round_trips():
    from models.predict.explain import explain_bagged, with_linear

    X, y, _ = _binary()
    X = np.abs(X) * 3  # counts-like inputs for the log1p logistic
    model = GBMClassifier(**SMALL, n_bags=2, linear_columns=[0, 1]).fit(X, y)
    contributions, intercept = model.linear_parts(X)
    assert np.all(contributions[:, 2:] == 0)  # only the linear columns contribute linearly
    expl = with_linear(explain_bagged(model.bags(), X, list("abcd")), contributions, intercept)
    assert np.allclose(expl.margin, model.decision_function(X))
    again = load_predictor(model.to_bytes())
    assert np.allclose(again.decision_function(X), model.decision_function(X))
    assert again.linear_parts(X)[1] == pytest.approx(intercept)


def test_classifier_needs_both_outcomes():
    X, _, _ = _binary()
    with pytest.raises(NotEnoughData):
        GBMClassifier(**SMALL).fit(X, np.zeros(len(X), dtype=int))
