"""The candidate generation the blends learn from."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from models.recommend.base import (
    build_history,
)
from tests.models.recommend.logs import shop


def test_candidates_hold_every_models_best_items_and_their_exact_scores() -> None:
    from models.recommend.blend import build_candidates, fit_base_models

    h = build_history(shop(users=30, days=40), date(2024, 2, 5))
    models = fit_base_models(h, horizon_days=10)
    allowed = h.recent_items(7.0)
    users = np.arange(h.n_users)
    cands = build_candidates(models, users, allowed=allowed, per_model=3, own_cap=4)
    bought = h.bought().toarray() > 0
    dense = {
        "knn": models.knn.score(users),
        "knn_recent": models.knn_recent.score(users),
        "ease": models.ease.score(users),
        "als": models.als.score(users),
        "pop": models.popularity.score(users),
    }
    again = models.buy_again.matrix_.toarray()
    own = h.last_touch().group_by("u", maintain_order=True).head(4)
    for u in users:
        mine = cands.filter(pl.col("u") == u)
        items = mine["i"].to_numpy()
        assert len(set(items)) == len(items) and allowed[items].all()
        expected_own = own.filter(pl.col("u") == u)["i"].to_numpy()
        assert set(expected_own[allowed[expected_own]]) <= set(items)
        for name, s in dense.items():
            assert np.allclose(mine[f"s_{name}"].to_numpy(), s[u, items], rtol=1e-4, atol=1e-6)
            # each generator's 3 best new items (by value: ties may pick either item) are in
            if name != "ease":
                eligible = np.sort(s[u, allowed & ~bought[u]])[::-1][:3]
                have = np.sort(s[u, items[~bought[u, items]]])[::-1][:3]
                assert np.allclose(have, eligible, rtol=1e-4, atol=1e-6)
        assert np.allclose(mine["s_buy_again"].to_numpy(), again[u, items], rtol=1e-5)
        # and the 3 items with the most new buyers lately, from the trending source
        trend = models.trending.popularity_
        fresh = np.flatnonzero(allowed & ~bought[u])
        top = np.sort(trend[fresh])[::-1][:3]
        assert np.allclose(np.sort(trend[items[~bought[u, items]]])[::-1][:3], top)
        # rank 1 is the user's best candidate on that signal
        best = mine.filter(pl.col("r_als") == 1)["s_als"][0]
        assert best == pytest.approx(mine["s_als"].max())
        assert sorted(mine["r_knn"].to_list()) == list(range(1, len(items) + 1))
