"""GBMCategory: learns separable classes, ranks them, round trip."""

from __future__ import annotations

import numpy as np

from models.predict.category import GBMCategory
from models.predict.predictors import load_predictor
from tests.models.predict.synthetic import SMALL


def test_category_model_learns_separable_classes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 2))
    y = np.where(X[:, 0] > 0.5, "shoes", np.where(X[:, 0] < -0.5, "hats", "bags"))
    model = GBMCategory(**SMALL).fit(X, y)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.ranked(X[:1], k=3)[0][0] == y[0]
    again = load_predictor(model.to_bytes())
    assert list(again.predict(X[:20])) == list(model.predict(X[:20]))
