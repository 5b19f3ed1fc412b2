"""Simulator: hand-computed economics, budget and depth, strategies, and interval coverage."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from analytics.core.errors import NotEnoughData, SpecError
from models.campaigns.simulation import (
    CampaignSpec,
    EffectModel,
    Offer,
    campaign_from_json,
    compare_strategies,
    depth_curve,
    rank_users,
    simulate_campaign,
)

CERTAIN = EffectModel((0.0, 1.0), ((0.0, 0.0), (0.0, 0.0)), "model")


def frame3() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "p0": [0.10, 0.50, 0.20],
            "uplift_raw": [0.20, -0.05, 0.10],
            "uplift": [0.20, -0.05, 0.10],
            "value": [100.0, 200.0, 40.0],
            "segment": [1, 2, 1],
        }
    )


def test_point_economics_hand_computed() -> None:
    spec = CampaignSpec(
        offer=Offer(discount_pct=10, cost_per_contact=1.0),
        margin_pct=50,
        depth_pct=100 * 2 / 3,
        draws=50,
    )
    sim = simulate_campaign(frame3(), spec, CERTAIN)
    m = {k: v["mean"] for k, v in sim.metrics.items()}
    # top 2 by uplift: a (0.20) and c (0.10)
    assert sim.contacts == 2 and set(sim.selected.tolist()) == {0, 2}
    assert m["incremental_conversions"] == pytest.approx(0.30)
    assert m["incremental_revenue"] == pytest.approx(100 * 0.2 + 40 * 0.1)  # 24
    # 2 contacts + 10% of every order placed by them: 100*(.1+.2) + 40*(.2+.1) = 42
    assert m["offer_cost"] == pytest.approx(2 + 4.2)
    assert m["profit"] == pytest.approx(0.5 * 24 - 6.2)
    assert m["roi"] == pytest.approx(5.8 / 6.2)


def test_best_cut_and_budget_cap() -> None:
    spec = CampaignSpec(offer=Offer(discount_pct=10, cost_per_contact=1.0), margin_pct=50, draws=20)
    sim = simulate_campaign(frame3(), spec, CERTAIN)
    # profit of a alone: 0.5*20 - (1 + 3) = 6; with c: 5.8; with b too: less -> a alone
    assert sim.contacts == 1
    capped = simulate_campaign(
        frame3(),
        CampaignSpec(
            depth_pct=100, budget=3.0, draws=20, offer=Offer(discount_pct=0, cost_per_contact=1.0)
        ),
        CERTAIN,
    )
    assert capped.contacts == 3 - 0 and capped.metrics["offer_cost"]["mean"] == pytest.approx(3.0)
    tight = simulate_campaign(
        frame3(),
        CampaignSpec(
            depth_pct=100, budget=2.5, draws=20, offer=Offer(discount_pct=0, cost_per_contact=1.0)
        ),
        CERTAIN,
    )
    assert tight.contacts == 2
    curve = depth_curve(frame3(), spec, CERTAIN)
    assert curve.filter(pl.col("best"))["contacts"].to_list() == [1]
    assert curve["contacts"].to_list() == [0, 1, 2, 3]


def test_the_best_cut_on_the_curve_is_the_cut_the_campaign_contacts() -> None:
    # 1,000 users, uplift falling from 0.30 to -0.10: the best cut lies between two grid points
    rng = np.random.default_rng(3)
    u = np.linspace(0.30, -0.10, 1000)
    frame = pl.DataFrame({
        "user_id": [f"u{i}" for i in range(1000)], "p0": rng.uniform(0.05, 0.2, 1000),
        "uplift_raw": u, "uplift": u, "value": np.full(1000, 30.0),
    })  # fmt: skip
    spec = CampaignSpec(offer=Offer(discount_pct=5, cost_per_contact=2.0), draws=50)
    sim = simulate_campaign(frame, spec, CERTAIN)
    curve = depth_curve(frame, spec, CERTAIN, points=11)
    assert curve.filter(pl.col("best"))["contacts"].to_list() == [sim.contacts]
    assert sim.contacts % 100 != 0  # off the grid of 11 points: added to the curve
    # a fixed depth still shows where the best cut would be
    fixed = depth_curve(frame, dataclasses.replace(spec, depth_pct=50), CERTAIN, points=11)
    assert fixed.filter(pl.col("best"))["contacts"].to_list() == [sim.contacts]


def test_strategies_rank_differently() -> None:
    f = frame3()
    assert rank_users(f, "uplift").tolist() == [0, 2, 1]
    assert rank_users(f, "propensity").tolist() == [1, 2, 0]
    assert sorted(rank_users(f, "random").tolist()) == [0, 1, 2]
    # segment 1 has mean uplift .15 > segment 2's -.05
    assert set(rank_users(f, "segment")[:2].tolist()) == {0, 2}
    table = compare_strategies(f, CampaignSpec(draws=20), CERTAIN, contacts=1)
    assert table["strategy"].to_list() == ["uplift", "propensity", "random", "segment"]
    by = dict(zip(table["strategy"], table["incremental_conversions"], strict=True))
    assert by["uplift"] == pytest.approx(0.20) and by["propensity"] == pytest.approx(-0.05)
    assumed = compare_strategies(f, CampaignSpec(draws=20), EffectModel.assumed(10, 0), 1)
    assert "uplift" not in assumed["strategy"].to_list()


def test_assumed_lift_is_relative_to_baseline() -> None:
    f = frame3().with_columns(
        pl.col("p0").alias("uplift_raw"), (pl.col("p0") * 0.2).alias("uplift")
    )
    spec = CampaignSpec(depth_pct=100, draws=20, effect_source="assumed")
    sim = simulate_campaign(f, spec, EffectModel.assumed(20, 0))
    assert sim.metrics["incremental_conversions"]["mean"] == pytest.approx(0.2 * 0.8)


def test_intervals_cover_the_realised_outcome_at_their_nominal_rate() -> None:
    """Worlds drawn from the model's own uncertainty: a 90% interval holds ~90% of outcomes."""
    rng = np.random.default_rng(0)
    n, worlds, hits = 3000, 200, 0
    p0 = rng.beta(2, 12, n)
    raw = rng.normal(0.03, 0.02, n)
    value = rng.gamma(3, 20, n)
    frame = pl.DataFrame(
        {
            "user_id": np.arange(n).astype(str),
            "p0": p0,
            "value": value,
            "uplift_raw": raw,
            "uplift": raw,
        }
    )
    effect = EffectModel((0.005, 0.8), ((1e-5, 0.0), (0.0, 0.04)), "model")
    spec = CampaignSpec(depth_pct=50, draws=2000, interval=0.9, seed=1)
    sim = simulate_campaign(frame, spec, effect)
    lo, hi = sim.metrics["profit"]["lower"], sim.metrics["profit"]["upper"]
    idx = sim.selected
    econ_margin, disc, cpc = 0.4, 0.10, 0.05
    for _ in range(worlds):
        a, b = rng.multivariate_normal(effect.mean, effect.cov)
        u = np.clip(a + b * raw[idx], -p0[idx], 1 - p0[idx])
        y1 = rng.random(len(idx)) < p0[idx] + u
        y0 = rng.random(len(idx)) < p0[idx]
        rev = (value[idx] * (y1.astype(float) - y0)).sum()
        cost = len(idx) * cpc + disc * (value[idx] * y1).sum()
        hits += lo <= econ_margin * rev - cost <= hi
    assert 0.83 <= hits / worlds <= 0.97


def test_spec_from_json_and_errors() -> None:
    spec = campaign_from_json(
        {
            "name": "x",
            "offer": {"discount_pct": 15},
            "depth_pct": 30,
            "audience": {"segments": [1, 2]},
        }
    )
    assert spec.offer.discount_pct == 15.0 and spec.audience.segments == (1, 2)
    with pytest.raises(SpecError, match="strategy"):
        campaign_from_json({"strategy": "psychic"})
    with pytest.raises(SpecError, match="Unknown field"):
        campaign_from_json({"offer": {"discount": 10}})
    with pytest.raises(NotEnoughData):
        simulate_campaign(frame3().head(0), CampaignSpec(), CERTAIN)
