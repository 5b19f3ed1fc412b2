"""The map's colour choices: plain names and a log scale for money and counts."""

from __future__ import annotations

import polars as pl

from models.segments.colours import ColourChoice, colour_choices, score_column


def _points(**extra: list) -> pl.DataFrame:
    base = {"user_id": ["a", "b"], "segment": [0, 1], "segment_name": ["A", "B"],
            "x": [0.0, 1.0], "y": [0.0, 1.0]}  # fmt: skip
    return pl.DataFrame(base | extra)


def test_choices_are_segment_then_scores_then_features_in_plain_words() -> None:
    points = _points(
        orders=[1, 40], refund_rate=[0.0, 0.5], activity_trend=[0.5, 2.0],
        delta=[-3.0, 4.0], **{score_column("churn"): [10.0, 90.0]},
    )  # fmt: skip
    assert colour_choices(points) == (
        ColourChoice("segment", "Segment", "segment"),
        ColourChoice("score: churn", "Predicted churn (score 0-100)", "linear"),
        ColourChoice("orders", "Orders placed", "log"),
        ColourChoice("refund_rate", "Share of spend that was refunded", "linear"),
        ColourChoice(
            "activity_trend", "Active days lately compared with the period before", "linear"
        ),
        ColourChoice("delta", "Delta", "linear"),  # signed: no log
    )


def test_a_map_without_numbers_offers_only_the_segment() -> None:
    assert colour_choices(_points(label=["x", "y"])) == (
        ColourChoice("segment", "Segment", "segment"),
    )
