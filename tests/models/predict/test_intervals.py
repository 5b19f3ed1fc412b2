"""Intervals on quality figures: exact per resample, hand-checkable on small cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.predict.intervals import (
    bootstrap_counts,
    classification_intervals,
    clopper_pearson,
    regression_intervals,
    uncertainty_notes,
    weighted_auc,
)
from models.predict.metrics import gains_table


def test_weighted_auc_is_the_auc_of_the_resampled_rows_ties_included():
    y = np.array([0, 1, 0, 1, 1, 0, 0])
    s = np.array([0.2, 0.2, 0.5, 0.9, 0.5, 0.1, 0.7])  # ties across classes count as half
    counts = bootstrap_counts(len(y), resamples=5, seed=3)
    for row in counts:
        idx = np.repeat(np.arange(len(y)), row.astype(int))
        assert weighted_auc(y, s, row)[0] == pytest.approx(roc_auc_score(y[idx], s[idx]))


def test_hand_case_auc_and_perfect_separation():
    # 3 of 4 positive-negative pairs ordered right
    assert weighted_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), np.ones(4))[
        0
    ] == pytest.approx(0.75)
    y = np.array([0] * 50 + [1] * 50)
    out = classification_intervals(y, np.linspace(0, 1, 100))
    assert out["auc_ci"] == [1.0, 1.0]  # every resample is separated perfectly
    assert not any("guessing" in n or "roughly" in n for n in out["notes"])


def test_top_decile_lift_matches_the_gains_table_on_the_full_sample():
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=203) < 0.3).astype(int)  # 203 rows: the top group holds 21
    s = rng.uniform(size=203) + y
    from models.predict.intervals import _top_decile_lift

    assert _top_decile_lift(y, s, np.ones((1, 203)))[0] == pytest.approx(
        gains_table(y, s)["lift"][0]
    )


def test_calibration_error_by_hand():
    from models.predict.intervals import _calibration_error

    y = np.array([0, 0, 0, 1] * 10)
    assert _calibration_error(y, np.full(40, 0.25), np.ones((1, 40)))[0] == pytest.approx(0.0)
    assert _calibration_error(y, np.full(40, 0.75), np.ones((1, 40)))[0] == pytest.approx(0.5)


def test_auc_interval_width_agrees_with_hanley_mcneil():
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=2000) < 0.3).astype(int)
    s = rng.normal(size=2000) + 1.2 * y
    out = classification_intervals(y, s)
    a, n1, n0 = roc_auc_score(y, s), y.sum(), (1 - y).sum()
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0))
    low, high = out["auc_ci"]
    assert low < a < high
    assert high - low == pytest.approx(2 * 1.645 * se, rel=0.25)


def test_guessing_model_gets_words_a_clear_one_does_not():
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=300) < 0.3).astype(int)
    noise = classification_intervals(y, rng.uniform(size=300), baseline=rng.uniform(size=300))
    text = " ".join(noise["notes"])
    assert "no better than guessing" in text and "top 10%" in text
    clear = classification_intervals(y, 0.1 + 0.5 * y + rng.uniform(0, 0.1, 300))
    assert not any("guessing" in n or "roughly" in n for n in clear["notes"])


def test_single_class_has_no_interval_but_does_not_fail():
    out = classification_intervals(np.zeros(20, dtype=int), np.full(20, 0.1))
    assert "auc_ci" not in out and out["calibration_error"] == pytest.approx(0.1)
    assert out["notes"] == uncertainty_notes({})


def test_clopper_pearson_exact_ends():
    ci = clopper_pearson(np.array([0, 10, 5]), np.array([10, 10, 10]))
    assert ci[0, 0] == 0 and ci[0, 1] == pytest.approx(1 - 0.05**0.1)
    assert ci[1, 0] == pytest.approx(0.05**0.1) and ci[1, 1] == 1
    assert ci[2, 0] < 0.5 < ci[2, 1]


def test_regression_bias_interval():
    y = np.array([0.0, 10, 0, 30, 5])
    assert regression_intervals(y, y)["bias_ci"] == [0.0, 0.0]
    low, high = regression_intervals(y, 1.2 * y)["bias_ci"]
    assert low == pytest.approx(0.2) and high == pytest.approx(0.2)
