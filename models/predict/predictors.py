"""The predictors in one place: the three LightGBM models and ``load_predictor`` to rebuild one.

* ``GBMClassifier`` (``classifier.py``): purchase and churn probabilities, Platt-calibrated.
* ``GBMRevenue`` (``revenue.py``): Tweedie spend with a per-customer 10–90% interval.
* ``GBMCategory`` (``category.py``): the next category bought, multiclass.
* ``CLVModel``, ``NextOrderModel`` (``clv.py``): lifetime value and next order date from BG/NBD
  (× Gamma-Gamma spend); no trees, JSON parameters.

Every model round-trips through ``to_bytes``/``load_predictor`` (LightGBM text + JSON, no pickle;
see ``analytics.core.model_files``).
"""

from __future__ import annotations

from analytics.core.model_files import unpack_boosters
from models.predict.category import GBMCategory
from models.predict.classifier import GBMClassifier
from models.predict.clv import CLVModel, NextOrderModel
from models.predict.gbm import GBMBase
from models.predict.revenue import GBMRevenue

__all__ = ["GBMCategory", "GBMClassifier", "GBMRevenue", "Predictor", "load_predictor"]

Predictor = GBMClassifier | GBMRevenue | GBMCategory | CLVModel | NextOrderModel
_KINDS: dict[str, type[GBMBase] | type[CLVModel] | type[NextOrderModel]] = {
    "classifier": GBMClassifier,
    "revenue": GBMRevenue,
    "category": GBMCategory,
    "clv": CLVModel,
    "next_order": NextOrderModel,
}


def load_predictor(data: bytes) -> Predictor:
    """Rebuild a predictor saved with ``to_bytes`` (LightGBM text + JSON; no pickle)."""
    kind, meta, boosters = unpack_boosters(data)
    model = _KINDS[kind]()
    model._restore(meta, boosters)
    return model  # type: ignore[return-value]
