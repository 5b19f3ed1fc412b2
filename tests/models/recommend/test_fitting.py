"""Fitting the blends on the windows before a cutoff."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from models.recommend.fitting import RecommendConfig, fit_recommender
from models.recommend.serving import recommend_lists
from tests.models.recommend.logs import shop


def test_blends_learn_from_consecutive_windows_and_reuse_them() -> None:
    """The blends train on ``train_windows`` back-to-back windows before the cutoff (stopping
    where history runs out), each labelled only by purchases inside it; a fit one horizon
    later reuses the windows it shares instead of refitting them, with the same lists."""
    ev = shop(users=60)
    cfg = RecommendConfig(horizon_days=14, train_windows=10)
    fitted = fit_recommender(ev, date(2024, 2, 20), cfg)
    end = fitted.cutoff  # the end of 20 Feb
    # history starts on 1 Jan: windows start 14, 28 and 42 days back; 56 days back is empty
    starts = [end - timedelta(days=14 * k) for k in (1, 2, 3)]
    assert list(fitted.train_rows) == starts
    for start, rows in fitted.train_rows.items():
        assert rows is not None
        _, label = rows
        window = ev.filter(
            (pl.col("event_type") == "purchase")
            & (pl.col("event_time") > start)
            & (pl.col("event_time") <= start + timedelta(days=14))
        )
        assert 0 < label.sum() <= window.select("user_id", "item_id").unique().height
    later = fit_recommender(ev, date(2024, 3, 5), cfg, train_rows=fitted.train_rows)
    assert list(later.train_rows) == [later.cutoff - timedelta(days=14), *starts]
    assert all(later.train_rows[s] is fitted.train_rows[s] for s in starts)
    fresh = fit_recommender(ev, date(2024, 3, 5), cfg)
    key = ["user_id", "list", "rank"]
    assert recommend_lists(later, k=5).sort(key).equals(recommend_lists(fresh, k=5).sort(key))
