"""Classic RFM: hand-computed scores and groups on tiny frames."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from analytics.core.errors import NotEnoughData
from analytics.core.schema import EVENTS_SCHEMA
from analytics.features.rfm import RFM_GROUPS, _group, rfm_scores, rfm_summary, rfm_table
from analytics.features.user_features import build_user_features

CUTOFF = date(2024, 3, 31)


def buy(user, day, rev, order=None, etype="purchase"):
    return {
        "user_id": user,
        "event_time": datetime(2024, 3, 31, 12, tzinfo=UTC) - timedelta(days=day),
        "event_type": etype,
        "revenue": rev,
        "order_id": order,
    }


def events(rows):
    return pl.DataFrame(rows, schema=EVENTS_SCHEMA)


def test_values_and_quintiles_by_hand():
    # five buyers with distinct recency 0..4 days, frequency 1..5 and spend 10..50
    rows = []
    for i, user in enumerate("abcde"):
        rows += [buy(user, i + k, 10.0, f"{user}{k}") for k in range(i + 1)]
    rows.append(buy("e", 1, 5.0, "e-r", etype="refund"))
    rows.append(buy("f", 2, None, None, etype="view"))  # never bought
    rfm = rfm_table(events(rows), CUTOFF)
    got = {r["user_id"]: r for r in rfm.to_dicts()}
    assert got["a"]["recency_days"] == 0 and got["e"]["recency_days"] == 4
    assert got["c"]["frequency"] == 3 and got["c"]["monetary"] == 30.0
    assert got["e"]["monetary"] == 45.0  # 50 spent, 5 refunded
    # with 5 buyers each rank is its own quintile
    assert [got[u]["r_score"] for u in "abcde"] == [5, 4, 3, 2, 1]
    assert [got[u]["f_score"] for u in "abcde"] == [1, 2, 3, 4, 5]
    assert [got[u]["m_score"] for u in "abcde"] == [1, 2, 3, 4, 5]
    # a: R5 FM1 -> Recent; b: R4 FM2 -> Recent; c: R3 FM3 -> Loyal; d: R2 FM4 -> At risk;
    # e: R1 FM5 -> At risk; f never bought -> Inactive (scores 0, recency = days known + 1)
    assert [got[u]["rfm_group"] for u in "abcdef"] == [
        "Recent",
        "Recent",
        "Loyal",
        "At risk",
        "At risk",
        "Inactive",
    ]
    assert (got["f"]["r_score"], got["f"]["frequency"], got["f"]["recency_days"]) == (0, 0, 3)


def test_every_group_rule():
    values = pl.DataFrame(
        {
            "user_id": list("123456789"),
            "recency_days": [1, 1, 1, 1, 1, 1, 1, 1, 1],
            "frequency": [1] * 9,
            "monetary": [1.0] * 9,
        }
    )
    cases = pl.DataFrame(
        {
            "r_score": [5, 4, 3, 5, 2, 1, 3, 2, 1],
            "f_score": [5, 3, 3, 1, 5, 3, 2, 2, 1],
            "m_score": [4, 5, 3, 2, 4, 3, 1, 3, 1],
            "frequency": [1] * 9,
        }
    )
    groups = cases.select(_group(pl.col("frequency") > 0).cast(pl.String).alias("g"))["g"].to_list()
    assert groups == [
        "Champions",
        "Champions",
        "Loyal",
        "Recent",
        "At risk",
        "At risk",
        "Needs attention",
        "Inactive",
        "Inactive",
    ]
    assert rfm_scores(values)["r_score"].to_list() == [3] * 9  # ties share the middle score


def test_ties_share_a_score_and_scores_are_quintiles():
    n = 100
    values = pl.DataFrame(
        {
            "user_id": [f"u{i:03d}" for i in range(n)],
            "recency_days": list(range(n)),
            "frequency": [1] * 60 + [2] * 40,
            "monetary": [float(i) for i in range(n)],
        }
    )
    out = rfm_scores(values)
    assert out["m_score"].value_counts().sort("m_score")["count"].to_list() == [20] * 5
    assert out.filter(pl.col("frequency") == 1)["f_score"].unique().to_list() == [2]
    assert out.filter(pl.col("frequency") == 2)["f_score"].unique().to_list() == [5]
    assert out.filter(pl.col("recency_days") < 20)["r_score"].unique().to_list() == [5]


def test_reuses_feature_frames():
    rows = [buy("a", 3, 20.0, "1"), buy("a", 1, 10.0, "2"), buy("b", 5, 7.0, "3")]
    feats = build_user_features(events(rows), CUTOFF)
    from_features = rfm_scores(feats)
    assert from_features.equals(rfm_table(events(rows), CUTOFF))


def test_summary_covers_every_group():
    rows = [buy("a", 0, 20.0, "1"), buy("b", 9, 10.0, "2"), buy("c", 1, None, etype="view")]
    summary = rfm_summary(rfm_table(events(rows), CUTOFF))
    assert summary["rfm_group"].cast(pl.String).to_list() == list(RFM_GROUPS)
    assert summary["users"].sum() == 3
    assert summary["share_users"].sum() == pytest.approx(1.0)
    assert summary["share_revenue"].sum() == pytest.approx(1.0)


def test_future_events_do_not_count_and_empty_history_errors():
    rows = [buy("a", 3, 20.0, "1")]
    later = [*rows, buy("a", -3, 99.0, "2"), buy("z", -1, 5.0, "3")]
    assert rfm_table(events(later), CUTOFF).equals(rfm_table(events(rows), CUTOFF))
    with pytest.raises(NotEnoughData):
        rfm_table(events(rows), date(2020, 1, 1))


def test_without_a_cutoff_rfm_is_as_of_the_last_event_day():
    rows = [buy("a", 3, 20.0, "1"), buy("b", 10, 5.0, "2")]
    last_day = events(rows)["event_time"].max().date()
    assert rfm_table(events(rows)).equals(rfm_table(events(rows), last_day))
    assert rfm_table(events(rows))["recency_days"].to_list() == [0, 7]  # a bought on the last day
    with pytest.raises(NotEnoughData):
        rfm_table(events([]))
