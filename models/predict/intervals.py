"""90% intervals on the quality figures, and the words that say when a figure is too uncertain.

A model card's AUC, top-decile lift and calibration error come from one evaluation window of a
few hundred to a few thousand customers; the same model on another window would score
differently. ``classification_intervals`` resamples the customers (bootstrap, percentile
intervals) and computes every figure on each resample exactly, vectorised: a resample is a vector
of counts per customer, so no figure re-sorts the scores. Observed rates per calibration bin get
exact (Clopper–Pearson) intervals instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "LEVEL",
    "bootstrap_counts",
    "classification_intervals",
    "clopper_pearson",
    "regression_intervals",
    "uncertainty_notes",
    "weighted_auc",
]

LEVEL = 0.9  # every interval on a card is a 90% interval
_RESAMPLES = 200


def bootstrap_counts(n: int, resamples: int = _RESAMPLES, seed: int = 0) -> np.ndarray:
    """``(resamples, n)`` counts: how often each customer is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)


def _percentiles(values: np.ndarray, level: float = LEVEL) -> list[float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return [float(low), float(high)]


def weighted_auc(y: np.ndarray, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUC of each resample (rows of ``counts``): the Mann–Whitney statistic with ties as half,
    exactly what ``roc_auc_score`` gives on the resampled rows; NaN where a class is missing."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(score, kind="stable")
    s, yy, w = np.asarray(score)[order], y[order], np.atleast_2d(counts)[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores
    pos = np.add.reduceat(w * yy, starts, axis=1)
    neg = np.add.reduceat(w * ~yy, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / pairs


def _top_decile_lift(y: np.ndarray, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rate of the top 10% of each resample (highest scores first) over its overall rate."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    w = np.atleast_2d(counts)[:, order]
    n = w.sum(axis=1, keepdims=True)
    k = np.ceil(n / 10)  # the first of ten near-equal groups, as in ``gains_table``
    before = np.cumsum(w, axis=1) - w
    taken = np.clip(k - before, 0, w)  # the customer at the boundary counts in part
    with np.errstate(invalid="ignore", divide="ignore"):
        top_rate = (taken * y[order]).sum(axis=1) / k[:, 0]
        overall = (w * y[order]).sum(axis=1) / n[:, 0]
        return top_rate / overall


def _calibration_error(
    y: np.ndarray, prob: np.ndarray, counts: np.ndarray, bins: int = 10
) -> np.ndarray:
    """Expected calibration error of each resample: the customer-weighted mean gap between
    predicted and observed rates over the ten equal-count bins of the full sample."""
    order = np.argsort(prob, kind="stable")
    starts = np.array(
        [part[0] for part in np.array_split(np.arange(len(order)), bins) if len(part)]
    )
    w = np.atleast_2d(counts)[:, order]
    users = np.add.reduceat(w, starts, axis=1)
    pred = np.add.reduceat(w * np.asarray(prob)[order], starts, axis=1)
    seen = np.add.reduceat(w * np.asarray(y, dtype=float)[order], starts, axis=1)
    gap = np.abs(pred - seen)  # |users × (mean predicted − observed rate)| per bin
    return gap.sum(axis=1) / users.sum(axis=1)


def classification_intervals(
    y: np.ndarray, prob: np.ndarray, *, baseline: np.ndarray | None = None, seed: int = 0
) -> dict[str, Any]:
    """``calibration_error`` and the 90% intervals ``auc_ci``, ``top_decile_lift_ci``,
    ``calibration_error_ci`` (+ ``auc_gain_ci``: model minus ``baseline`` AUC on the same
    resamples), then ``notes``: the words for figures too uncertain to act on."""
    y = np.asarray(y, dtype=int)
    prob = np.asarray(prob, dtype=float)
    full = np.ones((1, len(y)))
    out: dict[str, Any] = {"calibration_error": float(_calibration_error(y, prob, full)[0])}
    if len(np.unique(y)) < 2:
        return out | {"notes": uncertainty_notes(out)}
    counts = bootstrap_counts(len(y), seed=seed)
    auc = weighted_auc(y, prob, counts)
    out["auc_ci"] = _percentiles(auc)
    out["top_decile_lift_ci"] = _percentiles(_top_decile_lift(y, prob, counts))
    out["calibration_error_ci"] = _percentiles(_calibration_error(y, prob, counts))
    if baseline is not None:
        out["auc_gain_ci"] = _percentiles(auc - weighted_auc(y, baseline, counts))
    return out | {"notes": uncertainty_notes(out)}


def regression_intervals(y: np.ndarray, pred: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """90% interval of the total bias ((predicted − actual) / actual over all customers)."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    counts = bootstrap_counts(len(y), seed=seed)
    actual = counts @ y
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = (counts @ pred - actual) / actual
    return {"bias_ci": _percentiles(bias)}


def clopper_pearson(hits: np.ndarray, n: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Exact binomial ``(low, high)`` interval per row for ``hits`` out of ``n``: (k, 2)."""
    hits, n = np.asarray(hits, dtype=float), np.asarray(n, dtype=float)
    tail = (1 - level) / 2
    low = np.where(hits > 0, stats.beta.ppf(tail, hits, n - hits + 1), 0.0)
    high = np.where(hits < n, stats.beta.ppf(1 - tail, hits + 1, n - hits), 1.0)
    return np.column_stack([low, high])


def uncertainty_notes(metrics: dict[str, Any]) -> list[str]:
    """Plain words for the figures whose 90% interval is too wide to act on (empty: none)."""
    notes = []
    auc = metrics.get("auc_ci")
    if auc and auc[0] <= 0.55:
        notes.append(
            f"The ranking may be no better than guessing (AUC between {auc[0]:.2f} and "
            f"{auc[1]:.2f}, 90% interval): collect more data before acting on these scores."
        )
    elif auc and auc[1] - auc[0] > 0.1:
        notes.append(
            f"AUC is known only roughly ({auc[0]:.2f} to {auc[1]:.2f}): the quality word may be "
            "one step off."
        )
    lift = metrics.get("top_decile_lift_ci")
    if lift and lift[0] <= 1.0:
        notes.append(
            f"The top 10% may do no better than the average customer (lift {lift[0]:.1f}× to "
            f"{lift[1]:.1f}×): do not target on the top decile alone."
        )
    gain = metrics.get("auc_gain_ci")
    if gain and gain[0] <= 0.0:
        notes.append(
            "The model is not clearly better than the baseline on this data (AUC difference "
            f"{gain[0]:+.3f} to {gain[1]:+.3f})."
        )
    ece = metrics.get("calibration_error_ci")
    if ece and ece[0] > 0.05:
        notes.append(
            f"The probabilities are off by {ece[0]:.0%} to {ece[1]:.0%} on average: use them to "
            "rank customers, not as rates."
        )
    return notes
