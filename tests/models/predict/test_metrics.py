"""Metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.predict.metrics import (
    calibration_curve,
    category_metrics,
    classification_metrics,
    gains_table,
    quality_word,
    regression_metrics,
)


def test_quality_words():
    assert [quality_word(v) for v in (0.55, 0.72, 0.85, 0.93, None)] == [
        "Poor",
        "Fair",
        "Good",
        "Excellent",
        "Unknown",
    ]


def test_classification_metrics_on_a_hand_case():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p)
    assert m["auc"] == pytest.approx(0.75)  # 3 of 4 positive-negative pairs ordered right
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["base_rate"] == 0.5
    assert m["quality"] == "Fair"


def test_single_class_has_no_auc_but_does_not_fail():
    m = classification_metrics(np.zeros(5, dtype=int), np.full(5, 0.2))
    assert "auc" not in m and m["quality"] == "Unknown"


def test_gains_and_lift_by_decile():
    y = np.array([1] * 10 + [0] * 90)
    score = np.linspace(1, 0, 100)  # perfect ranking: all positives in decile 1
    g = gains_table(y, score)
    assert g["lift"][0] == pytest.approx(10.0)
    assert g["cum_gain"][0] == pytest.approx(1.0)
    assert g["cum_gain"][-1] == pytest.approx(1.0)
    assert g["users"].sum() == 100


def test_calibration_curve_bins_are_equal_count():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=1000)
    y = rng.uniform(size=1000) < p
    c = calibration_curve(y, p, bins=5)
    assert c["users"].to_list() == [200] * 5
    assert np.allclose(c["predicted"], c["observed"], atol=0.07)
    assert (c["observed_low"] <= c["observed"]).all() and (
        c["observed"] <= c["observed_high"]
    ).all()
    # a bin of 200 at a rate near 0.5: the exact interval is about ±1.645·√(¼/200) ≈ ±0.058
    middle = c.row(2, named=True)
    assert middle["observed_high"] - middle["observed_low"] == pytest.approx(0.116, abs=0.01)


def test_regression_metrics_bias_and_errors():
    m = regression_metrics(np.array([0.0, 10.0, 30.0]), np.array([5.0, 10.0, 25.0]))
    assert m["mae"] == pytest.approx(10 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(50 / 3))
    assert m["bias"] == pytest.approx(0.0)
    assert m["spearman"] == pytest.approx(1.0)


def test_category_metrics():
    m = category_metrics(["a", "b", "c"], [["a", "b"], ["c", "d", "b"], []])
    assert m["top1"] == pytest.approx(1 / 3)
    assert m["top3"] == pytest.approx(2 / 3)
