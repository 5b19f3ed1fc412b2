"""The segment step end to end on a small demo store (tiny training config)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from analytics.core.errors import DatasetNotFound, NotEnoughData
from analytics.core.workspace import Workspace
from analytics.demo.generator import DemoStore
from analytics.features.rfm import RFM_GROUPS
from models.segments.embeddings import load_state_dict
from models.segments.service import (
    ColourChoice,
    SegmentSpec,
    ari_vs_truth,
    classic_rfm,
    load_segmentation,
    run_segmentation,
    segment_map,
    segmentation_stamp,
)

TINY = SegmentSpec(epochs=2, dims=8, max_events=16, k_range=(4, 7))


def store_demo(ws: Workspace, store: DemoStore, name: str = "demo") -> None:
    """The session's small demo store saved as ``name`` (no regeneration)."""
    ws.save_dataset(
        name,
        shape="events",
        source="test",
        mapping={},
        report={},
        frames={"events": store.events, "users": store.users},
    )
    ws.write_frame(name, "truth", store.truth)


@pytest.fixture(scope="module")
def segmented(small_demo: DemoStore, tmp_path_factory: pytest.TempPathFactory):
    ws = Workspace(tmp_path_factory.mktemp("seg") / "ws")
    store_demo(ws, small_demo)
    return ws, run_segmentation(ws, "demo", TINY)


def test_every_user_with_history_gets_one_named_segment(segmented, small_demo) -> None:
    _, result = segmented
    seg = result.segments
    users = small_demo.events["user_id"].n_unique()
    assert seg.height == users and seg["user_id"].n_unique() == users
    assert seg["segment"].null_count() == 0 and seg["x"].is_finite().all()
    assert 4 <= result.k <= 7 and set(seg["segment"].unique()) == set(range(result.k))
    names = [p.name for p in result.profiles]
    assert len(set(names)) == len(names) and all(names)
    assert sum(p.size for p in result.profiles) == users
    assert sum(p.share_revenue for p in result.profiles) == pytest.approx(1.0, abs=1e-6)
    assert all(p.rules and 0 < p.rules[0].precision <= 1 for p in result.profiles)
    assert 0.0 < result.trustworthiness <= 1.0 and result.device.startswith("CPU")


def test_artifacts_and_record_are_persisted_and_reopen(segmented) -> None:
    ws, result = segmented
    for name in ("features", "rfm", "segments", "embeddings", "segment_profiles"):
        assert name in ws.list_artifacts("demo")
    load_state_dict(ws.read_bytes("demo", "segment_embedder"))
    again = load_segmentation(ws, "demo")
    assert again is not None
    assert again.segments.equals(result.segments)
    assert [p.name for p in again.profiles] == [p.name for p in result.profiles]
    assert again.profiles == result.profiles
    payload = ws.get_record("run", "demo", "segment").payload
    assert payload["k"] == result.k and "embeddings" in payload["timings"]
    summary = result.summary()
    assert summary["n_users"] == result.n_users and len(summary["segments"]) == result.k


def test_ari_against_planted_types(segmented) -> None:
    ws, result = segmented
    ari = ari_vs_truth(ws, "demo", result.segments)
    assert ari is not None and ari > 0.2  # tiny config: well above chance, far from the bench


def test_forced_k_and_errors(segmented, small_demo) -> None:
    ws, _ = segmented
    store_demo(ws, small_demo, "demo_k3")
    assert run_segmentation(ws, "demo_k3", SegmentSpec(k=3, epochs=1, dims=8)).k == 3
    with pytest.raises(DatasetNotFound):
        run_segmentation(ws, "nope", TINY)
    with pytest.raises(NotEnoughData):
        run_segmentation(ws, "demo_k3", SegmentSpec(cutoff=date(2000, 1, 1)))
    assert load_segmentation(ws, "missing") is None


def test_dimension_weights_follow_the_data_taste() -> None:
    """With categories: taste dims 1, value dims ``value_weight``; without: value dims only."""
    from models.segments.service import _dimension_weights

    with_taste = _dimension_weights({"dims": 8, "n_category_ids": 14}, 0.5)
    assert with_taste.tolist() == [1.0] * 6 + [0.5] * 2
    # padding + "other" + one category: nothing to tell tastes apart
    no_taste = _dimension_weights({"dims": 8, "n_category_ids": 3}, 0.5)
    assert no_taste.tolist() == [0.0] * 6 + [1.0] * 2


def test_summary_reports_cpu_seconds(segmented) -> None:
    _, result = segmented
    summary = result.summary()
    assert set(summary["cpu_timings"]) == {
        "features",
        "embeddings",
        "projection",
        "clustering",
        "profiles",
    }
    assert summary["cpu_seconds"] > 0


def test_ensemble_size_tops_small_data_up_to_the_row_budget() -> None:
    """ceil(ensemble_rows / training rows), 1 to ``max_members``; member 0 keeps the seed."""
    from models.segments.service import ensemble_size, member_seed

    assert ensemble_size(3007, 15_000, 5) == 5  # Online Retail-sized: five networks
    assert ensemble_size(6000, 15_000, 5) == 3
    assert ensemble_size(18_678, 15_000, 5) == 1  # the demo's 20k users: one, as before
    assert ensemble_size(10, 15_000, 5) == 5
    assert ensemble_size(0, 15_000, 0) == 1
    assert member_seed(7, 0) == 7
    assert len({member_seed(7, i) for i in range(5)}) == 5


