"""``GBMClassifier``: binary LightGBM with early stopping and Platt-calibrated probabilities.

On a time split the trees boost from a logistic start on R/F/M/T and event counts (exactly
explained, see ``linear_parts``): trees cannot extrapolate to customers older than any in the
training window, the linear start does. On small data up to 10 boosters, each with its own
validation split, are averaged. Round-trips through ``to_bytes`` (LightGBM text + JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import optimize, special

from analytics.core.errors import NotEnoughData
from analytics.core.model_files import pack_boosters
from models.predict.baselines import RecencyLogistic, log1p_signed
from models.predict.gbm import GBMBase, GBMConfig

__all__ = ["GBMClassifier"]


class GBMClassifier(GBMBase):
    """Binary LightGBM with early stopping and Platt-calibrated probabilities.

    ``linear_columns``: indices of columns for a logistic start the trees boost from (None: the
    trees start from the base rate)."""

    objective = "binary"

    def __init__(
        self,
        *,
        config: GBMConfig | None = None,
        device: str = "auto",
        n_jobs: int = 1,
        random_state: int = 7,
        n_bags: int | str = 1,
        linear_columns: list[int] | None = None,
    ) -> None:
        super().__init__(config=config, device=device, n_jobs=n_jobs,
                         random_state=random_state, n_bags=n_bags)  # fmt: skip
        self.linear_columns = linear_columns

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return super().get_params(deep) | {"linear_columns": self.linear_columns}

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        feature_names: list[str] | None = None,
    ) -> GBMClassifier:
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2 or min(np.bincount(y)) < 5:
            raise NotEnoughData(
                "Too few customers of one outcome to learn from (fewer than 5 either did or did "
                "not do it). Try a longer horizon or an earlier cutoff."
            )
        self.linear_ = None
        if self.linear_columns:
            self.linear_ = _LinearBase.fit(np.asarray(X, dtype=np.float64), y, self.linear_columns)
        base = None if self.linear_ is None else self.linear_.margin
        n_bags = _bag_count(len(y)) if self.n_bags == "auto" else int(self.n_bags)
        bags, margins, targets = [], [], []
        for k in range(max(1, n_bags)):
            booster, X_val, y_val = self._train(
                X, y, eval_set, feature_names, seed=self.random_state + k, base=base
            )
            it = int(booster.best_iteration or booster.current_iteration())
            bags.append((booster, it))
            start = 0.0 if base is None else base(X_val)
            trees = booster.predict(
                X_val, raw_score=True, num_iteration=it, num_threads=self.n_jobs
            )
            margins.append(start + np.asarray(trees))
            targets.append(np.asarray(y_val, dtype=float))
        self.booster_, self.best_iteration_ = bags[0]
        self.bags_ = bags
        # each bag's margins on its own held-out rows: the calibration never sees a fitted row
        self.calibration_ = _platt(np.concatenate(margins), np.concatenate(targets))
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Raw log-odds (before calibration), the linear start plus the boosted trees: what the
        SHAP values (``linear_parts`` added to the trees') sum to."""
        trees = self._booster_output(X, raw_score=True)
        linear = getattr(self, "linear_", None)
        return trees if linear is None else trees + linear.margin(np.asarray(X, dtype=np.float64))

    def linear_parts(self, X: np.ndarray) -> tuple[np.ndarray, float] | None:
        """``(per-feature contributions (n, f), intercept)`` of the linear start, or None: the
        exact SHAP values of a linear model on standardised inputs."""
        linear = getattr(self, "linear_", None)
        if linear is None:
            return None
        return linear.contributions(np.asarray(X, dtype=np.float64)), linear.intercept

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        a, b = self.calibration_
        return special.expit(a * np.asarray(margin) + b)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def to_bytes(self) -> bytes:
        bags = self.bags()
        linear = getattr(self, "linear_", None)
        meta = self._meta() | {
            "calibration": list(self.calibration_),
            "bag_iterations": [it for _, it in bags],
            "linear": None if linear is None else linear.to_dict(),
        }
        boosters = {"main": bags[0][0]} | {f"bag{k}": b for k, (b, _) in enumerate(bags) if k}
        return pack_boosters("classifier", meta, boosters)

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        super()._restore(meta, boosters)
        linear = meta.get("linear")
        self.linear_ = None if linear is None else _LinearBase.from_dict(linear)
        iterations = meta.get("bag_iterations", [self.best_iteration_])
        self.bags_ = [
            (boosters["main"] if k == 0 else boosters[f"bag{k}"], it)
            for k, it in enumerate(iterations)
        ]
        self.calibration_ = tuple(meta["calibration"])
        self.classes_ = np.array([0, 1])


@dataclass(frozen=True)
class _LinearBase:
    """Logistic regression on signed log1p, standardised columns: where the trees start from.

    Trees cannot extrapolate beyond the training window's range (customers a horizon older at
    scoring time); a linear start carries recency, frequency and tenure smoothly and the trees fit
    what it misses (early stopping decides how much)."""

    columns: tuple[int, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, columns) -> _LinearBase:
        """The R/F/M/T logistic baseline (``RecencyLogistic``) on ``columns``, kept as numbers."""
        columns = tuple(int(c) for c in columns)
        scaler, logit = RecencyLogistic().fit(X[:, list(columns)], y).model_
        return cls(
            columns,
            tuple(float(v) for v in scaler.mean_),
            tuple(float(v) for v in scaler.scale_),
            tuple(float(v) for v in logit.coef_[0]),
            float(logit.intercept_[0]),
        )

    def contributions(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros(X.shape, dtype=np.float64)
        z = (log1p_signed(X[:, list(self.columns)]) - np.asarray(self.mean)) / np.asarray(
            self.scale
        )
        out[:, list(self.columns)] = z * np.asarray(self.coef)
        return out

    def margin(self, X: np.ndarray) -> np.ndarray:
        return self.intercept + self.contributions(X).sum(axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("columns", "mean", "scale", "coef", "intercept")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _LinearBase:
        return cls(tuple(d["columns"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]),
                   float(d["intercept"]))  # fmt: skip


def _bag_count(n_rows: int) -> int:
    """Boosters to average: on small data one early-stopped booster's ranking varies with its
    random validation split as much as the gap between models, so up to 10 are averaged, each on
    its own split; from 50,000 rows one (no extra cost where training is slow)."""
    return int(np.clip(50_000 // max(n_rows, 1), 1, 10))


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising log loss of sigmoid(a·margin + b); identity when it cannot be fit."""
    if len(np.unique(y)) < 2:
        return 1.0, 0.0

    def loss(ab: np.ndarray) -> float:
        z = ab[0] * margin + ab[1]
        return float(np.mean(np.logaddexp(0, z) - y * z))

    res = optimize.minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B")
    return (float(res.x[0]), float(res.x[1])) if res.success else (1.0, 0.0)
