"""Gradient-boosted predictors with the scikit-learn contract: classifier, revenue, next category.

* ``GBMClassifier``: LightGBM binary model, early stopping on a validation set, then Platt
  calibration of its log-odds on that same set (two numbers, stored as JSON). On a time split the
  trees boost from a logistic start on R/F/M/T and event counts (exactly explained, see
  ``linear_parts``), and on small data up to 10 boosters, each with its own split, are averaged.
* ``GBMRevenue``: Tweedie LightGBM for zero-heavy spend plus two quantile models for a per-user
  10–90% interval.
* ``GBMCategory``: LightGBM multiclass over the most common categories (the rest pooled).

LightGBM trains on its GPU build when an OpenCL device answers, else on the CPU; ``device_`` says
which. Every model round-trips through ``to_bytes``/``from_bytes`` (LightGBM text + JSON, no
pickle; see ``analytics.core.model_files``).
"""

from __future__ import annotations

import functools
import re
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from scipy import optimize, special

from analytics.core.errors import NotEnoughData
from analytics.core.model_files import pack_boosters, unpack_boosters
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, USER_ID, EventType
from analytics.features.labels import (
    HorizonChoice,
    LabelSpec,
    build_labels,
    choose_horizon,
    data_end,
    split_cutoffs,
)
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    default_cutoff,
    feature_labels,
    resolve_feature_spec,
    to_utc,
)
from models.predict.baselines import (
    BetaGeo,
    RecencyLogistic,
    last_category_predict,
    log1p_signed,
    popularity_predict,
    repeat_summary,
)
from models.predict.metrics import (
    category_metrics,
    classification_metrics,
    quality_word,
    regression_metrics,
)

__all__ = [
    "GBMCategory",
    "GBMClassifier",
    "GBMRevenue",
    "PredictorSpec",
    "SplitRun",
    "clv_projection",
    "fit_on_split",
    "lightgbm_device",
    "load_predictor",
    "model_features",
]

_OTHER = "(other)"