def test_small_data_records_its_ensemble(segmented) -> None:
    ws, result = segmented
    record = ws.get_record("run", result.dataset, "segment")
    assert record is not None
    assert 1 <= record.payload["ensemble_members"] <= TINY.max_members


def test_cluster_space_adds_the_value_forecast_as_its_own_part() -> None:
    """The forecast column's weight = forecast_weight x root of the value dims' squared weights."""
    import numpy as np

    from models.segments.service import SegmentSpec, _cluster_space

    args = [{"dims": 8, "n_category_ids": 3}] * 2  # no taste: 2 value dims of weight 1 each
    embeddings = [np.ones((5, 8)), np.zeros((5, 8))]
    forecast = np.arange(5.0)
    space, weights, parts = _cluster_space(embeddings, args, SegmentSpec(), forecast)
    assert space.shape == (5, 17)
    np.testing.assert_array_equal(space[:, -1], forecast)
    assert weights[-1] == pytest.approx(2.0)  # sqrt(4 value dims x 1²)
    assert parts.tolist() == [0] * 6 + [1] * 2 + [2] * 6 + [3] * 2 + [4]
    taste = [{"dims": 8, "n_category_ids": 14}]  # value dims weigh 0.5: sqrt(2 x 0.25)
    _, weights, _ = _cluster_space(
        embeddings[:1], taste, SegmentSpec(forecast_weight=2.0), forecast
    )
    assert weights[-1] == pytest.approx(2.0 * np.sqrt(0.5))
    space, weights, _ = _cluster_space(embeddings[:1], taste, SegmentSpec(), None)
    assert space.shape == (5, 8) and len(weights) == 8


def test_run_records_the_value_forecast(segmented) -> None:
    ws, result = segmented
    record = ws.get_record("run", result.dataset, "segment")
    assert record is not None
    forecast = record.payload["value_forecast"]
    assert forecast is not None and forecast["horizon_days"] >= 1 and forecast["train_users"] > 0


def test_segment_map_joins_features_and_scores_with_plain_colour_names(segmented) -> None:
    ws, result = segmented
    view = segment_map(ws, "demo")
    assert view is not None and view.customers == result.n_users
    assert view.points.height == result.n_users  # under the cap: every customer drawn
    choices = {c.column: c for c in view.colours}
    assert view.colours[0] == ColourChoice("segment", "Segment", "segment")
    assert choices["orders"].label == "Orders placed" and choices["orders"].scale == "log"
    assert choices["revenue_total"].scale == "log"  # money on a log scale
    assert choices["refund_rate"].scale == "linear"  # a share stays linear
    assert not any(c.startswith("score: ") for c in choices)  # no predictor trained yet


def test_training_a_predictor_changes_the_stamp_and_adds_its_colour(segmented) -> None:
    ws, result = segmented
    before = segmentation_stamp(ws, "demo")
    assert before is not None
    ids = result.segments["user_id"]
    scores = pl.DataFrame({"user_id": ids, "score_100": pl.Series(range(ids.len())) % 101})
    ws.write_frame("demo", "scores_purchase", scores, {"model": "purchase-1"})
    after = segmentation_stamp(ws, "demo")
    assert after != before  # the map's cache refreshes without a restart
    view = segment_map(ws, "demo")
    assert view is not None
    score = next(c for c in view.colours if c.column == "score: purchase")
    assert score.label == "Predicted purchase (score 0-100)" and score.scale == "linear"
    assert view.colours[1] == score  # scores come right after the segment
    assert view.points["score: purchase"].max() == 100.0
    ws.write_frame("demo", "scores_purchase", scores, {"model": "purchase-2"})
    assert segmentation_stamp(ws, "demo") not in (before, after)  # retrained: new stamp


def test_no_segmentation_no_stamp_no_map(workspace: Workspace, small_demo: DemoStore) -> None:
    store_demo(workspace, small_demo)
    assert segmentation_stamp(workspace, "demo") is None
    assert segment_map(workspace, "demo") is None
    assert classic_rfm(workspace, "demo") is None


def test_classic_rfm_crosses_learned_segments_with_rfm_groups(segmented) -> None:
    ws, result = segmented
    rfm = classic_rfm(ws, "demo")
    assert rfm is not None
    assert rfm.groups["customers"].sum() == result.n_users
    assert rfm.groups["customers"].is_sorted(descending=True)
    table = rfm.by_segment
    assert table.columns[0] == "Segment"  # a plain header, not segment_name
    assert table["Segment"].to_list() == [p.name for p in result.profiles]
    groups = [c for c in table.columns if c != "Segment"]
    assert groups == [g for g in RFM_GROUPS if g in groups]  # the classic order
    assert sum(table[g].sum() for g in groups) == result.n_users


def test_small_segments_lose_their_profile_and_revenue(segmented) -> None:
    ws, result = segmented
    smallest = min(p.size for p in result.profiles)
    loaded = load_segmentation(ws, "demo", min_group_size=smallest + 1)
    assert loaded is not None
    hidden = [p for p in loaded.profiles if p.suppressed]
    assert hidden and all(p.size == smallest for p in hidden)
    assert all(p.share_revenue == 0 and not p.traits and not p.rules for p in hidden)
    shown = load_segmentation(ws, "demo", min_group_size=1)
    assert shown is not None and not any(p.suppressed for p in shown.profiles)
