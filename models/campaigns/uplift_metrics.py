"""How good an uplift ranking is, measured on rows with a known arm and outcome.

Qini and uplift curves, the Qini coefficient, uplift in the top share, a harm report per group of
predicted uplift, and the calibration of raw uplift scores (with its uncertainty, which the
campaign simulator draws from). Pure numpy: scores, treated flags and outcomes in, numbers out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "calibrate",
    "harm_report",
    "qini_coefficient",
    "qini_curve",
    "qini_points",
    "uplift_at_k",
    "uplift_curve",
]

_SLOPE_PRIOR_SD = 0.25


def _ranked(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    yy = np.asarray(y, dtype=float)[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * ~t)
    return n_t.astype(float), n_c.astype(float), y_t, y_c


def qini_curve(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Qini curve: ``(share, qini)`` after targeting the top ``k`` users by ``score``, k = 0..N.

    ``qini[k] = Y_t(k) - Y_c(k) * N_t(k) / N_c(k)`` (Radcliffe): incremental outcomes among the
    treated in the top k, with 0 while the top k holds no control. Both arrays start at 0.
    """
    n_t, n_c, y_t, y_c = _ranked(score, treated, y)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    q = np.concatenate([[0.0], y_t - y_c * ratio])
    share = np.arange(len(q)) / max(len(q) - 1, 1)
    return share, q


def uplift_curve(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Uplift curve: ``(share, gain)`` with ``gain[k] = (mean_t(k) - mean_c(k)) * k``.

    The incremental outcomes if the top k were all contacted; 0 until both arms are present.
    """
    n_t, n_c, y_t, y_c = _ranked(score, treated, y)
    both = (n_t > 0) & (n_c > 0)
    diff = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=both) - np.divide(
        y_c, n_c, out=np.zeros_like(y_c), where=both
    )
    gain = np.concatenate([[0.0], diff * np.arange(1, len(n_t) + 1)])
    share = np.arange(len(gain)) / max(len(gain) - 1, 1)
    return share, gain


def qini_coefficient(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line, per user and per user targeted.

    ``mean_{k=1..N} (qini[k] - k/N * qini[N]) / N``: 0 for random ranking, positive when the ranking
    finds the persuadable first. Same units as the outcome (e.g. probability points).
    """
    _, q = qini_curve(score, treated, y)
    n = len(q) - 1
    if n == 0:
        return 0.0
    k = np.arange(1, n + 1)
    return float(np.mean(q[1:] - k / n * q[-1]) / n)


def uplift_at_k(score: np.ndarray, treated: np.ndarray, y: np.ndarray, k: float = 0.3) -> float:
    """Measured uplift (treated mean minus control mean) among the top ``k`` share by ``score``."""
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[
        : max(math.ceil(k * len(y)), 1)
    ]
    t, c = top[treated[top]], top[~treated[top]]
    if len(t) == 0 or len(c) == 0:
        return float("nan")
    return float(y[t].mean() - y[c].mean())


def harm_report(
    score: np.ndarray, treated: np.ndarray, y: np.ndarray, groups: int = 10
) -> list[dict[str, Any]]:
    """Measured uplift per group of predicted uplift (group 1 = highest), with a 95% interval.

    ``harmed`` is True when the whole interval is below 0: contacting that group loses outcomes.
    """
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    rows = []
    for g, idx in enumerate(np.array_split(order, groups), start=1):
        yt, yc = y[idx[treated[idx]]], y[idx[~treated[idx]]]
        if len(yt) < 2 or len(yc) < 2:
            continue
        diff = yt.mean() - yc.mean()
        se = math.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc))
        rows.append(
            {
                "group": g,
                "users": len(idx),
                "predicted": float(np.mean(score[idx])),
                "measured": float(diff),
                "lower": float(diff - 1.96 * se),
                "upper": float(diff + 1.96 * se),
                "harmed": bool(diff + 1.96 * se < 0),
            }
        )
    return rows


def _hc1(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients and their robust (HC1) covariance."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    bread = np.linalg.pinv(design.T @ design)
    meat = (design * resid[:, None] ** 2).T @ design
    n, p = design.shape
    return beta, bread @ meat @ bread * n / max(n - p, 1)


def calibrate(
    score: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    *,
    scale_only: bool = False,
    slope_sd: float = _SLOPE_PRIOR_SD,
) -> tuple[tuple[float, float], list[list[float]]]:
    """Fit ``uplift = a + b * score`` on held-out rows, shrunk towards the model's own scale.

    Least squares of ``y`` on ``[1, base, score, (T - e), (T - e) * score]`` (``base``, the
    no-contact prediction, absorbs noise) gives ``(a, b)`` with a robust (HC1) covariance; a
    weakly informative prior ``a ~ N(0, sd(score)^2)``, ``b ~ N(1, 0.25^2)`` (the learners already
    output uplift in outcome units) is combined with it by precision weighting, because a held-out
    slope from a few thousand rows is itself very noisy. ``b`` is floored at 0 so that a model no
    better than chance falls back to the average effect. Returns ``(a, b)`` and its covariance.

    ``scale_only`` (for a structural uplift that is 0 where the contact changes nothing, e.g. the
    engagement learner's): ``a = 0`` and only the factor ``b`` is fitted (the ``(T - e) * score``
    term), shrunk towards 1 with prior sd ``slope_sd``; its posterior variance is the only entry
    of the covariance.
    """
    t = np.asarray(treated, dtype=float)
    tc = t - t.mean()
    s = np.asarray(score, dtype=float)
    if scale_only:
        design = np.column_stack([np.ones_like(s), base, s, tc * s])
        beta, var = _hc1(design, y)
        prec = 1.0 / slope_sd**2 + 1.0 / max(float(var[3, 3]), 1e-18)
        b = (1.0 / slope_sd**2 + float(beta[3]) / max(float(var[3, 3]), 1e-18)) / prec
        return (0.0, max(b, 0.0)), [[0.0, 0.0], [0.0, 1.0 / prec]]
    design = np.column_stack([np.ones_like(s), base, s, tc, tc * s])
    beta, full = _hc1(design, y)
    cov = full[np.ix_([3, 4], [3, 4])]
    prior_prec = np.diag([1.0 / max(float(s.std()), 1e-9) ** 2, 1.0 / slope_sd**2])
    data_prec = np.linalg.pinv(cov)
    post_cov = np.linalg.pinv(prior_prec + data_prec)
    a, b = post_cov @ (prior_prec @ np.array([0.0, 1.0]) + data_prec @ beta[[3, 4]])
    if b < 0:  # the ranking carries no usable signal: everyone gets the average effect
        return (float(a + b * s.mean()), 0.0), [[float(post_cov[0, 0]), 0.0], [0.0, 0.0]]
    return (float(a), float(b)), post_cov.tolist()


def qini_points(score: np.ndarray, t: np.ndarray, y: np.ndarray, points: int = 51) -> list:
    """The Qini curve thinned to about ``points`` ``[share, qini]`` pairs (for a model card)."""
    share, q = qini_curve(score, t, y)
    idx = np.unique(np.linspace(0, len(q) - 1, points).round().astype(int))
    return [[float(share[i]), float(q[i])] for i in idx]
