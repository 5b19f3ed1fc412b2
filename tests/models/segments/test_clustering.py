"""Clustering, profiles, names and rules of the learned segments."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from analytics.core.errors import NotEnoughData, SpecError
from models.segments.clustering import (
    ClusterSpec,
    SegmentProfile,
    SegmentRule,
    Trait,
    cluster_users,
    describe_segments,
    name_segments,
    profile_segments,
    segment_table,
    suppress_small,
)


def _blobs(n_per: int = 50, k: int = 5, dims: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 12, (k, dims))
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(0, 1, (len(labels), dims)), labels


def test_cluster_users_finds_planted_groups_and_orders_by_value() -> None:
    x, truth = _blobs()
    value = truth.astype(float)  # group 4 is the most valuable
    result = cluster_users(x, ClusterSpec(k_range=(3, 8)), value=value)
    assert result.k == 5 and result.chosen_by == "silhouette"
    assert adjusted_rand_score(truth, result.labels) == pytest.approx(1.0)
    assert set(result.silhouette_by_k) == set(range(3, 9))
    # segment 0 is the richest group
    assert set(truth[result.labels == 0]) == {4}


def test_parts_keep_the_learned_spread_of_their_dimensions() -> None:
    """A barely used direction with a tidy split of its own must not steer the segments."""
    rng = np.random.default_rng(3)
    truth = np.repeat([0, 1], 200)
    main = np.where(truth == 1, 5.0, -5.0) + rng.normal(0, 1.5, len(truth))
    minor = rng.choice([-0.1, 0.1], size=len(truth)) + rng.normal(0, 0.01, len(truth))
    x = np.column_stack([main, minor])
    per_dim = cluster_users(x, ClusterSpec(k=2))  # minor blown up to the size of main
    as_part = cluster_users(x, ClusterSpec(k=2), parts=np.array([0, 0]))
    assert adjusted_rand_score(truth, per_dim.labels) < 0.1
    assert adjusted_rand_score(truth, as_part.labels) == pytest.approx(1.0)


def test_forced_k_and_bad_k() -> None:
    x, _ = _blobs(n_per=10)
    assert cluster_users(x, ClusterSpec(k=3)).k == 3
    with pytest.raises(SpecError, match="between 2 and"):
        cluster_users(x, ClusterSpec(k=1))
    with pytest.raises(NotEnoughData):
        cluster_users(x[:3])


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(min_value=4, max_value=60),
    k=st.integers(min_value=2, max_value=6),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_every_user_gets_exactly_one_segment(n: int, k: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(n, 3))
    x[: n // 2] += 5  # some structure, sometimes duplicates
    spec = ClusterSpec(k=min(k, n), n_init=1, seed=seed)
    labels = cluster_users(x, spec).labels
    assert labels.shape == (n,)
    assert labels.min() >= 0 and labels.max() < spec.k
    table = segment_table([f"u{i}" for i in range(n)], labels, [], np.zeros((n, 2)))
    assert table["user_id"].n_unique() == n and table["segment"].null_count() == 0


@pytest.fixture
def features() -> pl.DataFrame:
    # 4 heavy electronics buyers, 4 light fashion buyers who have gone quiet
    return pl.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(8)],
            "orders": [6, 5, 7, 6, 1, 1, 0, 1],
            "revenue_total": [600.0, 500.0, 700.0, 600.0, 20.0, 30.0, 0.0, 30.0],
            "avg_order_value": [100.0, 100.0, 100.0, 100.0, 20.0, 30.0, 0.0, 30.0],
            "days_since_last_event": [1, 2, 1, 3, 60, 70, 80, 65],
            "days_since_first_event": [100, 100, 100, 100, 100, 100, 100, 100],
            "activity_trend": [1.5, 1.5, 1.5, 1.5, 0.5, 0.5, 0.5, 0.5],
            "cat_share_electronics": [0.9, 0.8, 0.9, 0.8, 0.0, 0.1, 0.0, 0.0],
            "cat_share_fashion": [0.1, 0.2, 0.1, 0.2, 1.0, 0.9, 1.0, 1.0],
        }
    )


def test_profiles_hand_computed(features: pl.DataFrame) -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    heavy, light = profile_segments(features, labels, max_traits=10)
    assert heavy.size == 4 and heavy.share_users == 0.5
    assert heavy.share_revenue == pytest.approx(2400 / 2480)
    assert heavy.revenue_per_user == pytest.approx(600.0)
    assert light.top_categories[0][0] == "fashion"
    assert light.top_categories[0][1] == pytest.approx(0.975)
    orders = next(t for t in heavy.traits if t.feature == "orders")
    assert orders.lift == pytest.approx(6.0 / (27 / 8), rel=1e-3)
    assert heavy.activity_trend == pytest.approx(1.5)


def test_names_describe_traits_and_are_unique(features: pl.DataFrame) -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    overall = {c: float(features[c].mean()) for c in features.columns if c != "user_id"}
    heavy, light = name_segments(profile_segments(features, labels), overall)
    assert "Frequent" in heavy.name and "high-spend" in heavy.name and "buyers" in heavy.name
    assert "electronics" in heavy.name.lower()
    assert light.name.startswith("Lapsing") or light.name.startswith("Lapsed")
    # identical profiles still get different names
    twins = name_segments([heavy, heavy, heavy], overall)
    assert len({p.name for p in twins}) == 3


def test_rules_in_words_with_precision_and_coverage(features: pl.DataFrame) -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    rules = describe_segments(features, labels)
    assert set(rules) == {0, 1}
    assert rules[0].precision == 1.0 and rules[0].coverage == 1.0
    assert "≥" in rules[0].text or ">" in rules[0].text or "≤" in rules[0].text
    assert rules[0].conditions  # machine-readable too


def test_profile_round_trip_through_json(features: pl.DataFrame) -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    rules = describe_segments(features, labels)
    profile = profile_segments(features, labels)[0]
    from dataclasses import replace

    profile = replace(profile, rules=(rules[0],))
    assert SegmentProfile.from_dict(profile.to_dict()) == profile


def test_profile_rows_must_match() -> None:
    with pytest.raises(SpecError, match="one row per user"):
        profile_segments(pl.DataFrame({"user_id": ["a"], "orders": [1]}), np.array([0, 1]))


def test_suppress_small_empties_groups_under_the_minimum() -> None:
    trait = Trait("orders", "orders placed", 3.0, 1.0, 3.0, 2.0)
    rule = SegmentRule("orders placed > 2", 0.9, 0.8)
    big = SegmentProfile(0, "Big", 10, 0.9, 0.7, 50.0, (trait,), (("Toys", 0.5),), 1.2,
                         {"orders": 3.0}, (rule,))  # fmt: skip
    small = replace(big, segment=1, name="Tiny", size=9, share_users=0.1)
    out = suppress_small([big, small], min_size=10)
    assert out[0] == big  # 10 customers: shown in full
    assert out[1].suppressed and out[1].size == 9 and out[1].name == "Tiny"
    assert out[1].share_revenue == 0.0 and out[1].revenue_per_user == 0.0
    assert not (out[1].traits or out[1].rules or out[1].top_categories or out[1].means)
    assert suppress_small([small], min_size=1) == [small]
    assert SegmentProfile.from_dict(out[1].to_dict()) == out[1]  # survives the JSON round trip
