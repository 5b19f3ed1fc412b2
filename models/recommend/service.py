"""Recommendations: evaluate every recommender on a held-out window, then serve lists per user.

Artifacts written for a dataset: ``recs`` (``user_id, list, rank, item_id, score``; ``list`` in
combined / buy_again / new; ``score`` = probability of purchase within the horizon),
``recs_similar`` (``item_id, rank, similar_item_id, similarity, together``: "customers who bought
this also bought"), ``recs_segments`` (``segment, rank, item_id, buyers, score`` when a
``segments`` artifact exists), json ``recs_report`` (the evaluation and what was served), and a
``model`` record with key ``recommend``. ``load_recommendations`` reopens them without refitting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    QUANTITY,
    USER_ID,
)
from analytics.core.workspace import Workspace
from analytics.features.user_features import default_cutoff, to_utc
from models.recommend.base import top_n
from models.recommend.metrics import RANK
from models.recommend.pipeline import (
    LISTS,
    MODEL_LABELS,
    FittedRecommender,
    RecommendConfig,
    evaluate_recommenders,
    fit_recommender,
    recommend_lists,
    segment_top_items,
)

__all__ = [
    "RecommendResult",
    "RecommendSpec",
    "item_names",
    "load_recommendations",
    "run_recommendations",
    "user_history",
    "user_recommendations",
    "write_recommendations",
]

RECS = "recs"
REPORT = "recs_report"
SIMILAR = "recs_similar"
SEGMENTS = "recs_segments"


@dataclass(frozen=True)
class RecommendSpec:
    """What to run. ``cutoff`` (a date: history up to the end of that day) defaults to the last
    day of data; ``horizon_days`` to a quarter of the history (at most 91)."""

    cutoff: date | datetime | None = None
    k: int = 10
    seed: int = 7
    horizon_days: float | None = None
    sequential: bool = True
    device: str = "auto"

    def validate(self) -> None:
        if not 1 <= self.k <= 100:
            raise SpecError("The list length K must be between 1 and 100.")
        if self.horizon_days is not None and self.horizon_days <= 0:
            raise SpecError("The evaluation horizon must be at least one day.")


@dataclass(frozen=True)
class RecommendResult:
    """What ``run_recommendations`` did; ``report`` is the persisted ``recs_report``."""

    dataset: str
    report: dict[str, Any]
    recs: pl.DataFrame = field(repr=False)

    @property
    def table(self) -> pl.DataFrame:
        """The model comparison: ``model, label, task, ndcg, recall, hit_rate, ...``."""
        return pl.DataFrame(self.report["evaluation"]["table"])

    def summary(self) -> dict[str, Any]:
        r = self.report
        return {
            "dataset": self.dataset,
            "model": r["chosen"],
            "model_label": r["chosen_label"],
            "metrics": r["metrics"],
            "baseline": r["baseline"],
            "peer_own_most_bought": r["peer"],
            "metrics_new": r["metrics_new"],
            "baseline_new": r["baseline_new"],
            "lift_over_baseline": r["lift_over_baseline"],
            "k": r["k"],
            "cutoff": r["cutoff"],
            "evaluation_cutoff": r["evaluation"]["cutoff"],
            "horizon_days": r["evaluation"]["horizon_days"],
            "users": r["users"],
            "device": r["evaluation"]["device"],
            "seconds": r["seconds"],
        }


def _events(ws: Workspace, dataset: str) -> pl.DataFrame:
    cols = [USER_ID, EVENT_TIME, EVENT_TYPE, ITEM_ID, CATEGORY, "order_id"]
    events = ws.events(dataset).select(cols).collect()
    if events.filter(pl.col(ITEM_ID).is_not_null()).height == 0:
        raise NotEnoughData(
            f"Dataset '{dataset}' has no product ids, so there is nothing to recommend. "
            "Recommendations need an events or order-lines file with an item column."
        )
    return events


def _serving(
    events: pl.DataFrame, spec: RecommendSpec, cfg: RecommendConfig, progress: Progress
) -> tuple[dict[str, Any], FittedRecommender]:
    """Evaluate, then fit the recommender the lists come from (reusing work when it can)."""
    last = default_cutoff(events)
    serve_at = to_utc(spec.cutoff) if spec.cutoff is not None else last
    if serve_at > last:
        serve_at = last
    evaluation, fitted = evaluate_recommenders(
        events,
        None if spec.cutoff is None or serve_at >= last else serve_at,
        cfg,
        progress=scaled(progress, 0.0, 0.75),
    )
    if fitted.cutoff < serve_at:
        progress(0.75, "Refitting on the whole history for today's lists")
        fitted = fit_recommender(
            events,
            serve_at,
            cfg,
            horizon_days=evaluation.horizon_days,
            train_models=fitted.models
            if fitted.cutoff == serve_at - timedelta(days=evaluation.horizon_days)
            else None,
            train_rows=fitted.train_rows,
            progress=scaled(progress, 0.75, 0.9),
        )
    return evaluation.summary(), fitted


def _chosen_combined(fitted: FittedRecommender, chosen: str, k: int) -> pl.DataFrame | None:
    """The combined list from a single model, when one beat the blend on the held-out window."""
    m = fitted.models
    models: dict[str, Any] = {
        "popularity": m.popularity,
        "buy_again": m.buy_again,
        "knn": m.knn,
        "ease": m.ease,
        "als": m.als,
    }
    model = models.get(chosen)  # each has .score(users) -> (n_users, n_items)
    if model is None:
        return None
    h = fitted.history
    users = np.arange(h.n_users)
    items, scores = top_n(model.score, users, k, n_items=h.n_items, allowed=fitted.allowed)
    frame = pl.DataFrame(
        {
            "u": np.repeat(users, items.shape[1]),
            RANK: np.tile(np.arange(1, items.shape[1] + 1), len(users)),
            "i": items.ravel(),
            "score": scores.ravel().astype(np.float64),
        }
    ).filter(pl.col("i") >= 0)
    frame = frame.join(h.users, on="u").join(h.items.select("i", ITEM_ID), on="i")
    return frame.select(USER_ID, pl.lit("combined").alias("list"), RANK, ITEM_ID, "score")


def _similar_table(fitted: FittedRecommender, n: int = 10) -> pl.DataFrame:
    """Top ``n`` neighbours of every item still on sale."""
    sim = fitted.models.knn.similarity_.T.tocsr()
    co = fitted.models.knn.cooccurrence_
    names = fitted.history.items[ITEM_ID].to_numpy()
    rows: dict[str, list[Any]] = {
        ITEM_ID: [],
        RANK: [],
        "similar_item_id": [],
        "similarity": [],
        "together": [],
    }
    for i in np.flatnonzero(fitted.allowed):
        row = sim[i]
        keep = fitted.allowed[row.indices]
        idx, val = row.indices[keep], row.data[keep]
        order = np.argsort(-val, kind="stable")[:n]
        rows[ITEM_ID] += [names[i]] * len(order)
        rows[RANK] += list(range(1, len(order) + 1))
        rows["similar_item_id"] += list(names[idx[order]])
        rows["similarity"] += list(val[order].astype(float))
        rows["together"] += list(np.asarray(co[i, idx[order]].todense()).ravel().astype(float))
    return pl.DataFrame(
        rows,
        schema={
            ITEM_ID: pl.String,
            RANK: pl.Int64,
            "similar_item_id": pl.String,
            "similarity": pl.Float64,
            "together": pl.Float64,
        },
    )


def run_recommendations(
    ws: Workspace,
    dataset: str,
    spec: RecommendSpec = RecommendSpec(),
    progress: Progress = no_progress,
) -> RecommendResult:
    """Evaluate every recommender, pick the best, write the lists of every user."""
    spec.validate()
    started = time.monotonic()
    events = _events(ws, dataset)
    cfg = RecommendConfig(
        k=spec.k,
        horizon_days=spec.horizon_days,
        seed=spec.seed,
        sequential=spec.sequential,
        device=spec.device,
    )
    evaluation, fitted = _serving(events, spec, cfg, progress)
    progress(0.9, "Writing every customer's lists")
    segments = ws.read_frame(dataset, "segments")
    seg_top = fallback = None
    if segments is not None and {USER_ID, "segment"} <= set(segments.columns):
        seg_top = segment_top_items(fitted, segments, k=spec.k)
        fallback = (
            segments.select(USER_ID, "segment")
            .join(seg_top, on="segment")
            .select(USER_ID, ITEM_ID, "score")
        )
    recs = recommend_lists(fitted, k=spec.k, fallback=fallback)
    chosen = evaluation["chosen"]
    combined = _chosen_combined(fitted, chosen, spec.k)
    if combined is not None:
        recs = pl.concat([recs.filter(pl.col("list") != "combined"), combined.cast(recs.schema)])
    seconds = {**evaluation["seconds"], "serving_total": time.monotonic() - started}
    table = pl.DataFrame(evaluation["table"])

    def metrics(model: str, task: str = "all") -> dict[str, float]:
        row = table.filter((pl.col("model") == model) & (pl.col("task") == task))
        return row.drop("model", "label", "task").to_dicts()[0] if row.height else {}

    new_best = "blend" if chosen in ("blend", "buy_again", "own_most_bought") else chosen
    report = {
        "chosen": chosen,
        "chosen_label": MODEL_LABELS.get(chosen, chosen),
        "metrics": metrics(chosen),
        "baseline": metrics("popularity"),
        "peer": metrics("own_most_bought"),
        "metrics_new": metrics(new_best, "new"),
        "baseline_new": metrics("popularity", "new"),
        "lift_over_baseline": evaluation["lift_over_popularity"],
        "k": spec.k,
        "cutoff": fitted.cutoff.isoformat(),
        "users": int(recs[USER_ID].n_unique()),
        "seconds": seconds,
        "evaluation": evaluation,
    }
    ws.write_frame(dataset, RECS, recs.sort(USER_ID, "list", RANK))
    ws.write_frame(dataset, SIMILAR, _similar_table(fitted))
    if seg_top is not None:
        ws.write_frame(dataset, SEGMENTS, seg_top)
    ws.write_json(dataset, REPORT, report)
    ws.put_record(
        "model",
        dataset,
        "recommend",
        {
            "target": "recommend",
            "model": chosen,
            "metrics": report["metrics"],
            "baseline": report["baseline"],
            "device": evaluation["device"],
            "seconds": seconds,
            "artifacts": [RECS, SIMILAR, REPORT],
        },
    )
    progress(1.0, "Recommendations ready")
    return RecommendResult(dataset=dataset, report=report, recs=recs)


def load_recommendations(ws: Workspace, dataset: str) -> RecommendResult | None:
    """The last run's result, or None if recommendations were never computed."""
    report = ws.read_json(dataset, REPORT)
    recs = ws.read_frame(dataset, RECS)
    if report is None or recs is None:
        return None
    return RecommendResult(dataset=dataset, report=report, recs=recs)


