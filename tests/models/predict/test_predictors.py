"""Model files: foreign bytes are refused, torch weights load without arbitrary objects, and
files saved before the tuning knobs were grouped still load."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from analytics.core.errors import SpecError
from analytics.core.model_files import load_state_dict, save_state_dict, unpack_boosters
from models.predict.classifier import GBMClassifier
from models.predict.gbm import GBMConfig
from models.predict.predictors import load_predictor
from tests.models.predict.synthetic import SMALL


def test_foreign_bytes_are_refused():
    with pytest.raises(SpecError):
        unpack_boosters(pickle.dumps({"boosters": {}}))


def test_torch_state_dict_round_trip_refuses_arbitrary_objects():
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    loaded, meta = load_state_dict(save_state_dict(state, {"hidden": 8}))
    assert torch.equal(loaded["w"], state["w"]) and meta == {"hidden": 8}

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    import io

    buf = io.BytesIO()
    torch.save({"state": Evil(), "meta": "{}"}, buf)
    with pytest.raises(SpecError):
        load_state_dict(buf.getvalue())


def test_a_file_with_flat_tuning_knobs_still_loads():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] + rng.normal(0, 0.5, 300) > 0).astype(int)
    model = GBMClassifier(**SMALL).fit(X, y)
    doc = json.loads(model.to_bytes())
    params = doc["meta"]["params"]
    params |= params.pop("config")  # the layout of files saved before GBMConfig
    again = load_predictor(json.dumps(doc).encode())
    assert again.config == GBMConfig(n_estimators=60, early_stopping_rounds=10,
                                     min_child_samples=10)  # fmt: skip
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))
