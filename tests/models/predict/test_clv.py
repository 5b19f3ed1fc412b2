"""Customer lifetime value: BG/NBD purchase days × shrunk spend per purchase day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from models.predict.baselines import BetaGeo, repeat_summary
from models.predict.clv import clv_projection
from tests.models.predict.synthetic import USER, synthetic_store


def test_clv_projection_is_bgnbd_purchases_times_shrunk_spend():
    store = synthetic_store(users=200, days=400, seed=3)
    cutoff = datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
    clv = clv_projection(store, cutoff)
    s = repeat_summary(store, cutoff)
    args = (s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy())
    expected = BetaGeo().fit(*args).expected_purchases(365.0, *args)
    n = args[0] + 1
    spend = (n * s["monetary"].to_numpy() + s["monetary"].mean()) / (n + 1)
    assert clv[USER].to_list() == s[USER].to_list()
    assert np.allclose(clv["clv"].to_numpy(), expected * spend)
    frequent = clv.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 0)["clv"].mean()
    rare = clv.filter(pl.col(USER).str.slice(1).cast(pl.Int64) % 2 == 1)["clv"].mean()
    assert frequent > 3 * rare  # every ~5 days against every ~60 days, 20 per order
