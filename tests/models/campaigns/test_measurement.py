"""Outcome windows, stratified holdouts, power and measured lift against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics.core.errors import NotEnoughData, SpecError
from models.campaigns.measurement import (
    assign_holdout,
    campaign_outcomes,
    holdout_advice,
    measure_lift,
    minimum_detectable_effect,
    required_sample_size,
)

SENT = datetime(2026, 6, 1, 6, tzinfo=UTC)


def test_outcomes_count_only_the_window_after_the_send() -> None:
    exposures = pl.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "campaign_id": ["x"] * 3,
            "arm": ["treatment", "control", "treatment"],
            "sent_time": [SENT] * 3,
        }
    )
    t = [
        SENT - timedelta(hours=1),
        SENT + timedelta(days=3),
        SENT + timedelta(days=15),
        SENT + timedelta(days=13, hours=23),
    ]
    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "b", "c"],
            "event_time": t,
            "event_type": ["purchase", "view", "purchase", "purchase"],
            "revenue": [50.0, None, 20.0, 30.0],
        }
    )
    out = campaign_outcomes(events, exposures, "purchase", 14)
    # a: purchase before the send does not count; b: day 15 is outside; c: inside
    assert out["outcome"].to_list() == [0.0, 0.0, 1.0]
    assert campaign_outcomes(events, exposures, "revenue", 14)["outcome"].to_list() == [0, 0, 30]
    # engagement: distinct days with any event in the window (a: one view on day 3)
    again = events.filter(pl.col("user_id") == "a").with_columns(
        pl.col("event_time") + timedelta(hours=1), pl.lit("cart").alias("event_type")
    )
    more = pl.concat([events, again])
    assert campaign_outcomes(more, exposures, "active_days", 14)["outcome"].to_list() == [1, 0, 1]
    # several outcomes of one window from one pass: the same figures as one call each
    both = campaign_outcomes(more, exposures, "purchase", 14, extra={"days": "active_days"})
    assert both["outcome"].to_list() == [0.0, 0.0, 1.0]
    assert both["days"].to_list() == [1, 0, 1]
    with pytest.raises(SpecError, match="not an event type"):
        campaign_outcomes(events, exposures, "clicks")


def test_holdout_is_exact_per_stratum_and_seeded() -> None:
    audience = pl.DataFrame(
        {"user_id": [str(i) for i in range(1000)], "segment": [0] * 600 + [1] * 300 + [2] * 100}
    )
    out = assign_holdout(audience, 0.1, seed=3)
    counts = out.filter(pl.col("group") == "control").group_by("segment").len().sort("segment")
    assert counts["len"].to_list() == [60, 30, 10]
    assert out.equals(assign_holdout(audience, 0.1, seed=3))
    assert not out.equals(assign_holdout(audience, 0.1, seed=4))
    with pytest.raises(SpecError):
        assign_holdout(audience, 1.0)


def test_power_calculation_matches_the_textbook_formula() -> None:
    # z = 1.959964 + 0.841621; var = .1*.9 + .12*.88 = .1956; n = z^2 var / .02^2 = 3838.2
    assert required_sample_size(0.10, 0.02) == 3839
    mde = minimum_detectable_effect(0.10, 3839, 3839)
    assert mde == pytest.approx(2.801585 * np.sqrt(2 * 0.09 / 3839), rel=1e-6)
    with pytest.raises(SpecError):
        required_sample_size(0.1, 0.0)


def test_holdout_advice_says_enough_or_how_many() -> None:
    big = holdout_advice(200_000, 0.10, 0.02, 0.10)
    assert big.enough and "keep it" in big.message
    small = holdout_advice(3_000, 0.10, 0.02, 0.05)
    assert not small.enough
    assert small.recommended_share is None or small.recommended_share > 0.05
    mid = holdout_advice(40_000, 0.10, 0.02, 0.02)
    assert not mid.enough and mid.recommended_share is not None
    assert mid.detectable_effect is not None and mid.detectable_effect > 0.02


def test_no_control_group_detects_nothing_and_stays_strict_json() -> None:
    import json

    none = holdout_advice(5_000, 0.10, 0.02, 0.0)
    assert none.control == 0 and none.detectable_effect is None and not none.enough
    assert "cannot measure any effect" in none.message
    assert json.loads(json.dumps(none.summary(), allow_nan=False))["detectable_effect"] is None


def test_measure_lift_hand_computed() -> None:
    groups = pl.DataFrame(
        {"user_id": list("abcdefgh"), "group": ["treatment"] * 4 + ["control"] * 4}
    )
    outcomes = pl.DataFrame({"user_id": ["a", "b", "c", "e"], "converted": [1, 1, 1, 1]})
    r = measure_lift(groups, outcomes, outcome="converted")
    # treatment 3/4 (d missing = 0), control 1/4
    assert (r.treatment_mean, r.control_mean, r.lift) == (0.75, 0.25, 0.5)
    se = np.sqrt(0.25 / 4 + 0.25 / 4)  # var(ddof=1) of [1,1,1,0] = .25
    assert r.upper - r.lift == pytest.approx(1.959964 * se, rel=1e-5)
    assert r.relative_lift == pytest.approx(2.0)
    with pytest.raises(NotEnoughData):
        measure_lift(groups.head(5), outcomes, outcome="converted")
