"""The ``clv`` target: lifetime value per customer over any horizon, checked on a past window.

Unlike the other targets, the value model (BG/NBD × Gamma-Gamma, ``clv.CLVModel``) needs no
training window of labels: it is fitted on the history up to a cutoff and extrapolates, so a
365-day value comes from as little as 90 days of history. Its quality is checked where the data
allows: fitted at an earlier cutoff, its predictions are compared with what customers then spent
(total, per customer, and how many fall inside their 80% interval).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, USER_ID, EventType
from analytics.core.timing import Stopwatch
from analytics.features.labels import (
    HorizonChoice,
    LabelSpec,
    build_labels,
    data_end,
    data_start,
    label_window_complete,
)
from analytics.features.user_features import default_cutoff, to_utc
from models.predict.baselines import repeat_summary
from models.predict.clv import CLV_DAYS, CLVModel, NextOrderModel
from models.predict.intervals import (
    bootstrap_counts,
    clopper_pearson,
    regression_intervals,
    weighted_auc,
)
from models.predict.metrics import quality_word, regression_metrics
from models.predict.training import PredictorSpec, SplitRun

__all__ = ["MIN_HISTORY_DAYS", "clv_reasons", "fit_clv", "fit_next_order"]

MIN_HISTORY_DAYS = 90  # fewer days of history say too little about how often customers return
_MIN_CHECK_DAYS = 14
_BUY = EventType.PURCHASE.value
SUMMARY_LABELS = {
    "frequency": "repeat purchase days",
    "recency": "days from first to last purchase",
    "T": "days since the first purchase",
    "monetary": "spend per purchase day",
}


def fit_clv(
    events: pl.LazyFrame | pl.DataFrame, spec: PredictorSpec, progress: Progress = no_progress
) -> SplitRun:
    """Lifetime value over ``spec.horizon_days`` (default 365) for every customer seen by the
    cutoff (``score, lower, upper``: expected spend and its 80% interval; 0 for non-buyers)."""
    clock = Stopwatch()
    lf = events.lazy()
    score_cutoff = to_utc(spec.cutoff) if spec.cutoff is not None else default_cutoff(lf)
    h = CLV_DAYS if spec.horizon_days is None else int(spec.horizon_days)
    if h < 1:
        raise SpecError("The horizon must be at least one day.")
    start, end = data_start(lf), data_end(lf)
    span = (score_cutoff - start).days
    if span < MIN_HISTORY_DAYS:
        raise NotEnoughData(
            f"Lifetime value needs at least {MIN_HISTORY_DAYS} days of purchase history; the data "
            f"before {score_cutoff:%Y-%m-%d} spans {max(span, 0)}. Load a longer history."
        )
    progress(0.1, "Checking lifetime value on a past window")
    check = _backtest(lf, spec, score_cutoff, h, (start, end))
    progress(0.5, "Fitting the repeat-buying and spend models")
    if check["cutoff"] == score_cutoff:  # a backtest: the checked model is the one to score with
        summary, model = check["summary"], check["model"]
    else:
        summary = repeat_summary(lf, score_cutoff)
        model = CLVModel(random_state=spec.seed).fit(summary)
    seen = lf.filter(pl.col(EVENT_TIME) <= score_cutoff).select(USER_ID).unique().collect()
    values = model.predict(summary, h).drop("expected_purchase_days", "spend_per_day")
    scores = seen.sort(USER_ID).join(values, on=USER_ID, how="left").fill_null(0.0)
    reason = (
        f"you chose {h} days" if spec.horizon_days is not None else f"the standard {h}-day value"
    )
    run = SplitRun(
        target="clv",
        choice=HorizonChoice(h, None, True, reason[0].upper() + reason[1:] + "."),
        train_cutoff=check["cutoff"],
        eval_cutoff=check["cutoff"],
        score_cutoff=score_cutoff,
        first_event=start,
        model=model,
        feature_names=list(SUMMARY_LABELS),
        metrics=check["metrics"],
        baseline=check["baseline"],
        baselines=check["baselines"],
        validation=check["validation"],
        scores=scores,
        score_features=summary.select(USER_ID, *SUMMARY_LABELS),
        device="CPU",
    )
    run.timings = {"total": clock.seconds}
    return run


def _check_window(
    score_cutoff: datetime, h: int, bounds: tuple[datetime, datetime]
) -> tuple[datetime, int] | None:
    """``(cutoff, days)`` of the past window the value is checked on, or None if none fits: the
    horizon itself after the cutoff when the data covers it (a backtest), else the latest window
    of up to ``h`` days that leaves ``MIN_HISTORY_DAYS`` of history before it."""
    start, end = bounds
    if label_window_complete(score_cutoff, h, end):
        return score_cutoff, h
    days = min(h, (end - start).days - MIN_HISTORY_DAYS)
    if days < _MIN_CHECK_DAYS:
        return None
    cutoff = to_utc((end - timedelta(days=days)).date())
    if not label_window_complete(cutoff, days, end):  # the data stops before that day ends
        cutoff -= timedelta(days=1)
    return cutoff, days


def _backtest(lf, spec, score_cutoff, h, bounds) -> dict[str, Any]:
    """The value model fitted at an earlier cutoff against what its buyers then spent."""
    window = _check_window(score_cutoff, h, bounds)
    empty = pl.DataFrame(schema={USER_ID: pl.String, "label": pl.Float64, "score": pl.Float64})
    if window is None:
        skipped = {"skipped": "the data is too short to check the value on a past window"}
        return {"cutoff": score_cutoff, "metrics": skipped, "baseline": {"name": "none"},
                "baselines": {}, "validation": empty}  # fmt: skip
    cutoff, days = window
    summary = repeat_summary(lf, cutoff)
    model = CLVModel(random_state=spec.seed).fit(summary)
    pred = model.predict(summary, days)
    labels = build_labels(lf, LabelSpec("clv", cutoff, days, None, purchases_only=True))
    joined = pred.join(labels, on=USER_ID, how="left").with_columns(pl.col("label").fill_null(0.0))
    y, score = joined["label"].to_numpy(), joined["score"].to_numpy()
    spend = summary["monetary"].fill_null(0.0).to_numpy() * (summary["frequency"].to_numpy() + 1)
    run_rate = spend / np.maximum(summary["T"].to_numpy() + 1, days) * days
    metrics = _value_metrics(y, score, joined, spec.seed) | {"horizon_days_checked": days}
    baseline = {"name": "Run rate", **regression_metrics(y, run_rate)}
    validation = joined.select(USER_ID, "label", "score").with_columns(baseline=run_rate)
    return {
        "cutoff": cutoff,
        "metrics": metrics,
        "baseline": baseline,
        "summary": summary,
        "model": model,
        "baselines": {"Run rate": baseline},
        "validation": validation,
    }


def _value_metrics(y: np.ndarray, score: np.ndarray, frame: pl.DataFrame, seed: int) -> dict:
    """Errors, total bias with its interval, spend ranking (AUC) and interval coverage."""
    out: dict[str, Any] = regression_metrics(y, score) | regression_intervals(y, score, seed=seed)
    inside = (frame["lower"].to_numpy() <= y) & (y <= frame["upper"].to_numpy())
    exact = clopper_pearson(np.array([inside.sum()]), np.array([len(inside)]))[0]
    out |= {"interval": 0.8, "coverage": float(inside.mean()), "coverage_ci": exact.tolist()}
    spent = y > 0
    if spent.any() and not spent.all():
        auc = weighted_auc(spent, score, bootstrap_counts(len(y), seed=seed))
        out["auc"] = float(weighted_auc(spent, score, np.ones(len(y)))[0])
        out["auc_ci"] = [float(v) for v in np.nanquantile(auc, [0.05, 0.95])]
    out["quality"] = quality_word(out.get("auc"))
    out["notes"] = _value_notes(out)
    return out


def _value_notes(m: dict[str, Any]) -> list[str]:
    """Words for a value check too far off to take the figures at face value."""
    notes = []
    low, high = m.get("bias_ci", [0.0, 0.0])
    if low > 0.1 or high < -0.1:
        notes.append(
            f"On the check window the predicted total was off by {m['bias']:+.0%}: read the "
            "values as a ranking and an order of magnitude."
        )
    if not 0.7 <= m["coverage"] <= 0.9:
        notes.append(
            f"{m['coverage']:.0%} of customers' actual spend fell inside their 80% range: the "
            "ranges are " + ("too narrow." if m["coverage"] < 0.7 else "wider than they need be.")
        )
    return notes


def clv_reasons(run: SplitRun) -> pl.DataFrame:
    """``user_id, rank, feature, value, points, text``: the history each value rests on."""
    f = run.score_features
    texts = {
        "frequency": pl.format(
            "Purchase days so far: {}", (pl.col("frequency") + 1).cast(pl.Int64)
        ),
        "recency": pl.format(
            "Last purchase {} days before the cutoff",
            (pl.col("T") - pl.col("recency")).round(0).cast(pl.Int64),
        ),
        "monetary": pl.format("Spends about {} per purchase day", pl.col("monetary").round(2)),
    }
    parts = [
        f.select(
            USER_ID,
            pl.lit(rank).alias("rank"),
            pl.lit(name).alias("feature"),
            pl.col(name).cast(pl.Float64).alias("value"),
            pl.lit(0.0).alias("points"),
            text.alias("text"),
        )
        for rank, (name, text) in enumerate(texts.items(), start=1)
    ]
    return pl.concat(parts).sort(USER_ID, "rank")


def fit_next_order(
    events: pl.LazyFrame | pl.DataFrame, spec: PredictorSpec, progress: Progress = no_progress
) -> SplitRun:
    """Days to each past buyer's next order (``score``: the median given an order within the
    horizon, default 365; ``lower, upper``: its 80% range; ``p_order``: the chance of one)."""
    lf = events.lazy()
    score_cutoff = to_utc(spec.cutoff) if spec.cutoff is not None else default_cutoff(lf)
    h = CLV_DAYS if spec.horizon_days is None else int(spec.horizon_days)
    if h < 1:
        raise SpecError("The horizon must be at least one day.")
    start, end = data_start(lf), data_end(lf)
    if (score_cutoff - start).days < MIN_HISTORY_DAYS:
        raise NotEnoughData(
            f"The next order date needs at least {MIN_HISTORY_DAYS} days of purchase history; "
            "load a longer history."
        )
    progress(0.1, "Checking next order dates on a past window")
    window = _check_window(score_cutoff, h, (start, end))
    metrics: dict[str, Any] = {"skipped": "the data is too short to check on a past window"}
    check_cutoff = score_cutoff
    if window is not None:
        check_cutoff, days = window
        metrics = _order_check(lf, check_cutoff, days)
    summary = repeat_summary(lf, score_cutoff)
    model = NextOrderModel().fit(summary)
    reason = f"an order within {h} days" + (" (you chose)" if spec.horizon_days else "")
    return SplitRun(
        target="next_order",
        choice=HorizonChoice(h, None, True, f"Days to the next order, given {reason}."),
        train_cutoff=check_cutoff,
        eval_cutoff=check_cutoff,
        score_cutoff=score_cutoff,
        first_event=start,
        model=model,
        feature_names=list(SUMMARY_LABELS),
        metrics=metrics,
        baseline={"name": "none"},
        baselines={},
        validation=pl.DataFrame(schema={USER_ID: pl.String, "label": pl.Float64}),
        scores=model.predict(summary, h),
        score_features=summary.select(USER_ID, *SUMMARY_LABELS),
        device="CPU",
    )


def _order_check(lf: pl.LazyFrame, cutoff: datetime, days: int) -> dict[str, Any]:
    """Fitted at ``cutoff``: how many orderers' first order fell inside their 80% range, the
    median error in days, and how well the chance of an order ranks who ordered (AUC)."""
    summary = repeat_summary(lf, cutoff)
    pred = NextOrderModel().fit(summary).predict(summary, days)
    end = cutoff + timedelta(days=days)
    first = (
        lf.filter((pl.col(EVENT_TYPE).cast(pl.String) == _BUY) & (pl.col(EVENT_TIME) > cutoff)
                  & (pl.col(EVENT_TIME) <= end))
        .group_by(USER_ID)
        .agg(((pl.col(EVENT_TIME).min() - pl.lit(cutoff)).dt.total_seconds() / 86_400).alias("d"))
        .collect()
    )  # fmt: skip
    joined = pred.join(first, on=USER_ID, how="left")
    ordered = joined.filter(pl.col("d").is_not_null())
    out: dict[str, Any] = {"users": joined.height, "orderers": ordered.height,
                           "horizon_days_checked": days, "interval": 0.8}  # fmt: skip
    if ordered.height:
        d = ordered["d"].to_numpy()
        inside = (ordered["lower"].to_numpy() <= d) & (d <= ordered["upper"].to_numpy())
        exact = clopper_pearson(np.array([inside.sum()]), np.array([len(inside)]))[0]
        error = float(np.median(np.abs(ordered["score"].to_numpy() - d)))
        out |= {"coverage": float(inside.mean()), "coverage_ci": exact.tolist(),
                "median_error_days": error}  # fmt: skip
    y = joined["d"].is_not_null().to_numpy()
    if 0 < y.sum() < len(y):
        p = joined["p_order"].to_numpy()
        out["auc"] = float(weighted_auc(y, p, np.ones(len(y)))[0])
        auc = weighted_auc(y, p, bootstrap_counts(len(y)))
        out["auc_ci"] = [float(v) for v in np.nanquantile(auc, [0.05, 0.95])]
        out["expected_orderers"] = float(p.sum())
    out["quality"] = quality_word(out.get("auc"))
    return out
