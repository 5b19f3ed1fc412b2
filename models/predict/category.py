"""``GBMCategory``: which category a customer buys next, as a LightGBM multiclass model.

Only the ``max_classes`` most common categories get a class of their own; the rest are pooled
into ``(other)`` so rare categories do not starve the trees. Round-trips through ``to_bytes``.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from analytics.core.errors import NotEnoughData
from analytics.core.model_files import pack_boosters
from models.predict.gbm import GBMBase, GBMConfig

__all__ = ["GBMCategory"]

_OTHER = "(other)"


class GBMCategory(GBMBase):
    """Multiclass LightGBM over the ``max_classes`` most common categories, the rest pooled."""

    objective = "multiclass"

    def __init__(
        self,
        *,
        config: GBMConfig | None = None,
        device: str = "auto",
        n_jobs: int = 1,
        random_state: int = 7,
        max_classes: int = 20,
    ) -> None:
        super().__init__(config=config, device=device, n_jobs=n_jobs, random_state=random_state)
        self.max_classes = max_classes

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {k: v for k, v in super().get_params(deep).items() if k != "n_bags"}
        return params | {"max_classes": self.max_classes}

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
        meta = self._meta() | {"classes": self.classes_.tolist()}
        return pack_boosters("category", meta, {"main": self.booster_})

    def _restore(self, meta: dict[str, Any], boosters: dict[str, lgb.Booster]) -> None:
        super()._restore(meta, boosters)
        self.classes_ = np.array(meta["classes"], dtype=object)
        self.max_classes = meta.get("max_classes", self.max_classes)
