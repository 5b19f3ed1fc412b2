"""SHAP explanations as tidy frames, and plain-language reasons per user.

For LightGBM we use TreeSHAP as LightGBM ships it (``pred_contrib``): the same exact algorithm as
``shap.TreeExplainer`` (a test checks they agree), multithreaded and without a second copy of the
trees, so explaining every user costs a fraction of training. Values are in the model's raw
output (log-odds for classifiers, log spend for revenue) and sum with the base value to it.

Reasons turn SHAP values into score points: each feature gets the share of the user's distance
from the average score that its SHAP value holds, so the points of a user add up exactly to
(score − average score), e.g. "3 purchases in the last 28 days: +12 points".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from analytics.core.schema import USER_ID

__all__ = [
    "Explanation",
    "beeswarm_frame",
    "dependence_frame",
    "explain_bagged",
    "explain_trees",
    "global_importance",
    "reason_text",
    "reasons_frame",
    "score_points",
    "with_linear",
]


@dataclass(frozen=True)
class Explanation:
    """SHAP values ``(n, f)`` and the base value in raw model output; ``margin = base + Σ``."""

    values: np.ndarray
    base: np.ndarray  # (n,) base value per row (the same number on every row for one model)
    feature_names: list[str]

    @property
    def margin(self) -> np.ndarray:
        return self.base + self.values.sum(axis=1)


def explain_trees(
    booster, X: np.ndarray, feature_names: list[str], *, num_iteration=None, class_index=None
) -> Explanation:
    """TreeSHAP values of a LightGBM booster for every row of ``X``.

    For a multiclass booster, ``class_index`` (an int, or one int per row) picks the class whose
    log-odds are explained.
    """
    X = np.asarray(X, dtype=np.float64)
    # one thread: OpenMP spin-waiting on a busy shared CPU costs far more than it gains
    contrib = booster.predict(X, pred_contrib=True, num_iteration=num_iteration, num_threads=1)
    f = X.shape[1]
    if contrib.shape[1] > f + 1:  # multiclass: k blocks of (f + 1)
        blocks = contrib.reshape(len(X), -1, f + 1)
        idx = np.broadcast_to(np.asarray(0 if class_index is None else class_index), (len(X),))
        contrib = blocks[np.arange(len(X)), idx]
    return Explanation(contrib[:, :f], contrib[:, f], list(feature_names))


def explain_bagged(bags, X: np.ndarray, feature_names: list[str]) -> Explanation:
    """TreeSHAP of a mean of boosters (``(booster, iteration)`` pairs): SHAP values are linear in
    the model, so the mean of each booster's values explains the mean output exactly."""
    parts = [explain_trees(b, X, feature_names, num_iteration=it) for b, it in bags]
    if len(parts) == 1:
        return parts[0]
    values = np.mean([p.values for p in parts], axis=0)
    base = np.mean([p.base for p in parts], axis=0)
    return Explanation(values, base, list(feature_names))


def with_linear(expl: Explanation, contributions: np.ndarray, intercept: float) -> Explanation:
    """An explanation of trees that start from a linear score: the linear model's exact SHAP
    values (its per-feature contributions around the training mean) added feature by feature."""
    return Explanation(expl.values + contributions, expl.base + intercept, expl.feature_names)


