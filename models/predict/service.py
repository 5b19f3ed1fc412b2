"""Prediction: train a predictor on a time split, explain it, persist scores and the model card.

Artifacts written for a dataset (target in purchase, churn, buyer_churn, revenue,
next_category, clv):

* ``scores_<target>``: ``user_id, score, score_100, percentile`` (+ ``lower, upper`` for revenue
  and clv,
  ``category`` for next_category, ``expected_purchases`` for purchase; ``clv_365`` for revenue
  where the data spans a year) for every user seen on or before the scoring cutoff;
* ``reasons_<target>``: ``user_id, rank, feature, value, points, text`` (top 3 per user);
* ``shap_<target>``: beeswarm sample ``feature, shap, value, value_rank``;
* json ``model_<target>``: the model card (metrics, baseline, device, time, window, horizon and
  why, calibration, gains, importance, dependence points);
* bytes ``<model_id>``: the LightGBM model (text inside JSON; no pickle).

Record kind ``model``, key = model id, payload ``kind: "predictor"``, target, metrics, baseline,
device, seconds, artifacts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl

from analytics.core.artifacts import (
    SEGMENTS,
    model_card,
    reasons_artifact,
    scores_artifact,
    shap_artifact,
)
from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import EVENT_TIME, USER_ID
from analytics.core.timing import Stopwatch
from analytics.core.workspace import Workspace
from analytics.features.labels import TARGETS
from analytics.features.user_features import FeatureSpec, default_cutoff, feature_labels, to_utc
from models.predict.baselines import repeat_summary
from models.predict.clv import CLVModel, NextOrderModel
from models.predict.clv_training import clv_reasons, fit_clv, fit_next_order
from models.predict.explain import (
    beeswarm_frame,
    dependence_frame,
    explain_bagged,
    explain_trees,
    global_importance,
    reasons_frame,
    score_points,
    with_linear,
)
from models.predict.metrics import calibration_curve, gains_table
from models.predict.predictors import GBMCategory, GBMClassifier, GBMRevenue, load_predictor
from models.predict.training import PredictorSpec, SplitRun, fit_on_split, model_features

__all__ = [
    "TARGETS",
    "CustomerView",
    "ModelReport",
    "TrainResult",
    "TrainSpec",
    "customer_view",
    "load_card",
    "model_report",
    "score_with_model",
    "train_predictor",
    "trained_targets",
]


@dataclass(frozen=True)
class TrainSpec:
    """What to train. ``cutoff``: a date (history to the end of that day, UTC) or None = latest."""

    target: str
    cutoff: date | datetime | None = None
    horizon_days: int | None = None
    seed: int = 7
    n_estimators: int = 600
    sequence: bool = True  # compare with the GRU sequence model where it is affordable


@dataclass
class TrainResult:
    """A trained predictor: its id, card and scores."""

    model_id: str
    dataset: str
    card: dict[str, Any]
    scores: pl.DataFrame

    def summary(self) -> dict[str, Any]:
        c = self.card
        return {
            "model": self.model_id,
            "dataset": self.dataset,
            "target": c["target"],
            "metrics": c["metrics"],
            "baseline": c["baseline"],
            "device": c["device"],
            "seconds": c["seconds"],
            "horizon_days": c["horizon_days"],
            "horizon_reason": c["horizon_reason"],
            "cutoff": c["window"]["score_cutoff"],
            "rows": self.scores.height,
        }


def _scores_frame(run: SplitRun) -> pl.DataFrame:
    """Scores with 0–100 and percentile (100 = highest score) columns."""
    s = run.scores
    pct = (pl.col("score").rank("average") / pl.len() * 100).round(1)
    if run.target in ("revenue", "clv"):
        return s.with_columns(score_100=pct.round(0).cast(pl.Int64), percentile=pct)
    if run.target == "next_order":  # sooner = higher percentile
        soon = (pl.col("score").rank("average", descending=True) / pl.len() * 100).round(1)
        return s.with_columns(score_100=soon.round(0).cast(pl.Int64), percentile=soon)
    return s.with_columns(score_100=(pl.col("score") * 100).round(0).cast(pl.Int64), percentile=pct)


def _explain(run: SplitRun) -> tuple[pl.DataFrame, dict[str, Any], pl.DataFrame]:
    """(reasons for every user, card parts: importance + dependence, beeswarm sample)."""
    model = run.model
    if isinstance(
        model, CLVModel | NextOrderModel
    ):  # no trees to explain: the history the value rests on
        return clv_reasons(run), {"importance": [], "dependence": {}}, pl.DataFrame()
    X = run.score_features.select(run.feature_names).to_numpy().astype(np.float64)
    if isinstance(model, GBMCategory):
        chosen = np.argmax(model.predict_proba(X), axis=1)
        expl = explain_trees(model.booster_, X, run.feature_names,
                             num_iteration=model.best_iteration_, class_index=chosen)  # fmt: skip
        proba_of = lambda m: 1 / (1 + np.exp(-m))  # noqa: E731  (one-vs-rest log-odds)
        points, _ = score_points(expl, proba_of)
        unit = "points"
    else:
        expl = explain_bagged(model.bags(), X, run.feature_names)
        linear = model.linear_parts(X) if isinstance(model, GBMClassifier) else None
        if linear is not None:
            expl = with_linear(expl, *linear)
        if isinstance(model, GBMRevenue):
            points, _ = score_points(expl, np.exp, scale=1.0)
            unit = "in spend"
        else:
            points, _ = score_points(expl, model.calibrate)
            unit = "points"
    labels = run.feature_labels
    reasons = reasons_frame(run.score_features[USER_ID], points, X, run.feature_names, labels,
                            k=3, unit=unit)  # fmt: skip
    importance = global_importance(expl, labels)
    top = importance["feature"].head(3).to_list()
    parts = {
        "importance": importance.head(15).to_dicts(),
        "dependence": {
            f: dependence_frame(expl, X, f, sample=1500).to_dict(as_series=False) for f in top
        },
    }
    beeswarm = beeswarm_frame(expl, X, top=10, sample=1500).with_columns(
        pl.col("feature").replace_strict(labels, default=pl.col("feature")).alias("label")
    )
    return reasons, parts, beeswarm


_ALGORITHMS = {"clv": "BG/NBD × Gamma-Gamma", "next_order": "BG/NBD"}


def _card(run: SplitRun, model_id: str, seconds: float, explain_seconds: float) -> dict[str, Any]:
    v = run.validation
    card: dict[str, Any] = {
        "model_id": model_id,
        "target": run.target,
        "kind": "predictor",
        "algorithm": _ALGORITHMS.get(run.target, "LightGBM"),
        "winner": run.winner,
        "comparison": run.comparison,
        "metrics": run.metrics,
        "baseline": run.baseline,
        "baselines": run.baselines,
        "device": run.device,
        "seconds": round(seconds, 2),
        "explain_seconds": round(explain_seconds, 2),
        "horizon_days": run.choice.horizon_days,
        "horizon_reason": run.choice.reason,
        "active_days": run.choice.active_days,
        "window": {
            "first_event": run.first_event.isoformat(),
            "train_cutoff": run.train_cutoff.isoformat(),
            "eval_cutoff": run.eval_cutoff.isoformat(),
            "score_cutoff": run.score_cutoff.isoformat(),
        },
        "feature_names": run.feature_names,
        "feature_spec": asdict(run.feature_spec) if run.feature_spec else None,
        "clv": run.clv,
        "trained_at": datetime.now(UTC).isoformat(),
    }
    if run.target in ("purchase", "churn", "buyer_churn"):
        y, s = v["label"].to_numpy(), v["score"].to_numpy()
        card["calibration"] = calibration_curve(y, s).to_dict(as_series=False)
        card["gains"] = gains_table(y, s).to_dict(as_series=False)
        card["baseline_gains"] = gains_table(y, v["baseline"].to_numpy()).to_dict(as_series=False)
    elif run.target in ("revenue", "clv") and v.height:
        y, s = (v["label"].to_numpy() > 0).astype(int), v["score"].to_numpy()
        card["gains"] = gains_table(y, s).to_dict(as_series=False)
        card["baseline_gains"] = gains_table(y, v["baseline"].to_numpy()).to_dict(as_series=False)
    return card


def train_predictor(
    ws: Workspace, dataset: str, spec: TrainSpec, progress: Progress = no_progress
) -> TrainResult:
    """Train, evaluate out of time, explain and persist a predictor for ``spec.target``."""
    if spec.target not in TARGETS:
        raise SpecError(f"Unknown target '{spec.target}': choose one of {', '.join(TARGETS)}.")
    clock = Stopwatch()
    events = ws.events(dataset)
    if events.select(pl.len()).collect().item() == 0:
        raise NotEnoughData(
            f"'{dataset}' has no event log (a customer table); predictors learn from behaviour "
            "over time, so they need events or order lines."
        )
    cutoff = None if spec.cutoff is None else to_utc(spec.cutoff)
    pspec = PredictorSpec(spec.target, cutoff, spec.horizon_days, spec.seed,
                          sequence=spec.sequence, n_estimators=spec.n_estimators)  # fmt: skip
    fit = {"clv": fit_clv, "next_order": fit_next_order}.get(spec.target, fit_on_split)
    run = fit(events, pspec, scaled(progress, 0.0, 0.8))
    progress(0.82, "Explaining every score")
    explain_clock = Stopwatch()
    reasons, parts, beeswarm = _explain(run)
    explain_seconds = explain_clock.seconds
    seconds = clock.seconds
    model_id = f"{spec.target}-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
    card = _card(run, model_id, seconds, explain_seconds) | parts
    scores = _scores_frame(run)
    progress(0.92, "Saving scores and the model card")
    ws.write_bytes(dataset, model_id, run.model.to_bytes(), meta={"target": spec.target})
    ws.write_frame(dataset, scores_artifact(spec.target), scores, meta={"model": model_id})
    ws.write_frame(dataset, reasons_artifact(spec.target), reasons, meta={"model": model_id})
    ws.write_frame(dataset, shap_artifact(spec.target), beeswarm, meta={"model": model_id})
    ws.write_json(dataset, model_card(spec.target), card)
    ws.put_record(
        "model",
        dataset,
        model_id,
        {
            "kind": "predictor",
            "target": spec.target,
            "metrics": run.metrics,
            "baseline": run.baseline,
            "device": run.device,
            "seconds": round(seconds, 2),
            "artifacts": [
                model_id,
                scores_artifact(spec.target),
                reasons_artifact(spec.target),
                model_card(spec.target),
            ],
        },
    )
    progress(1.0, "Model ready")
    return TrainResult(model_id, dataset, card, scores)


def load_card(ws: Workspace, dataset: str, target: str) -> dict[str, Any] | None:
    """The stored model card of ``target`` on ``dataset``, or None if never trained."""
    return ws.read_json(dataset, model_card(target))


def trained_targets(ws: Workspace, dataset: str) -> list[str]:
    """Targets with a stored model card, in the standard order."""
    names = set(ws.list_artifacts(dataset))
    return [t for t in TARGETS if model_card(t) in names]


def _find_predictor(ws: Workspace, model_id: str) -> tuple[str, dict[str, Any]]:
    for rec in ws.list_records("model"):
        if rec.key == model_id and rec.payload.get("kind") == "predictor":
            return rec.dataset, rec.payload
    raise SpecError(f"There is no predictor '{model_id}'; train one with the train command.")


def _feature_spec(data: dict[str, Any] | None) -> FeatureSpec:
    if not data:
        return FeatureSpec()
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return FeatureSpec(**fields)


def score_with_model(ws: Workspace, model_id: str, dataset: str) -> pl.DataFrame:
    """``user_id, score`` for every user of ``dataset`` (as of its last day), from a saved model.

    Features the other dataset lacks (a category, an event type) count as 0.
    """
    home, payload = _find_predictor(ws, model_id)
    data = ws.read_bytes(home, model_id)
    card = load_card(ws, home, payload["target"]) or {}
    if data is None:
        raise SpecError(f"The file of model '{model_id}' is missing from the workspace.")
    model = load_predictor(data)
    events = ws.events(dataset)
    cutoff = default_cutoff(events)
    if isinstance(model, NextOrderModel):
        summary = repeat_summary(events, cutoff)
        days = model.predict(summary, float(card.get("horizon_days") or 365))
        return days.select(USER_ID, "score", "lower", "upper")
    if isinstance(model, CLVModel):
        summary = repeat_summary(events, cutoff)
        values = model.predict(summary, float(card.get("horizon_days") or 365))
        seen = events.select(USER_ID).unique().collect().sort(USER_ID)
        return seen.join(values.select(USER_ID, "score", "lower", "upper"), on=USER_ID,
                         how="left").fill_null(0.0)  # fmt: skip
    feats = model_features(events, cutoff, _feature_spec(card.get("feature_spec")),
                           int(card.get("horizon_days") or 7))  # fmt: skip
    names = model.feature_names_in_
    feats = feats.with_columns([pl.lit(0.0).alias(c) for c in names if c not in feats.columns])
    X = feats.select(names).to_numpy().astype(np.float64)
    if isinstance(model, GBMClassifier):
        score = model.predict_proba(X)[:, 1]
    elif isinstance(model, GBMRevenue):
        score = model.predict(X)
    else:
        score = model.predict_proba(X).max(axis=1)
    return feats.select(USER_ID).with_columns(score=score)


@dataclass(frozen=True)
class CustomerView:
    """One customer as the lookup shows them: events, features, segment, scores with reasons."""

    user_id: str
    events: pl.DataFrame
    features: dict[str, float]
    segment: str | None
    scores: list[dict[str, Any]]  # target, score, score_100, percentile, reasons (texts), extras


def customer_view(ws: Workspace, dataset: str, user_id: str) -> CustomerView:
    """Everything we know and predict about ``user_id``; ``SpecError`` if they are unknown."""
    user_id = user_id.strip()
    events = ws.events(dataset).filter(pl.col(USER_ID) == user_id).sort(EVENT_TIME).collect()
    if events.is_empty():
        raise SpecError(f"There is no customer '{user_id}' in '{dataset}'. Check the id.")
    scores = []
    for target in trained_targets(ws, dataset):
        frame = ws.scan_frame(dataset, scores_artifact(target))
        row = None if frame is None else frame.filter(pl.col(USER_ID) == user_id).collect()
        if row is None or row.is_empty():
            continue
        reasons = ws.scan_frame(dataset, reasons_artifact(target))
        texts = [] if reasons is None else (
            reasons.filter(pl.col(USER_ID) == user_id).sort("rank").collect()["text"].to_list()
        )  # fmt: skip
        scores.append({"target": target, **row.drop(USER_ID).to_dicts()[0], "reasons": texts})
    segments = ws.scan_frame(dataset, SEGMENTS)
    segment = None
    if segments is not None:
        hit = segments.filter(pl.col(USER_ID) == user_id).collect()
        if not hit.is_empty() and "segment_name" in hit.columns:
            segment = str(hit["segment_name"][0])
    card = next((load_card(ws, dataset, t) for t in trained_targets(ws, dataset)), None) or {}
    fspec = _feature_spec(card.get("feature_spec"))
    horizon = int(card.get("horizon_days") or 7)
    window = card.get("window", {})
    cutoff = (
        datetime.fromisoformat(window["score_cutoff"])
        if "score_cutoff" in window
        else default_cutoff(ws.events(dataset))
    )
    feats = model_features(events.lazy(), cutoff, fspec, horizon)
    features = {k: float(v) for k, v in feats.drop(USER_ID).to_dicts()[0].items()}
    return CustomerView(user_id, events, features, segment, scores)


@dataclass(frozen=True)
class ModelReport:
    """What the Predictions page draws for one trained target: the card, the readable feature
    names, the SHAP beeswarm sample and a customer id to suggest in the lookup."""

    target: str
    card: dict[str, Any]
    labels: dict[str, str]  # feature column -> words
    beeswarm: pl.DataFrame  # feature, shap, value, value_rank, label (may be empty)
    example_user: str  # the highest-scored customer ("" when there are no scores)


def model_report(ws: Workspace, dataset: str, target: str) -> ModelReport | None:
    """The stored model of ``target`` on ``dataset`` as the page shows it, or None if untrained."""
    card = load_card(ws, dataset, target)
    if card is None:
        return None
    labels = feature_labels(card["feature_names"])
    labels |= {r["feature"]: r["label"] for r in card.get("importance", [])}
    beeswarm = ws.read_frame(dataset, shap_artifact(target))
    scores = ws.scan_frame(dataset, scores_artifact(target))
    top = None if scores is None else scores.sort("score", descending=True).head(1).collect()
    example = "" if top is None or top.is_empty() else str(top[USER_ID][0])
    return ModelReport(target, card, labels, beeswarm if beeswarm is not None else pl.DataFrame(),
                       example)  # fmt: skip