@functools.cache
def lightgbm_device() -> str:
    """``"gpu"`` when LightGBM's OpenCL build finds a device, else ``"cpu"`` (probed once)."""
    X = np.random.default_rng(0).random((64, 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = {"device_type": "gpu", "verbose": -1, "objective": "regression"}
            lgb.train(params, lgb.Dataset(X, X[:, 0]), num_boost_round=1)
        return "gpu"
    except lgb.basic.LightGBMError:
        return "cpu"


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    k = max(1, round(n * fraction))
    return np.sort(order[k:]), np.sort(order[:k])


class _GBMBase:
    objective = "regression"
    booster_: lgb.Booster  # set by fit() or from_bytes()

    def __init__(
        self,
        *,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        max_depth: int = 4,
        min_child_samples: int = 100,
        feature_fraction: float = 0.7,
        bagging_fraction: float = 0.8,
        reg_lambda: float = 5.0,
        early_stopping_rounds: int = 40,
        valid_fraction: float = 0.2,
        device: str = "auto",
        n_jobs: int = 1,
        random_state: int = 7,
        n_bags: int | str = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.valid_fraction = valid_fraction
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.n_bags = n_bags  # the classifier averages this many boosters; "auto" by data size

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "n_estimators",
                "learning_rate",
                "num_leaves",
                "max_depth",
                "min_child_samples",
                "feature_fraction",
                "bagging_fraction",
                "reg_lambda",
                "early_stopping_rounds",
                "valid_fraction",
                "device",
                "n_jobs",
                "random_state",
                "n_bags",
            )
        }

    def set_params(self, **params: Any) -> _GBMBase:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def bags(self) -> list[tuple[lgb.Booster, int]]:
        """``(booster, early-stopped iteration)`` of each bagged model (one unless bagged)."""
        return getattr(self, "bags_", None) or [(self.booster_, self.best_iteration_)]

    def _booster_output(self, X: Any, *, raw_score: bool = False) -> np.ndarray:
        """The fitted boosters' mean output at their early-stopped iterations, as a float array."""
        X = np.asarray(X, dtype=np.float64)
        outs = [
            np.asarray(b.predict(X, raw_score=raw_score, num_iteration=it, num_threads=self.n_jobs))
            for b, it in self.bags()
        ]
        return np.mean(outs, axis=0)

    def _lgb_params(self, n_rows: int | None = None, **extra: Any) -> dict[str, Any]:
        device = lightgbm_device() if self.device == "auto" else self.device
        # customer data is small and noisy: strongly regularised small trees generalise out of
        # time best (CDNOW, Online Retail, Taobao); leaves keep ≥1% of the rows on small data
        min_child = self.min_child_samples
        if n_rows is not None:
            min_child = max(5, min(min_child, n_rows // 100))
        return {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            # shallow trees keep TreeSHAP (cost ~ depth²) well under the training time
            "max_depth": self.max_depth,
            "min_child_samples": min_child,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.reg_lambda,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "device_type": device,
            "verbose": -1,
            **extra,
        }

    def _train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        eval_set: tuple[np.ndarray, np.ndarray] | None,
        feature_names: list[str] | None,
        seed: int | None = None,
        base: Any = None,
        **extra: Any,
    ) -> tuple[lgb.Booster, np.ndarray, np.ndarray]:
        """Train with early stopping; returns the booster and the validation (X, y) it used.

        ``base``: a function of X giving the raw score the trees start from (they fit the rest).
        """
        X = np.asarray(X, dtype=np.float64)
        seed = self.random_state if seed is None else seed
        if eval_set is None:
            fit_idx, val_idx = _split(len(X), self.valid_fraction, seed)
            X_fit, y_fit, X_val, y_val = X[fit_idx], y[fit_idx], X[val_idx], y[val_idx]
        else:
            X_fit, y_fit = X, y
            X_val, y_val = np.asarray(eval_set[0], dtype=np.float64), np.asarray(eval_set[1])
        names = feature_names or [f"f{i}" for i in range(X.shape[1])]
        params = self._lgb_params(len(X_fit), **extra) | {"seed": seed}
        self.device_ = params["device_type"]
        start = {} if base is None else {"init_score": base(X_fit)}
        train = lgb.Dataset(X_fit, y_fit, feature_name=names, free_raw_data=False, **start)
        start = {} if base is None else {"init_score": base(X_val)}
        valid = lgb.Dataset(X_val, y_val, reference=train, **start)
        booster = lgb.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.feature_names_in_ = names
        self.n_features_in_ = X.shape[1]
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        return booster, X_val, y_val


class GBMClassifier(_GBMBase):
    """Binary LightGBM with early stopping and Platt-calibrated probabilities.

    ``linear_columns``: indices of columns for a logistic start the trees boost from (None: the
    trees start from the base rate)."""

    objective = "binary"

    def __init__(self, *, linear_columns: list[int] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
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

    def _meta(self) -> dict[str, Any]:
        return {
            "params": self.get_params(),
            "feature_names": self.feature_names_in_,
            "best_iteration": self.best_iteration_,
            "device": self.device_,
        }

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        self.set_params(**meta["params"])
        self.feature_names_in_ = meta["feature_names"]
        self.n_features_in_ = len(self.feature_names_in_)
        self.best_iteration_ = meta["best_iteration"]
        self.device_ = meta["device"]
        self.booster_ = boosters["main"]
        linear = meta.get("linear")
        self.linear_ = None if linear is None else _LinearBase.from_dict(linear)
        iterations = meta.get("bag_iterations", [self.best_iteration_])
        self.bags_ = [
            (boosters["main"] if k == 0 else boosters[f"bag{k}"], it)
            for k, it in enumerate(iterations)
        ]


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
    random validation split as much as the gap between models (Taobao's 3,000 rows: AUC 0.583 to
    0.607 over seeds; the mean of 10 boosters 0.593), so up to 10 are averaged, each on its own
    split; from 50,000 rows one (no extra cost where training is slow)."""
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


class GBMRevenue(_GBMBase):
    """Tweedie LightGBM for zero-heavy spend with a 10–90% quantile interval per user."""

    objective = "tweedie"

    def __init__(self, *, tweedie_power: float = 1.3, interval: float = 0.8, **kw: Any) -> None:
        super().__init__(**kw)
        self.tweedie_power = tweedie_power
        self.interval = interval

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        feature_names: list[str] | None = None,
    ) -> GBMRevenue:
        y = np.clip(np.asarray(y, dtype=float), 0, None)
        if (y > 0).sum() < 5:
            raise NotEnoughData(
                "Fewer than 5 customers spent anything in the horizon; try a longer horizon."
            )
        self.booster_, _, _ = self._train(
            X, y, eval_set, feature_names, tweedie_variance_power=self.tweedie_power
        )
        tail = (1 - self.interval) / 2
        self.lower_ = self._quantile(X, y, tail, feature_names)
        self.upper_ = self._quantile(X, y, 1 - tail, feature_names)
        return self

    def _quantile(self, X, y, alpha: float, names) -> lgb.Booster:
        params = self._lgb_params(len(X), objective="quantile", alpha=alpha)
        data = lgb.Dataset(np.asarray(X, dtype=np.float64), y, feature_name=names or "auto")
        return lgb.train(params, data, num_boost_round=max(self.best_iteration_, 20))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log of the expected spend (Tweedie uses a log link): what SHAP values sum to."""
        return self._booster_output(X, raw_score=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.exp(self.decision_function(X))

    def predict_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) per user, ordered and at least 0, with the mean inside."""
        X = np.asarray(X, dtype=np.float64)
        mean = self.predict(X)
        lo = np.clip(self.lower_.predict(X, num_threads=self.n_jobs), 0, None)
        hi = np.clip(self.upper_.predict(X, num_threads=self.n_jobs), 0, None)
        return np.minimum(lo, mean), np.maximum(hi, mean)

    def to_bytes(self) -> bytes:
        meta = GBMClassifier._meta(self) | {  # type: ignore[arg-type]
            "tweedie_power": self.tweedie_power,
            "interval": self.interval,
        }
        return pack_boosters(
            "revenue", meta, {"main": self.booster_, "lower": self.lower_, "upper": self.upper_}
        )

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        GBMClassifier._restore(self, meta, boosters)  # type: ignore[arg-type]
        self.tweedie_power = meta["tweedie_power"]
        self.interval = meta["interval"]
        self.lower_, self.upper_ = boosters["lower"], boosters["upper"]


class GBMCategory(_GBMBase):
    """Multiclass LightGBM over the ``max_classes`` most common categories, the rest pooled."""

    objective = "multiclass"

    def __init__(self, *, max_classes: int = 20, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_classes = max_classes

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        eval_set: tuple[np.ndarray, np.ndarray] | None = None,
        feature_names: list[str] | None = None,
    ) -> GBMCategory:
        y = np.asarray(y, dtype=object)
        values, counts = np.unique(y, return_counts=True)
        if len(values) < 2 or len(y) < 20:
            raise NotEnoughData(
                "Next category needs at least 20 buyers in the horizon across two categories."
            )
        keep = values[np.argsort(-counts, kind="stable")][: self.max_classes]
        self.classes_ = np.array(
            sorted(keep.tolist()) + ([_OTHER] if len(values) > len(keep) else [])
        )
        codes = self._encode(y)
        val = None if eval_set is None else (eval_set[0], self._encode(np.asarray(eval_set[1])))
        self.booster_, _, _ = self._train(
            X, codes, val, feature_names, num_class=len(self.classes_)
        )
        return self

    def _encode(self, y: np.ndarray) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes_)}
        other = index.get(_OTHER, 0)
        return np.array([index.get(v, other) for v in y], dtype=int)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._booster_output(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def ranked(self, X: np.ndarray, k: int = 3) -> list[list[str]]:
        """The ``k`` most likely categories per user, best first."""
        order = np.argsort(-self.predict_proba(X), axis=1)[:, :k]
        return [[str(c) for c in self.classes_[row]] for row in order]

    def to_bytes(self) -> bytes:
        meta = GBMClassifier._meta(self) | {  # type: ignore[arg-type]
            "classes": self.classes_.tolist(),
            "max_classes": self.max_classes,
        }
        return pack_boosters("category", meta, {"main": self.booster_})

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        GBMClassifier._restore(self, meta, boosters)  # type: ignore[arg-type]
        self.classes_ = np.array(meta["classes"], dtype=object)
        self.max_classes = meta["max_classes"]


_KINDS: dict[str, type[_GBMBase]] = {
    "classifier": GBMClassifier,
    "revenue": GBMRevenue,
    "category": GBMCategory,
}


def load_predictor(data: bytes) -> GBMClassifier | GBMRevenue | GBMCategory:
    """Rebuild a predictor saved with ``to_bytes`` (LightGBM text + JSON; no pickle)."""
    kind, meta, boosters = unpack_boosters(data)
    model = _KINDS[kind]()
    model._restore(meta, boosters)  # type: ignore[attr-defined]
    if kind == "classifier":
        model.calibration_ = tuple(meta["calibration"])  # type: ignore[attr-defined]
        model.classes_ = np.array([0, 1])  # type: ignore[attr-defined]
    return model  # type: ignore[return-value]


# --- training on a time split ------------------------------------------------------------------
# The service, the CLI and the benchmark all call ``fit_on_split``: features and labels at an
# earlier cutoff train the model, a later cutoff checks it out of time, the newest cutoff is scored.

_BGNBD_LABELS = {
    "bgnbd_p_alive": "chance the customer is still buying (repeat-buying model)",
    "bgnbd_expected": "purchases the repeat-buying model expects next",
}


@dataclass(frozen=True)
class PredictorSpec:
    """What to train: ``target`` scored at ``cutoff`` (UTC, inclusive; None = end of the data)."""

    target: str
    cutoff: datetime | None = None
    horizon_days: int | None = None
    seed: int = 7
    sequence: bool = True  # also train the sequence model where it applies, keep the better one
    n_estimators: int = 600
    # 0.1 with early stopping reaches the quality of 0.05 with about half the trees, which halves
    # training, scoring and TreeSHAP (explaining costs time per tree)
    learning_rate: float = 0.1
    snapshots: int = 4  # training cutoffs stacked (one horizon apart) where the history allows


@dataclass
class SplitRun:
    """Everything a training run produced; the service persists it, the page draws it."""

    target: str
    choice: HorizonChoice
    train_cutoff: datetime
    eval_cutoff: datetime
    score_cutoff: datetime
    first_event: datetime
    model: Any
    feature_names: list[str]
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    validation: pl.DataFrame  # user_id, label, score (+ baseline) at the evaluation cutoff
    scores: pl.DataFrame  # user_id, score (+ lower, upper / category / expected_purchases)
    score_features: pl.DataFrame  # user_id + model features at the score cutoff
    device: str
    winner: str = "lightgbm"
    comparison: dict[str, Any] = field(default_factory=dict)
    sequence_state: bytes | None = None
    timings: dict[str, float] = field(default_factory=dict)
    feature_spec: FeatureSpec | None = None
    clv: dict[str, Any] = field(default_factory=dict)  # the 365-day value view (revenue target)

    @property
    def feature_labels(self) -> dict[str, str]:
        return {**feature_labels(self.feature_names), **_BGNBD_LABELS}


def _bgnbd_columns(
    events: pl.LazyFrame, cutoff: datetime, horizon_days: int
) -> tuple[pl.DataFrame, BetaGeo | None]:
    """``user_id, bgnbd_p_alive, bgnbd_expected, bgnbd_prob`` for buyers (None model on failure)."""
    summary = repeat_summary(events, cutoff)
    try:
        model = BetaGeo().fit(
            summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
        )
    except NotEnoughData:
        return summary.select(USER_ID), None
    args = (summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy())
    return (
        summary.select(USER_ID).with_columns(
            bgnbd_p_alive=model.probability_alive(*args),
            bgnbd_expected=model.expected_purchases(float(horizon_days), *args),
            bgnbd_prob=model.probability_purchase(float(horizon_days), *args),
            bgnbd_monetary=summary["monetary"],
        ),
        model,
    )


def model_features(
    events: pl.LazyFrame, cutoff: datetime, fspec: FeatureSpec, horizon_days: int
) -> pl.DataFrame:
    """User features at ``cutoff`` plus the BG/NBD view of each buyer (0 for non-buyers)."""
    base = build_user_features(events, cutoff, fspec)
    bg, _ = _bgnbd_columns(events, cutoff, horizon_days)
    out = base.join(bg, on=USER_ID, how="left", maintain_order="left")
    for name in ("bgnbd_p_alive", "bgnbd_expected", "bgnbd_prob", "bgnbd_monetary"):
        if name not in out.columns:
            out = out.with_columns(pl.lit(0.0).alias(name))
    return out.with_columns(pl.col(pl.Float64).fill_null(0.0).fill_nan(0.0))


_BASELINE_ONLY = ("bgnbd_prob", "bgnbd_monetary")  # used by baselines, not by the model


def _xy(features: pl.DataFrame, labels: pl.DataFrame, names: list[str]):
    joined = labels.join(features, on=USER_ID, how="inner").sort(USER_ID)
    return joined, joined.select(names).to_numpy().astype(np.float64), joined["label"].to_numpy()


def _rfm_columns(names: list[str]) -> list[str]:
    """R, F, M, T and event counts: the logistic baseline's inputs."""
    wanted = [
        "days_since_last_event",
        "days_since_last_purchase",
        "purchase_days",
        "avg_order_value",
        "days_since_first_event",
        "events_total",
    ]
    counts = [n for n in names if re.match(r"^(views|carts|favs)_\d+d$", n)]
    widest: dict[str, Any] = {}
    for n in counts:  # the widest window of each event type
        kind, days = n.split("_")[0], int(n.split("_")[1][:-1])
        if days >= widest.get(kind, (0, ""))[0]:
            widest[kind] = (days, n)
    return [n for n in wanted if n in names] + [v[1] for v in widest.values()]


def _robust_start(lf: pl.LazyFrame) -> datetime:
    """Where the data really starts: a few stray early events (Taobao) must not count."""
    first = lf.select(pl.col(EVENT_TIME).dt.epoch("us").quantile(0.001, "lower")).collect().item()
    return datetime.fromtimestamp(first / 1e6, tz=UTC)


def _check_history(first: datetime, train_cutoff: datetime, horizon: int) -> None:
    if train_cutoff < first:
        raise NotEnoughData(
            f"The data starts on {first:%Y-%m-%d}, too late to train and check a {horizon}-day "
            f"model (training needs history before {train_cutoff:%Y-%m-%d}). Choose a shorter "
            "horizon or a later cutoff."
        )


def fit_on_split(
    events: pl.LazyFrame | pl.DataFrame, spec: PredictorSpec, progress: Progress = no_progress
) -> SplitRun:
    """Train at an earlier cutoff, evaluate out of time at a later one, score the newest users."""
    started = time.perf_counter()
    lf = events.lazy()
    first = lf.select(pl.col(EVENT_TIME).min()).collect().item()
    score_cutoff = to_utc(spec.cutoff) if spec.cutoff is not None else default_cutoff(lf)
    progress(0.02, "Choosing the horizon")
    choice = choose_horizon(lf, spec.target, score_cutoff, spec.horizon_days)
    h = choice.horizon_days
    train_cut, eval_cut = split_cutoffs(score_cutoff, h, data_end(lf))
    _check_history(first, train_cut, h)
    fspec = resolve_feature_spec(lf, score_cutoff)
    progress(0.08, "Building features at three cutoffs")
    cuts = {"train": train_cut, "eval": eval_cut, "score": score_cutoff}
    feats = {k: model_features(lf, c, fspec, h) for k, c in cuts.items()}

    def labels_at(c: datetime) -> pl.DataFrame:
        return build_labels(lf, LabelSpec(spec.target, c, h, choice.active_days,
                                          choice.purchases_only))  # fmt: skip

    label_of = {k: labels_at(c) for k, c in cuts.items() if k != "score" or c == eval_cut}
    # earlier snapshots add training examples (rows = (user, cutoff)) where the history allows:
    # one horizon apart, or daily for horizons under a week (a 9-day log still gets several label
    # windows); every label window ends on or before the evaluation cutoff
    step, need, count = (h, h, spec.snapshots) if h >= 7 else (1, 1, max(spec.snapshots, 6))
    data_start = _robust_start(lf)
    for k in range(1, count):
        c = train_cut - timedelta(days=step * k)
        if c - timedelta(days=need) < data_start:
            break
        tag = pl.col(USER_ID) + f"@{k}"
        feats["train"] = pl.concat(
            [feats["train"], model_features(lf, c, fspec, h).with_columns(tag)]
        )
        label_of["train"] = pl.concat([label_of["train"], labels_at(c).with_columns(tag)])
    names = [c for c in feats["train"].columns if c != USER_ID and c not in _BASELINE_ONLY]
    timings = {"features": time.perf_counter() - started}
    progress(0.3, "Training the gradient-boosted model")
    trainer = _TRAINERS[spec.target]
    run = trainer(lf, spec, feats, label_of, names, cuts, choice, progress)
    run.first_event = first
    run.feature_spec = fspec
    timings["total"] = time.perf_counter() - started
    run.timings = timings
    return run


def _stack(X_new, y_new, X_old, y_old) -> tuple[np.ndarray, np.ndarray]:
    """The final model learns from the newest labelled window and the earlier ones."""
    return np.vstack([X_new, X_old]), np.concatenate([np.asarray(y_new), np.asarray(y_old)])


def _gbm_kwargs(spec: PredictorSpec) -> dict[str, Any]:
    return {
        "n_estimators": spec.n_estimators,
        "learning_rate": spec.learning_rate,
        "random_state": spec.seed,
    }


def _pick_baseline(baselines: dict[str, dict[str, Any]], key: str, higher: bool) -> dict[str, Any]:
    """The strongest baseline by ``key``: the honest one to show beside the model."""
    scored = {n: m for n, m in baselines.items() if key in m}
    if not scored:
        return {"name": "none"}
    name = (max if higher else min)(scored, key=lambda n: scored[n][key])
    return {"name": name, **scored[name]}


def _purchase_days(lf: pl.LazyFrame, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    """``user_id, purchase_days`` in ``(cutoff, cutoff + horizon]`` (UTC)."""
    end = cutoff + timedelta(days=horizon_days)
    return (
        lf.filter(
            (pl.col(EVENT_TYPE).cast(pl.String) == EventType.PURCHASE.value)
            & (pl.col(EVENT_TIME) > cutoff)
            & (pl.col(EVENT_TIME) <= end)
        )
        .group_by(USER_ID)
        .agg(pl.col(EVENT_TIME).dt.date().n_unique().cast(pl.Float64).alias("purchase_days_next"))
        .collect()
    )


def _count_model(lf, spec, feats, cuts, names, h) -> tuple[np.ndarray, dict[str, Any]]:
    """Expected purchase days in the horizon per scored user (Poisson LightGBM), with its check."""

    def xy(key: str):
        counts = _purchase_days(lf, cuts[key], h)
        joined = feats[key].join(counts, on=USER_ID, how="left").fill_null(0.0)
        return joined.select(names).to_numpy(), joined["purchase_days_next"].to_numpy()

    X_tr, y_tr = xy("train")
    model = _PoissonGBM(**_gbm_kwargs(spec)).fit(X_tr, y_tr, feature_names=names)
    X_ev, y_ev = xy("eval")
    check = regression_metrics(y_ev, model.predict(X_ev))
    # no refit on the evaluation window: the stacked training snapshots already hold most of the
    # history, and a second Poisson model cost as much as the classifier itself
    return model.predict(feats["score"].select(names).to_numpy()), check


class _PoissonGBM(_GBMBase):
    objective = "poisson"

    def fit(self, X, y, *, feature_names=None) -> _PoissonGBM:
        self.booster_, _, _ = self._train(X, np.asarray(y, dtype=float), None, feature_names)
        return self

    def predict(self, X) -> np.ndarray:
        return self._booster_output(X)


def _train_binary(lf, spec, feats, labels, names, cuts, choice, progress) -> SplitRun:
    tr, X_tr, y_tr = _xy(feats["train"], labels["train"], names)
    ev, X_ev, y_ev = _xy(feats["eval"], labels["eval"], names)
    # the trees boost from the R/F/M/T + counts logistic: it extrapolates to customers older than
    # any in the training window, the trees add what it misses (Taobao 0.593 -> 0.602, CDNOW
    # 0.805 -> 0.807, Online Retail 0.742 -> 0.746 on the evaluation windows)
    start = [names.index(c) for c in _rfm_columns(names)]
    model = GBMClassifier(**_gbm_kwargs(spec), n_bags="auto", linear_columns=start).fit(
        X_tr, y_tr, feature_names=names
    )
    p_ev = model.predict_proba(X_ev)[:, 1]
    metrics: dict[str, Any] = classification_metrics(y_ev, p_ev)
    progress(0.5, "Fitting the classical baselines")
    rfm = _rfm_columns(names)
    logit = RecencyLogistic(random_state=spec.seed).fit(tr.select(rfm).to_numpy(), y_tr)
    baseline_scores = {"RFM logistic": logit.predict_proba(ev.select(rfm).to_numpy())[:, 1]}
    if ev["bgnbd_prob"].max() > 0:
        bg = ev["bgnbd_prob"].to_numpy()
        baseline_scores["BG/NBD"] = bg if spec.target == "purchase" else 1 - bg
    baselines = {n: classification_metrics(y_ev, s) for n, s in baseline_scores.items()}
    best = _pick_baseline(baselines, "auc", higher=True)
    validation = ev.select(USER_ID, "label").with_columns(
        score=p_ev, baseline=baseline_scores.get(best["name"], np.zeros(len(ev)))
    )
    if cuts["eval"] != cuts["score"]:
        progress(0.6, "Refitting on the latest labelled window")
        final = GBMClassifier(**_gbm_kwargs(spec), n_bags="auto", linear_columns=start).fit(
            *_stack(X_ev, y_ev, X_tr, y_tr), feature_names=names
        )
    else:
        final = model
    X_sc = feats["score"].select(names).to_numpy()
    p_sc = final.predict_proba(X_sc)[:, 1]
    comparison: dict[str, Any] = {}
    if spec.target == "purchase" and spec.sequence:
        progress(0.62, "Training the sequence model for comparison")
        comparison, p_sc = _sequence_check(lf, spec, cuts, tr, ev, p_ev, y_ev, feats, p_sc)
    scores = feats["score"].select(USER_ID).with_columns(score=p_sc)
    if spec.target == "purchase":
        progress(0.7, "Forecasting purchase counts")
        if choice.purchases_only and feats["score"]["bgnbd_expected"].max() > 0:
            # order lines only: BG/NBD models customers dropping out, which a tree trained on an
            # earlier (younger) window cannot extrapolate; it forecasts the purchase days
            expected = feats["score"]["bgnbd_expected"].to_numpy()
            counts = _purchase_days(lf, cuts["eval"], choice.horizon_days)
            actual = ev.select(USER_ID).join(counts, on=USER_ID, how="left").fill_null(0.0)
            check = regression_metrics(
                actual["purchase_days_next"].to_numpy(), ev["bgnbd_expected"].to_numpy()
            ) | {"model": "BG/NBD"}
        else:
            expected, check = _count_model(lf, spec, feats, cuts, names, choice.horizon_days)
            check["model"] = "LightGBM (Poisson)"
        scores = scores.with_columns(expected_purchases=expected)
        metrics["purchase_days"] = check
    run = _run(
        spec, choice, cuts, final, names, metrics, best, baselines, validation, scores, feats
    )
    run.comparison = comparison
    run.winner = comparison.get("used", "lightgbm")
    return run


_SEQUENCE_COLUMNS = {
    "item_id": pl.String,
    "category": pl.String,
    "price": pl.Float64,
    "revenue": pl.Float64,
}
_CPU_SEQUENCE_USERS = 2_000  # above this, the GRU runs only on a GPU (CPU time goes to LightGBM)


def _cuda_possible() -> bool:
    """False only when no NVIDIA driver is visible, so torch need not be imported to know."""
    import shutil
    import sys
    from pathlib import Path

    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def _sequence_check(lf, spec, cuts, tr, ev, p_ev, y_ev, feats, p_sc):
    """Train the GRU at the training cutoff, compare it (and a 50/50 blend) with LightGBM on the
    evaluation window, and return the comparison and the scores of whichever wins."""
    base = tr.filter(~pl.col(USER_ID).str.contains("@"))  # the latest snapshot only
    too_many = base.height > _CPU_SEQUENCE_USERS
    why = f"runs on a GPU only above {_CPU_SEQUENCE_USERS:,} customers"
    if too_many and not _cuda_possible():  # importing torch alone costs seconds: skip it
        return {"used": "lightgbm", "skipped": f"sequence model {why} (CPU here)"}, p_sc
    from analytics.core.device import device_label, select_device
    from analytics.features.sequences import SequenceSpec, build_sequences, build_vocabulary
    from models.predict.gru import SequenceConfig, predict_sequence, train_sequence_model

    device = select_device()
    have = lf.collect_schema().names()
    lf = lf.with_columns(
        [pl.lit(None, t).alias(c) for c, t in _SEQUENCE_COLUMNS.items() if c not in have]
    )
    if device.type == "cpu" and too_many:
        return {
            "used": "lightgbm",
            "skipped": f"sequence model {why} ({device_label(device)} here)",
        }, p_sc
    try:
        vocab = build_vocabulary(lf, cuts["train"], SequenceSpec(max_len=32))
        seqs = build_sequences(lf, cuts["train"], vocab, base[USER_ID])
        result = train_sequence_model(
            seqs, base["label"].to_numpy(), n_out=1, device=device, seed=spec.seed,
            config=SequenceConfig(epochs=4),
        )  # fmt: skip
    except NotEnoughData as err:
        return {"used": "lightgbm", "skipped": str(err)}, p_sc
    p_seq = predict_sequence(result, build_sequences(lf, cuts["eval"], vocab, ev[USER_ID]), device)
    aucs = {
        "lightgbm": classification_metrics(y_ev, p_ev).get("auc", 0.0),
        "sequence": classification_metrics(y_ev, p_seq).get("auc", 0.0),
        "blend": classification_metrics(y_ev, (p_ev + p_seq) / 2).get("auc", 0.0),
    }
    used = max(aucs, key=lambda k: (aucs[k], k == "lightgbm"))
    out = {
        "auc": aucs,
        "used": used,
        "sequence_device": result.device,
        "sequence_seconds": round(result.seconds, 2),
        "note": "chosen on the evaluation window; reasons come from the LightGBM model",
    }
    if used == "lightgbm":
        return out, p_sc
    score_ids = feats["score"][USER_ID]
    seq_sc = predict_sequence(result, build_sequences(lf, cuts["score"], vocab, score_ids), device)
    return out, seq_sc if used == "sequence" else (p_sc + seq_sc) / 2


def _run(spec, choice, cuts, model, names, metrics, best, baselines, validation, scores, feats):
    return SplitRun(
        target=spec.target,
        choice=choice,
        train_cutoff=cuts["train"],
        eval_cutoff=cuts["eval"],
        score_cutoff=cuts["score"],
        first_event=cuts["train"],
        model=model,
        feature_names=names,
        metrics=metrics,
        baseline=best,
        baselines=baselines,
        validation=validation,
        scores=scores,
        score_features=feats["score"].select(USER_ID, *names),
        device="GPU (LightGBM OpenCL)" if model.device_ == "gpu" else "CPU",
    )


def _train_revenue(lf, spec, feats, labels, names, cuts, choice, progress) -> SplitRun:
    _tr, X_tr, y_tr = _xy(feats["train"], labels["train"], names)
    ev, X_ev, y_ev = _xy(feats["eval"], labels["eval"], names)
    model = GBMRevenue(**_gbm_kwargs(spec)).fit(X_tr, y_tr, feature_names=names)
    pred = model.predict(X_ev)
    metrics = regression_metrics(y_ev, pred) | _spend_auc(y_ev, pred)
    h = choice.horizon_days
    tenure = ev["days_since_first_event"].to_numpy() + 1.0
    baseline_preds = {
        "Run rate": ev["revenue_total"].to_numpy() / np.maximum(tenure, h) * h,
    }
    if ev["bgnbd_expected"].max() > 0:
        baseline_preds["BG/NBD × average spend"] = (
            ev["bgnbd_expected"].to_numpy() * ev["bgnbd_monetary"].to_numpy()
        )
    baselines = {
        n: regression_metrics(y_ev, p) | _spend_auc(y_ev, p) for n, p in baseline_preds.items()
    }
    best = _pick_baseline(baselines, "mae", higher=False)
    validation = ev.select(USER_ID, "label").with_columns(
        score=pred, baseline=baseline_preds[best["name"]]
    )
    final = model
    if cuts["eval"] != cuts["score"]:
        progress(0.6, "Refitting on the latest labelled window")
        final = GBMRevenue(**_gbm_kwargs(spec)).fit(
            *_stack(X_ev, y_ev, X_tr, y_tr), feature_names=names
        )
    X_sc = feats["score"].select(names).to_numpy()
    lower, upper = final.predict_interval(X_sc)
    scores = (
        feats["score"]
        .select(USER_ID)
        .with_columns(score=final.predict(X_sc), lower=lower, upper=upper)
    )
    scores, clv = _clv_view(lf, cuts["score"], scores)
    run = _run(
        spec, choice, cuts, final, names, metrics, best, baselines, validation, scores, feats
    )
    run.clv = clv
    return run


CLV_DAYS = 365


def clv_projection(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime, days: int = CLV_DAYS
) -> pl.DataFrame:
    """``user_id, expected_purchase_days, spend_per_day, clv``: each buyer's value over the next
    ``days`` days: the purchase days BG/NBD expects × their spend per purchase day, shrunk toward
    the buyers' mean with the weight of one purchase day (one order says little about the next).
    Empty when BG/NBD cannot be fit."""
    summary = repeat_summary(events, cutoff)
    args = tuple(summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    try:
        model = BetaGeo().fit(*args)
    except NotEnoughData:
        return pl.DataFrame(
            schema={
                USER_ID: pl.String,
                "expected_purchase_days": pl.Float64,
                "spend_per_day": pl.Float64,
                "clv": pl.Float64,
            }
        )
    n = summary["frequency"].to_numpy() + 1.0
    own = summary["monetary"].fill_null(0.0).clip(lower_bound=0.0).to_numpy()
    spend = (n * own + float(own.mean())) / (n + 1.0)
    expected = model.expected_purchases(float(days), *args)
    return summary.select(USER_ID).with_columns(
        expected_purchase_days=expected, spend_per_day=spend, clv=expected * spend
    )


def _clv_view(
    lf: pl.LazyFrame, cutoff: datetime, scores: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Scores with ``clv_365`` and the card's summary where the data spans a year before the
    cutoff (BG/NBD's long-run view needs a year of behaviour behind it); else unchanged."""
    span = (cutoff - _robust_start(lf)).days
    if span < CLV_DAYS:
        return scores, {"skipped": f"the data spans {span} days; a 365-day value needs a year"}
    clv = clv_projection(lf, cutoff)
    if clv.is_empty():
        return scores, {"skipped": "too few repeat buyers to fit the repeat-buying model"}
    out = scores.join(
        clv.select(USER_ID, pl.col("clv").alias("clv_365")), on=USER_ID, how="left"
    ).with_columns(pl.col("clv_365").fill_null(0.0))
    values = out["clv_365"].sort(descending=True)
    total = float(values.sum())
    return out, {
        "days": CLV_DAYS,
        "total": total,
        "mean": total / max(len(values), 1),
        "top_decile_share": float(values.head(max(1, len(values) // 10)).sum()) / max(total, 1e-9),
        "method": "BG/NBD expected purchase days over 365 days × spend per purchase day",
    }


def _spend_auc(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """How well the predicted spend ranks who spends at all: AUC and the quality word."""
    m = classification_metrics((np.asarray(y) > 0).astype(int), _rank01(pred))
    return {"auc": m.get("auc"), "quality": m["quality"]}


def _rank01(x: np.ndarray) -> np.ndarray:
    return (np.argsort(np.argsort(x, kind="stable"), kind="stable") + 0.5) / max(len(x), 1)


def _train_category(lf, spec, feats, labels, names, cuts, choice, progress) -> SplitRun:
    _tr, X_tr, y_tr = _xy(feats["train"], labels["train"], names)
    ev, X_ev, y_ev = _xy(feats["eval"], labels["eval"], names)
    model = GBMCategory(**_gbm_kwargs(spec)).fit(X_tr, y_tr, feature_names=names)
    truth = [str(v) for v in y_ev]
    metrics = category_metrics(truth, model.ranked(X_ev))
    metrics |= _category_auc(model, X_ev, y_ev)
    last = dict(last_category_predict(lf, cuts["eval"]).iter_rows())
    popular = popularity_predict(lf, cuts["eval"], k=3)
    baselines = {
        "Last category": category_metrics(
            truth, [[last[u]] if u in last else popular[:1] for u in ev[USER_ID]]
        ),
        "Most popular": category_metrics(truth, [popular] * len(truth)),
    }
    best = _pick_baseline(baselines, "top1", higher=True)
    validation = ev.select(USER_ID, "label").with_columns(
        score=pl.Series(model.predict(X_ev).astype(str))
    )
    final = model
    if cuts["eval"] != cuts["score"]:
        progress(0.6, "Refitting on the latest labelled window")
        final = GBMCategory(**_gbm_kwargs(spec)).fit(
            *_stack(X_ev, y_ev, X_tr, y_tr), feature_names=names
        )
    X_sc = feats["score"].select(names).to_numpy()
    proba = final.predict_proba(X_sc)
    scores = (
        feats["score"]
        .select(USER_ID)
        .with_columns(
            score=proba.max(axis=1),
            category=pl.Series(final.classes_[proba.argmax(axis=1)].astype(str)),
        )
    )
    return _run(
        spec, choice, cuts, final, names, metrics, best, baselines, validation, scores, feats
    )


def _category_auc(model: GBMCategory, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    codes = model._encode(np.asarray(y, dtype=object))
    proba = model.predict_proba(X)
    present = np.unique(codes)
    if len(present) < 2:
        return {"quality": "Unknown"}
    from sklearn.metrics import roc_auc_score

    sub = proba[:, present] / proba[:, present].sum(axis=1, keepdims=True)
    remap = {c: i for i, c in enumerate(present)}
    y_sub = np.array([remap[c] for c in codes])
    auc = (
        roc_auc_score(y_sub, sub[:, 1])
        if len(present) == 2
        else roc_auc_score(y_sub, sub, multi_class="ovr", average="weighted")
    )
    return {"auc": float(auc), "quality": quality_word(float(auc))}


_TRAINERS = {
    "purchase": _train_binary,
    "churn": _train_binary,
    "revenue": _train_revenue,
    "next_category": _train_category,
}
