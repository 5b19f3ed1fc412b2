"""What the customer map can be coloured by: each column's plain name and its colour scale.

Money and counts are skewed (a few customers spend a hundred times the typical one), so they are
drawn on a log scale; shares, rates and 0-100 scores keep a linear one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from analytics.core.schema import USER_ID
from analytics.features.user_features import describe_feature

__all__ = ["SEGMENT_COLOUR", "ColourChoice", "colour_choices", "score_column"]

SEGMENT_COLOUR = "segment"
_SCORE_PREFIX = "score: "
_MAP_COLUMNS = {USER_ID, "segment", "segment_name", "x", "y"}
# bounded or signed columns: a linear scale reads right
_LINEAR = re.compile(r"(rate|share|ratio|trend|level|^has_)")


@dataclass(frozen=True)
class ColourChoice:
    """One option of the map's colour picker: ``column`` of the map frame, shown as ``label``.

    ``scale`` is ``"segment"`` (one colour per segment), ``"log"`` or ``"linear"``.
    """

    column: str
    label: str
    scale: str


def score_column(target: str) -> str:
    """The map frame's column holding a predictor's 0-100 score."""
    return f"{_SCORE_PREFIX}{target}"


def colour_choices(points: pl.DataFrame) -> tuple[ColourChoice, ...]:
    """The segment, then every predictor's score, then the numeric features."""
    numeric = [c for c in points.columns if c not in _MAP_COLUMNS and points[c].dtype.is_numeric()]
    scores = [c for c in numeric if c.startswith(_SCORE_PREFIX)]
    choices = [ColourChoice(SEGMENT_COLOUR, "Segment", "segment")]
    for column in scores:
        target = column.removeprefix(_SCORE_PREFIX).replace("_", " ")
        choices.append(ColourChoice(column, f"Predicted {target} (score 0-100)", "linear"))
    for column in (c for c in numeric if c not in scores):
        choices.append(
            ColourChoice(column, _sentence(describe_feature(column)), _scale(points[column]))
        )
    return tuple(choices)


def _scale(values: pl.Series) -> str:
    """Log for non-negative money and counts, linear for shares, rates and signed values."""
    if _LINEAR.search(values.name) or values.is_empty():
        return "linear"
    low = values.min()
    return "log" if low is not None and float(low) >= 0 else "linear"  # type: ignore[arg-type]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