def score_points(
    expl: Explanation, to_score: Callable[[np.ndarray], np.ndarray], scale: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(points (n, f), base_score)``: SHAP values moved onto the shown score's scale.

    ``to_score`` maps raw output to the shown score (a calibrated probability, or spend);
    points of a row sum to ``scale * (to_score(margin) − to_score(base))``.
    """
    margin, base = expl.margin, expl.base
    score, base_score = to_score(margin) * scale, to_score(base) * scale
    span = margin - base
    eps = 1e-9
    # where the margin barely moved, use the local slope instead of the ratio
    slope = (to_score(margin + 1e-4) - to_score(margin - 1e-4)) * scale / 2e-4
    ratio = np.where(
        np.abs(span) > eps, (score - base_score) / np.where(np.abs(span) > eps, span, 1.0), slope
    )
    return expl.values * ratio[:, None], base_score


def global_importance(expl: Explanation, labels: dict[str, str] | None = None) -> pl.DataFrame:
    """``feature, label, mean_abs_shap`` sorted from the most to the least important."""
    labels = labels or {}
    imp = np.abs(expl.values).mean(axis=0)
    return pl.DataFrame(
        {
            "feature": expl.feature_names,
            "label": [labels.get(n, n.replace("_", " ")) for n in expl.feature_names],
            "mean_abs_shap": imp,
        }
    ).sort("mean_abs_shap", descending=True)


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def beeswarm_frame(
    expl: Explanation, X: np.ndarray, *, top: int = 10, sample: int = 1500, seed: int = 0
) -> pl.DataFrame:
    """``feature, shap, value, value_rank`` for the ``top`` features on a sample of users.

    ``value_rank`` (0–1) is the value's percentile within the feature, for colouring.
    """
    order = np.argsort(-np.abs(expl.values).mean(axis=0))[:top]
    rows = _sample(len(X), sample, seed)
    parts = []
    for j in order:
        vals = np.asarray(X, dtype=float)[rows, j]
        rank = (np.argsort(np.argsort(vals, kind="stable"), kind="stable") + 0.5) / max(
            len(vals), 1
        )
        parts.append(
            pl.DataFrame(
                {
                    "feature": [expl.feature_names[j]] * len(rows),
                    "shap": expl.values[rows, j],
                    "value": vals,
                    "value_rank": rank,
                }
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame()


def dependence_frame(
    expl: Explanation, X: np.ndarray, feature: str, *, sample: int = 2000, seed: int = 0
) -> pl.DataFrame:
    """``value, shap`` of one feature on a sample of users (a dependence plot's points)."""
    j = expl.feature_names.index(feature)
    rows = _sample(len(X), sample, seed)
    return pl.DataFrame(
        {"value": np.asarray(X, dtype=float)[rows, j], "shap": expl.values[rows, j]}
    )


def _fmt_value(feature: str, value: float) -> str:
    if feature.endswith("_rate") or "share" in feature:
        return f"{value:.0%}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def reason_text(
    feature: str, value: float, points: float, labels: dict[str, str], unit: str = "points"
) -> str:
    """ "3 purchases in the last 28 days: +12 points" (the label comes from ``feature_labels``)."""
    label = labels.get(feature, feature.replace("_", " "))
    sign = "+" if points >= 0 else "−"
    shown = f"{abs(points):.0f}" if abs(points) >= 1 else f"{abs(points):.1f}"
    return f"{_fmt_value(feature, value)} {label}: {sign}{shown} {unit}"


def reasons_frame(
    user_ids: list[str] | pl.Series,
    points: np.ndarray,
    X: np.ndarray,
    feature_names: list[str],
    labels: dict[str, str],
    *,
    k: int = 3,
    unit: str = "points",
) -> pl.DataFrame:
    """The ``k`` strongest reasons per user: ``user_id, rank, feature, value, points, text``."""
    n, f = points.shape
    k = min(k, f)
    top = np.argsort(-np.abs(points), axis=1)[:, :k]
    rows = np.repeat(np.arange(n), k)
    cols = top.ravel()
    pts = points[rows, cols]
    vals = np.asarray(X, dtype=float)[rows, cols]
    names = [feature_names[c] for c in cols]
    frame = pl.DataFrame(
        {
            USER_ID: np.asarray(list(user_ids), dtype=object)[rows].astype(str),
            "rank": np.tile(np.arange(1, k + 1), n),
            "feature": names,
            "value": vals,
            "points": pts,
        }
    )
    return frame.with_columns(_reason_expr(labels, unit).alias("text"))


def _reason_expr(labels: dict[str, str], unit: str) -> pl.Expr:
    """``reason_text`` as one vectorised expression (tens of thousands of rows at once)."""
    value, points, feature = pl.col("value"), pl.col("points"), pl.col("feature")
    percent = feature.str.ends_with("_rate") | feature.str.contains("share")
    shown_value = (
        pl.when(percent)
        .then(pl.format("{}%", (value * 100).round(0).cast(pl.Int64)))
        .when(value == value.round(0))
        .then(value.cast(pl.Int64).cast(pl.String))
        .when(value.abs() < 100)
        .then(value.round(2).cast(pl.String))
        .otherwise(value.round(0).cast(pl.Int64).cast(pl.String))
    )
    plain = feature.str.replace_all("_", " ")
    label = feature.replace_strict(labels, default=plain) if labels else plain
    size = points.abs()
    shown_points = (
        pl.when(size >= 1).then(size.round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(size.round(1).cast(pl.String))
    )  # fmt: skip
    sign = pl.when(points >= 0).then(pl.lit("+")).otherwise(pl.lit("−"))
    return pl.format("{} {}: {}{} " + unit, shown_value, label, sign, shown_points)
