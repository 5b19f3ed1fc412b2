"""Control groups and measurement: who is held out, how many must be, and what the campaign did.

- ``campaign_outcomes``: the outcome of each exposed user in the window after the send (no event
  before the send counts), for learning uplift and for measuring a campaign from later events.
- ``assign_holdout``: a randomised control group, stratified by segment (the same share of each
  segment held out, exactly, up to rounding).
- ``required_sample_size`` / ``holdout_advice``: a two-sided two-proportion power calculation.
- ``measure_lift``: treatment minus control with a confidence interval (normal approximation,
  unpooled variances; fine for binary and continuous outcomes alike).

Times are UTC; rates are shares in [0, 1]; effects are absolute (probability points or currency).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import ARM, EVENT_TIME, EVENT_TYPE, REVENUE, SENT_TIME, USER_ID

__all__ = [
    "GROUP",
    "HoldoutAdvice",
    "LiftResult",
    "assign_holdout",
    "campaign_outcomes",
    "holdout_advice",
    "measure_lift",
    "minimum_detectable_effect",
    "outcome_column",
    "required_sample_size",
]

GROUP = "group"  # "treatment" or "control" in a campaign list
TREATMENT, CONTROL = "treatment", "control"


def campaign_outcomes(
    events: pl.LazyFrame | pl.DataFrame,
    exposures: pl.DataFrame,
    outcome: str = "purchase",
    window_days: int = 14,
    *,
    extra: dict[str, str] | None = None,
) -> pl.DataFrame:
    """``user_id, arm, sent_time, outcome`` for every exposed user.

    ``outcome`` is an event type (1.0 if the user had such an event in ``(sent_time, sent_time +
    window_days]``, else 0.0), ``"revenue"`` (net revenue in that window, currency) or
    ``"active_days"`` (the number of distinct days with any event in that window: engagement).
    ``extra`` (column name -> outcome) adds more outcomes of the same window from the same pass
    over the events.
    """
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    wanted = {"outcome": outcome, **(extra or {})}
    types = {"purchase", "view", "cart", "fav", "refund", "revenue", "active_days"}
    for kind in wanted.values():
        if kind not in types:
            raise SpecError(
                f"Outcome '{kind}' is not an event type; use one of {', '.join(sorted(types))}."
            )
    window = timedelta(days=window_days)
    exp = exposures.select(USER_ID, ARM, SENT_TIME).unique(USER_ID, keep="first").lazy()
    hits = lf.join(exp.select(USER_ID, SENT_TIME), on=USER_ID).filter(
        (pl.col(EVENT_TIME) > pl.col(SENT_TIME))
        & (pl.col(EVENT_TIME) <= pl.col(SENT_TIME) + window)
    )
    per_user = hits.group_by(USER_ID).agg(
        _outcome(kind).alias(name) for name, kind in wanted.items()
    )
    return (
        exp.join(per_user, on=USER_ID, how="left")
        .with_columns(pl.col(name).cast(pl.Float64).fill_null(0.0) for name in wanted)
        .sort(USER_ID)
        .collect()
    )


def _outcome(kind: str) -> pl.Expr:
    """One user's outcome from their events in the window (``campaign_outcomes``)."""
    if kind == "revenue":
        return pl.col(REVENUE).fill_null(0.0).sum()
    if kind == "active_days":
        return pl.col(EVENT_TIME).dt.date().n_unique()
    return (pl.col(EVENT_TYPE).cast(pl.String) == kind).any().cast(pl.Float64)


def assign_holdout(
    audience: pl.DataFrame, holdout_share: float, *, strata: str | None = "segment", seed: int = 0
) -> pl.DataFrame:
    """``audience`` plus a ``group`` column: ``round(share * n)`` of each stratum are ``control``.

    Random within each stratum (seeded); users without a stratum form their own stratum.
    """
    if not 0.0 <= holdout_share < 1.0:
        raise SpecError("The control group share must be at least 0% and below 100%.")
    rng = np.random.default_rng(seed)
    key = pl.Series("_key", rng.random(audience.height))
    by = strata if strata and strata in audience.columns else None
    frame = audience.with_columns(key)
    rank = pl.col("_key").rank("ordinal")
    size = pl.len()
    if by is not None:
        rank, size = rank.over(by), size.over(by)
    n_control = (size.cast(pl.Float64) * holdout_share).round()
    return frame.with_columns(
        pl.when(rank <= n_control).then(pl.lit(CONTROL)).otherwise(pl.lit(TREATMENT)).alias(GROUP)
    ).drop("_key")


