"""The LightGBM core every predictor shares: tuning knobs, device choice, early-stopped training.

``GBMConfig`` groups the tuning knobs (one frozen value instead of ten keyword arguments);
``GBMBase`` stores it with the scikit-learn contract (keyword-only ``__init__`` that only stores,
``get_params``/``set_params``) and trains one early-stopped booster on a random validation split.
LightGBM runs on its GPU build when an OpenCL device answers, else on the CPU.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = ["GBMBase", "GBMConfig", "lightgbm_device"]


@dataclass(frozen=True)
class GBMConfig:
    """LightGBM tuning knobs. Customer data is small and noisy: strongly regularised small trees
    generalise out of time best, and shallow trees keep TreeSHAP (cost ~ depth²) cheap."""

    n_estimators: int = 600
    learning_rate: float = 0.05
    num_leaves: int = 7
    max_depth: int = 4
    min_child_samples: int = 100
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    reg_lambda: float = 5.0
    early_stopping_rounds: int = 40
    valid_fraction: float = 0.2


_KNOBS = tuple(f.name for f in fields(GBMConfig))


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


class GBMBase:
    """Stores the knobs and trains early-stopped boosters; subclasses set ``objective``.

    ``n_bags``: the classifier averages this many boosters (``"auto"``: by data size)."""

    objective = "regression"
    booster_: lgb.Booster  # set by fit() or from_bytes()

    def __init__(
        self,
        *,
        config: GBMConfig | None = None,
        device: str = "auto",
        n_jobs: int = 1,
        random_state: int = 7,
        n_bags: int | str = 1,
    ) -> None:
        self.config = config
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.n_bags = n_bags

    @property
    def knobs(self) -> GBMConfig:
        """The tuning knobs in force (the defaults when none were given)."""
        return self.config or GBMConfig()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        names = ("config", "device", "n_jobs", "random_state", "n_bags")
        return {k: getattr(self, k) for k in names}

    def set_params(self, **params: Any) -> GBMBase:
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
        k = self.knobs
        device = lightgbm_device() if self.device == "auto" else self.device
        min_child = k.min_child_samples
        if n_rows is not None:  # leaves keep ≥1% of the rows on small data
            min_child = max(5, min(min_child, n_rows // 100))
        return {
            "objective": self.objective,
            "learning_rate": k.learning_rate,
            "num_leaves": k.num_leaves,
            "max_depth": k.max_depth,
            "min_child_samples": min_child,
            "feature_fraction": k.feature_fraction,
            "bagging_fraction": k.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": k.reg_lambda,
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
            fit_idx, val_idx = _split(len(X), self.knobs.valid_fraction, seed)
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
            num_boost_round=self.knobs.n_estimators,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.knobs.early_stopping_rounds, verbose=False)],
        )
        self.feature_names_in_ = names
        self.n_features_in_ = X.shape[1]
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        return booster, X_val, y_val

    def _meta(self) -> dict[str, Any]:
        """What ``to_bytes`` stores besides the boosters (JSON-safe)."""
        params = self.get_params() | {"config": asdict(self.knobs)}
        return {
            "params": params,
            "feature_names": self.feature_names_in_,
            "best_iteration": self.best_iteration_,
            "device": self.device_,
        }

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        params = dict(meta["params"])
        # files saved before the knobs were grouped hold them as flat parameters
        flat = {k: params.pop(k) for k in _KNOBS if k in params}
        params["config"] = GBMConfig(**(params.get("config") or flat))
        self.set_params(**params)
        self.feature_names_in_ = meta["feature_names"]
        self.n_features_in_ = len(self.feature_names_in_)
        self.best_iteration_ = meta["best_iteration"]
        self.device_ = meta["device"]
        self.booster_ = boosters["main"]
