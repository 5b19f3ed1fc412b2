"""Qini, uplift@k, calibration and the harm report against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from models.campaigns.uplift_metrics import (
    calibrate,
    harm_report,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)


def test_qini_curve_and_coefficient_hand_worked() -> None:
    # ranked: T y=1, C y=0, T y=0, C y=1
    score = np.array([4.0, 3.0, 2.0, 1.0])
    treated = np.array([1, 0, 1, 0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    share, q = qini_curve(score, treated, y)
    # k=1: 1 - 0; k=2: 1 - 0*1/1; k=3: 1 - 0*2/1; k=4: 1 - 1*2/2
    assert q.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    # mean_k (q[k] - k/N q[N]) / N = (1 + 1 + 1 + 0) / 4 / 4
    assert qini_coefficient(score, treated, y) == pytest.approx(0.1875)
    # reversing the ranking puts the responsive control first: a worse (negative) coefficient
    assert qini_coefficient(-score, treated, y) < 0


def test_uplift_curve_and_uplift_at_k_hand_worked() -> None:
    score = np.array([4.0, 3.0, 2.0, 1.0])
    treated = np.array([1, 0, 1, 0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    _, gain = uplift_curve(score, treated, y)
    # k=2: (1/1 - 0/1) * 2 = 2; k=4: (1/2 - 1/2) * 4 = 0
    assert gain[2] == pytest.approx(2.0) and gain[4] == pytest.approx(0.0)
    assert uplift_at_k(score, treated, y, 0.5) == pytest.approx(1.0)
    assert uplift_at_k(score, treated, y, 1.0) == pytest.approx(0.0)


def test_calibration_recovers_a_known_line() -> None:
    rng = np.random.default_rng(4)
    n = 40_000
    score = rng.uniform(0, 0.2, n)
    t = rng.random(n) < 0.5
    y = (rng.random(n) < 0.1 + t * (0.02 + 0.5 * score)).astype(float)
    (a, b), cov = calibrate(score, t, y, np.full(n, 0.1))
    assert a == pytest.approx(0.02, abs=0.02) and b == pytest.approx(0.5, abs=0.2)
    assert cov[1][1] > 0


def test_harm_report_flags_a_group_that_buys_less() -> None:
    rng = np.random.default_rng(5)
    n = 6000
    score = rng.normal(size=n)
    t = rng.random(n) < 0.5
    p = 0.3 + t * np.where(score < -1, -0.25, 0.05)
    y = (rng.random(n) < p).astype(float)
    rows = harm_report(score, t, y, groups=10)
    assert rows[-1]["harmed"] and not rows[0]["harmed"]