def required_sample_size(
    base_rate: float, effect: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> int:
    """Control-group size to detect an absolute ``effect`` on a ``base_rate`` (two-sided test).

    ``ratio`` = treatment size / control size. Returns the control size (treatment = ratio x it).
    """
    p1 = base_rate + effect
    if not (0.0 < base_rate < 1.0 and 0.0 < p1 < 1.0) or effect == 0:
        raise SpecError(
            "The base rate and the expected rate must be between 0% and 100% and differ."
        )
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    var = base_rate * (1 - base_rate) + p1 * (1 - p1) / ratio
    return math.ceil(z**2 * var / effect**2)


def minimum_detectable_effect(
    base_rate: float, n_treatment: int, n_control: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest absolute effect the split detects with the given power (normal approx.)."""
    if n_treatment < 1 or n_control < 1:
        return float("inf")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    var = base_rate * (1 - base_rate)
    return float(z * math.sqrt(var / n_treatment + var / n_control))


@dataclass(frozen=True)
class HoldoutAdvice:
    """What the control-group step tells the marketer."""

    audience: int
    base_rate: float
    expected_effect: float
    holdout_share: float
    control: int
    treatment: int
    required_control: int | None
    recommended_share: float | None
    detectable_effect: float | None  # None: no split can detect anything (an empty group)
    enough: bool
    message: str

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def holdout_advice(
    audience: int,
    base_rate: float,
    expected_effect: float,
    holdout_share: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> HoldoutAdvice:
    """Is ``holdout_share`` of ``audience`` enough to measure ``expected_effect``? Else what is?"""
    control = round(audience * holdout_share)
    treatment = audience - control
    mde = minimum_detectable_effect(base_rate, treatment, control, alpha=alpha, power=power)
    required, share = _smallest_holdout(audience, base_rate, expected_effect, alpha, power)
    if required is None and 0 < base_rate + expected_effect < 1 and expected_effect != 0:
        required = required_sample_size(base_rate, expected_effect, alpha=alpha, power=power)
    enough = mde <= abs(expected_effect)
    message = _advice_message(enough, control, mde, expected_effect, required, share)
    detectable = mde if math.isfinite(mde) else None  # strict JSON: never Infinity
    return HoldoutAdvice(
        audience, base_rate, expected_effect, holdout_share, control, treatment, required, share,
        detectable, enough, message,
    )  # fmt: skip


def _smallest_holdout(
    audience: int, base_rate: float, effect: float, alpha: float, power: float
) -> tuple[int | None, float | None]:
    """The smallest control share (1% steps up to 50%) whose split detects ``effect``."""
    for pct in range(1, 51):
        n_c = round(audience * pct / 100)
        mde = minimum_detectable_effect(base_rate, audience - n_c, n_c, alpha=alpha, power=power)
        if mde <= abs(effect):
            return n_c, pct / 100
    return None, None


def _advice_message(
    enough: bool, control: int, mde: float, effect: float, required: int | None, share: float | None
) -> str:
    head = f"A control group of {control:,} can detect an effect of {mde * 100:.2f} points or more."
    if not math.isfinite(mde):
        head = f"A control group of {control:,} cannot measure any effect."
    if enough:
        return f"{head} That covers the expected {effect * 100:.2f} points: keep it."
    if share is not None:
        return (
            f"{head} The expected effect is {effect * 100:.2f} points: hold out {share:.0%} "
            f"({required:,} users) to measure it."
        )
    extra = f" (about {required:,} in each group)" if required else ""
    return (
        f"{head} The expected effect of {effect * 100:.2f} points is too small to measure with "
        f"this audience{extra}; measure it over several campaigns or widen the audience."
    )


@dataclass(frozen=True)
class LiftResult:
    """Measured effect of a campaign: treatment mean minus control mean, with its interval."""

    n_treatment: int
    n_control: int
    treatment_mean: float
    control_mean: float
    lift: float
    lower: float
    upper: float
    relative_lift: float | None
    p_value: float
    confidence: float

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def measure_lift(
    assignments: pl.DataFrame, outcomes: pl.DataFrame, *, outcome: str = "outcome", confidence=0.95
) -> LiftResult:
    """Lift from a campaign list (``user_id, group``) and later outcomes (``user_id, <outcome>``).

    Users of the list missing from ``outcomes`` count as 0 (no purchase, no spend).
    """
    if outcome not in outcomes.columns:
        raise SpecError(f"The outcomes file has no column '{outcome}'.")
    joined = assignments.select(USER_ID, GROUP).join(
        outcomes.select(USER_ID, pl.col(outcome).cast(pl.Float64)).unique(USER_ID), on=USER_ID,
        how="left",
    ).with_columns(pl.col(outcome).fill_null(0.0))  # fmt: skip
    t = joined.filter(pl.col(GROUP) == TREATMENT)[outcome].to_numpy()
    c = joined.filter(pl.col(GROUP) == CONTROL)[outcome].to_numpy()
    if len(t) < 2 or len(c) < 2:
        raise NotEnoughData(
            "Measuring lift needs at least two users in each of treatment and control."
        )
    diff = float(t.mean() - c.mean())
    se = math.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else (0.0 if diff else 1.0)
    rel = diff / c.mean() if c.mean() > 0 else None
    return LiftResult(
        len(t), len(c), float(t.mean()), float(c.mean()), diff, diff - z * se, diff + z * se, rel,
        p, confidence,
    )  # fmt: skip


def outcome_column(outcomes: pl.DataFrame, outcome: str | None = None) -> tuple[pl.DataFrame, str]:
    """Outcomes of a finished campaign, per user, and the column that holds them.

    ``outcomes``: ``user_id`` plus ``outcome`` (or the first numeric / true-false column: 1 =
    converted, or an amount), or later events (a user with a purchase counts as 1).
    """
    if USER_ID not in outcomes.columns:
        raise SpecError("The outcomes file needs a user_id column.")
    outcomes = outcomes.with_columns(pl.col(USER_ID).cast(pl.String))
    if outcome is None and EVENT_TYPE in outcomes.columns:
        outcomes = (
            outcomes.filter(pl.col(EVENT_TYPE).cast(pl.String) == "purchase")
            .group_by(USER_ID)
            .agg(pl.lit(1.0).alias("outcome"))
        )
        outcome = "outcome"
    if outcome is None:
        candidates = [
            c
            for c, t in outcomes.schema.items()
            if c != USER_ID and (t.is_numeric() or t == pl.Boolean)
        ]
        if not candidates:
            raise SpecError("The outcomes file has no numeric or true/false column to measure.")
        outcome = candidates[0]
    return outcomes.with_columns(pl.col(outcome).cast(pl.Float64)), outcome
