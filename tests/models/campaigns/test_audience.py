"""Audience rules against hand-built frames: segments, RFM, lists, score bands, filters, consent."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from analytics.core.errors import SpecError
from models.campaigns.audience import (
    AttributeFilter,
    AudienceInputs,
    AudienceSpec,
    ScoreBand,
    select_audience,
    spec_from_dict,
    spec_to_dict,
    summarize_audience,
)

NOW = datetime(2026, 6, 30, tzinfo=UTC)


@pytest.fixture
def inputs() -> AudienceInputs:
    ids = ["u1", "u2", "u3", "u4", "u5", "u6"]
    users = pl.DataFrame(
        {
            "user_id": ids,
            "country": ["DE", "FR", "DE", "AT", "DE", "FR"],
            "age": [25, 40, 33, 51, 19, 60],
            "consent_email": [True, True, False, None, True, True],
        }
    )
    segments = pl.DataFrame(
        {
            "user_id": ids,
            "segment": [0, 1, 0, 2, 1, 0],
            "segment_name": ["a", "b", "a", "c", "b", "a"],
        }
    )
    rfm = pl.DataFrame(
        {
            "user_id": ids,
            "rfm_group": ["Champions", "At risk", "Champions", "Inactive", "Loyal", "At risk"],
        }
    )
    purchase = pl.DataFrame(
        {
            "user_id": ids,
            "score": [0.9, 0.1, 0.5, 0.7, 0.3, 0.8],
            "score_100": [90, 10, 50, 70, 30, 80],
            "percentile": [100.0, 16.7, 50.0, 66.7, 33.3, 83.3],
        }
    )
    last = pl.DataFrame(
        {
            "user_id": ["u1", "u6"],
            "last_purchase": [datetime(2026, 6, 28, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)],
        }
    )
    return AudienceInputs(
        users=users,
        segments=segments,
        rfm=rfm,
        scores={"purchase": purchase},
        audiences={"vip": pl.DataFrame({"user_id": ["u1", "u2", "u5"]})},
        campaigns={"spring": pl.DataFrame({"user_id": ["u5"]})},
        last_purchase=last,
        now=NOW,
    )


def ids(frame: pl.DataFrame) -> list[str]:
    return frame["user_id"].to_list()


def test_consent_only_opted_in_by_default(inputs: AudienceInputs) -> None:
    # u3 opted out, u4 unknown: both left out
    assert ids(select_audience(inputs, AudienceSpec())) == ["u1", "u2", "u5", "u6"]
    assert len(select_audience(inputs, AudienceSpec(exclude_no_consent=False))) == 6


def test_values_within_a_rule_or_rules_and(inputs: AudienceInputs) -> None:
    spec = AudienceSpec(segments=(0, 1), rfm_groups=("At risk", "Champions"))
    # segments 0/1 -> u1 u2 u3 u5 u6; At risk/Champions -> u1 u2 u3 u6; consent drops u3
    assert ids(select_audience(inputs, spec)) == ["u1", "u2", "u6"]


def test_score_bands_top_share_and_score_threshold(inputs: AudienceInputs) -> None:
    top = AudienceSpec(score_bands=(ScoreBand("purchase", 80, 100),), exclude_no_consent=False)
    assert ids(select_audience(inputs, top)) == ["u1", "u6"]
    above = AudienceSpec(
        score_bands=(ScoreBand("purchase", 70, 100, on="score_100"),), exclude_no_consent=False
    )
    assert ids(select_audience(inputs, above)) == ["u1", "u4", "u6"]
    assert ScoreBand("purchase", 80, 100).describe() == "top 20% by purchase"


def test_filters_lists_and_exclusions(inputs: AudienceInputs) -> None:
    spec = AudienceSpec(
        filters=(AttributeFilter("country", "in", ["DE", "FR"]), AttributeFilter("age", ">=", 20)),
        audiences=("vip",),
        exclude_campaigns=("spring",),
        exclude_purchased_within_days=7,
    )
    # DE/FR and age>=20: u1 u2 u3 u6; in vip: u1 u2; u1 bought 2 days ago
    assert ids(select_audience(inputs, spec)) == ["u2"]
    not_vip = AudienceSpec(exclude_audiences=("vip",), filters=(AttributeFilter("age", "<", "50"),))
    assert ids(select_audience(inputs, not_vip)) == []  # u6 is 60; u1 u2 u5 in vip


def test_summary_size_value_and_overlap(inputs: AudienceInputs) -> None:
    selected = select_audience(inputs, AudienceSpec())
    value = pl.DataFrame({"user_id": ["u1", "u2", "u3"], "value": [10.0, 5.0, 100.0]})
    s = summarize_audience(selected, inputs, value, "revenue")
    assert (s.size, s.base, s.value) == (4, 6, 15.0)
    overlap = {o["name"]: o["users"] for o in s.overlaps}
    assert overlap == {"vip": 3, "spring": 1}
    assert s.share == pytest.approx(4 / 6)


def test_spec_json_round_trip_and_errors(inputs: AudienceInputs) -> None:
    spec = AudienceSpec(
        segments=(1,),
        score_bands=(ScoreBand("purchase", 80),),
        filters=(AttributeFilter("country", "==", "DE"),),
    )
    assert spec_from_dict(AudienceSpec, spec_to_dict(spec)) == spec
    with pytest.raises(SpecError, match="Unknown field"):
        spec_from_dict(AudienceSpec, {"segmnts": [1]})
    with pytest.raises(SpecError, match="no column 'city'"):
        select_audience(inputs, AudienceSpec(filters=(AttributeFilter("city", "==", "x"),)))
    bare = AudienceInputs(users=inputs.users)
    with pytest.raises(SpecError, match="Segments page"):
        select_audience(bare, AudienceSpec(segments=(1,)))
    with pytest.raises(SpecError, match="consent"):
        select_audience(AudienceInputs(users=inputs.users.drop("consent_email")), AudienceSpec())
    with pytest.raises(SpecError, match="No saved audience named nope"):
        select_audience(inputs, AudienceSpec(audiences=("nope",)))