def write_recommendations(result: RecommendResult, path: Path, list_name: str = "combined") -> int:
    """Write ``user_id, rank, item_id`` of one list as CSV or Parquet (by suffix); returns rows."""
    if list_name not in LISTS:
        raise SpecError(f"Unknown list '{list_name}': choose one of {', '.join(LISTS)}.")
    out = (
        result.recs.filter(pl.col("list") == list_name)
        .sort(USER_ID, RANK)
        .select(USER_ID, RANK, ITEM_ID)
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        out.write_parquet(path)
    else:
        out.write_csv(path)
    return out.height


# --- page reads -----------------------------------------------------------------------------
def item_names(ws: Workspace, dataset: str) -> pl.DataFrame:
    """``item_id, name, category``: the ``items`` artifact, else derived from the events."""
    items = ws.read_frame(dataset, "items")
    if items is not None and ITEM_ID in items.columns:
        name = pl.col("name") if "name" in items.columns else pl.col(ITEM_ID)
        cat = pl.col(CATEGORY) if CATEGORY in items.columns else pl.lit(None, pl.String)
        return items.select(
            pl.col(ITEM_ID).cast(pl.String),
            name.cast(pl.String).alias("name"),
            cat.cast(pl.String).alias(CATEGORY),
        )
    lf = ws.events(dataset)
    extra = "description" if "description" in lf.collect_schema().names() else None
    name = pl.col(extra).drop_nulls().first() if extra else pl.col(ITEM_ID).first()
    return (
        lf.filter(pl.col(ITEM_ID).is_not_null())
        .group_by(ITEM_ID)
        .agg(
            name.cast(pl.String).alias("name"),
            pl.col(CATEGORY).drop_nulls().first().cast(pl.String),
        )
        .collect()
    )


def user_history(ws: Workspace, dataset: str, user_id: str, limit: int = 50) -> pl.DataFrame:
    """The user's latest events with item names: ``event_time, event_type, item_id, name, ...``."""
    lf = ws.events(dataset).filter(pl.col(USER_ID) == str(user_id))
    cols = [EVENT_TIME, EVENT_TYPE, ITEM_ID, QUANTITY, PRICE]
    hist = lf.sort(EVENT_TIME, descending=True).head(limit).select(cols).collect()
    return hist.join(item_names(ws, dataset), on=ITEM_ID, how="left")


def user_recommendations(
    result: RecommendResult, names: pl.DataFrame, user_id: str
) -> pl.DataFrame:
    """The user's three lists with names: ``list, rank, item_id, name, category, score``."""
    recs = result.recs.filter(pl.col(USER_ID) == str(user_id))
    return recs.join(names, on=ITEM_ID, how="left").select(
        "list", RANK, ITEM_ID, "name", CATEGORY, "score"
    )
