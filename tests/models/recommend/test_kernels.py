"""The compiled kernels against the code they replace."""

from __future__ import annotations

import numpy as np


def test_flat_trees_follow_lightgbm_on_missing_values() -> None:
    """The flat trees the fused pass walks give LightGBM's own probabilities, NaNs included
    (each feature is stored three times: NaN as 0, -inf and +inf)."""
    from models.recommend.blend import FEATURES, BlendRanker
    from models.recommend.kernels import _raw_score

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3_000, len(FEATURES))).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 1] = rng.normal(size=len(x))  # never missing in training: its splits count NaN as 0
    y = (x[:, 1] + np.isnan(x[:, 2]) - np.nan_to_num(x[:, 5]) > 0.3).astype(int)
    ranker = BlendRanker(rounds=20, leaves=8).fit(x, y)
    x = x[:300]
    x[::3, 1] = np.nan
    node, thr, value, roots = ranker.trees()
    nan = np.isnan(x)
    three = np.concatenate([np.where(nan, v, x) for v in (0.0, -np.inf, np.inf)], axis=1)
    raw = np.array([_raw_score(three, t, roots, node, thr, value) for t in range(len(x))])
    assert np.allclose(1 / (1 + np.exp(-raw)), ranker.predict_proba(x), rtol=0, atol=1e-12)
