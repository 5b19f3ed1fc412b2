"""Model quality in numbers and in a word: classification, revenue and next-category metrics.

All functions take plain arrays (labels, scores) and return floats, dicts or small polars frames,
so the model card, the benchmark and the tests read the same figures.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats
from sklearn import metrics as skm

from models.predict.intervals import clopper_pearson

__all__ = [
    "calibration_curve",
    "category_metrics",
    "classification_metrics",
    "gains_table",
    "quality_word",
    "regression_metrics",
]

# AUC thresholds of the quality word; the usual reading of ROC AUC in marketing analytics
_WORDS = ((0.9, "Excellent"), (0.8, "Good"), (0.7, "Fair"))


def quality_word(auc: float | None) -> str:
    """Poor (< 0.7), Fair (0.7–0.8), Good (0.8–0.9) or Excellent (≥ 0.9); "Unknown" without AUC."""
    if auc is None or not np.isfinite(auc):
        return "Unknown"
    for threshold, word in _WORDS:
        if auc >= threshold:
            return word
    return "Poor"


def _both_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def gains_table(y: np.ndarray, score: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Cumulative gains and lift by score decile (decile 1 = highest scores).

    Columns: ``decile``, ``users``, ``positives``, ``rate``, ``lift`` (rate / overall rate),
    ``cum_share_users``, ``cum_gain`` (share of all positives captured so far), ``cum_lift``.
    """
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    groups = np.array_split(y[order], bins)
    users = np.array([len(g) for g in groups], dtype=float)
    positives = np.array([g.sum() for g in groups])
    overall = y.mean() if len(y) else 0.0
    rate = np.divide(positives, users, out=np.zeros_like(users), where=users > 0)
    cum_users, cum_pos = np.cumsum(users), np.cumsum(positives)
    total_pos = max(positives.sum(), 1e-12)
    return pl.DataFrame(
        {
            "decile": np.arange(1, bins + 1),
            "users": users.astype(int),
            "positives": positives,
            "rate": rate,
            "lift": rate / overall if overall > 0 else np.zeros(bins),
            "cum_share_users": cum_users / max(cum_users[-1], 1.0),
            "cum_gain": cum_pos / total_pos,
            "cum_lift": (cum_pos / np.maximum(cum_users, 1)) / overall
            if overall > 0
            else np.zeros(bins),
        }
    )


def calibration_curve(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """``bin, predicted, observed, observed_low, observed_high, users`` over equal-count bins of
    the predicted probability; the observed rate's exact 90% interval (Clopper–Pearson)."""
    y = np.asarray(y, dtype=float)
    prob = np.asarray(prob, dtype=float)
    order = np.argsort(prob, kind="stable")
    parts = [p for p in np.array_split(order, bins) if len(p)]
    users = np.array([len(p) for p in parts])
    exact = clopper_pearson(np.array([y[p].sum() for p in parts]), users)
    return pl.DataFrame(
        {
            "bin": np.arange(1, len(parts) + 1),
            "predicted": [float(prob[p].mean()) for p in parts],
            "observed": [float(y[p].mean()) for p in parts],
            "observed_low": exact[:, 0],
            "observed_high": exact[:, 1],
            "users": users,
        }
    )


def classification_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float | str | int]:
    """AUC, PR-AUC, log loss, Brier score, top-decile lift, base rate and the quality word."""
    y = np.asarray(y, dtype=int)
    prob = np.clip(np.asarray(prob, dtype=float), 1e-6, 1 - 1e-6)
    out: dict[str, float | str | int] = {"users": len(y), "base_rate": float(y.mean())}
    if _both_classes(y):
        out["auc"] = float(skm.roc_auc_score(y, prob))
        out["pr_auc"] = float(skm.average_precision_score(y, prob))
        out["log_loss"] = float(skm.log_loss(y, prob, labels=[0, 1]))
        out["top_decile_lift"] = float(gains_table(y, prob)["lift"][0])
    out["brier"] = float(np.mean((prob - y) ** 2))
    out["quality"] = quality_word(out.get("auc"))  # type: ignore[arg-type]
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """MAE, RMSE, Spearman, and aggregate bias: (predicted total − actual total) / actual total."""
    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    total = y.sum()
    spearman = stats.spearmanr(y, pred).statistic if np.ptp(y) > 0 and np.ptp(pred) > 0 else 0.0
    return {
        "users": len(y),
        "mae": float(np.mean(np.abs(pred - y))),
        "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
        "spearman": float(spearman),
        "actual_total": float(total),
        "predicted_total": float(pred.sum()),
        "bias": float((pred.sum() - total) / total) if total else 0.0,
    }


def category_metrics(truth: list[str], ranked: list[list[str]]) -> dict[str, float | int]:
    """Top-1 and top-3 accuracy of ranked category guesses against the true next category."""
    n = len(truth)
    if n == 0:
        return {"users": 0, "top1": 0.0, "top3": 0.0}
    top1 = sum(bool(r) and r[0] == t for t, r in zip(truth, ranked, strict=True)) / n
    top3 = sum(t in r[:3] for t, r in zip(truth, ranked, strict=True)) / n
    return {"users": n, "top1": float(top1), "top3": float(top3)}
