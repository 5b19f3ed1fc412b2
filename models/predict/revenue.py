"""Count and spend regressors: ``GBMRevenue`` (Tweedie spend with a per-customer interval) and
``PoissonGBM`` (expected purchase days in the horizon).

Spend is zero for most customers and long-tailed for the rest, hence Tweedie (log link); two
quantile models give the 10–90% interval. Round-trips through ``to_bytes`` (LightGBM text + JSON).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from analytics.core.errors import NotEnoughData
from analytics.core.model_files import pack_boosters
from models.predict.gbm import GBMBase, GBMConfig

__all__ = ["GBMRevenue", "PoissonGBM"]


class GBMRevenue(GBMBase):
    """Tweedie LightGBM for zero-heavy spend with a 10–90% quantile interval per user."""

    objective = "tweedie"

    def __init__(
        self,
        *,
        config: GBMConfig | None = None,
        device: str = "auto",
        n_jobs: int = 1,
        random_state: int = 7,
        tweedie_power: float = 1.3,
        interval: float = 0.8,
    ) -> None:
        super().__init__(config=config, device=device, n_jobs=n_jobs, random_state=random_state)
        self.tweedie_power = tweedie_power
        self.interval = interval

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {k: v for k, v in super().get_params(deep).items() if k != "n_bags"}
        return params | {"tweedie_power": self.tweedie_power, "interval": self.interval}

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
        meta = self._meta() | {"tweedie_power": self.tweedie_power, "interval": self.interval}
        return pack_boosters(
            "revenue", meta, {"main": self.booster_, "lower": self.lower_, "upper": self.upper_}
        )

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        super()._restore(meta, boosters)
        self.tweedie_power = meta["tweedie_power"]
        self.interval = meta["interval"]
        self.lower_, self.upper_ = boosters["lower"], boosters["upper"]


class PoissonGBM(GBMBase):
    """Expected purchase days in the horizon (Poisson LightGBM, log link)."""

    objective = "poisson"

    def fit(self, X, y, *, feature_names=None) -> PoissonGBM:
        self.booster_, _, _ = self._train(X, np.asarray(y, dtype=float), None, feature_names)
        return self

    def predict(self, X) -> np.ndarray:
        return self._booster_output(X)
