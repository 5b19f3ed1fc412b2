"""Recommendations: evaluate every recommender on a held-out window, then serve lists per user.

Artifacts written for a dataset (names in ``analytics.core.artifacts``): ``RECS`` (``user_id,
list, rank, item_id, score``; ``list`` in combined / buy_again / new; ``score`` = probability of
purchase within the horizon), ``RECS_SIMILAR`` ("customers who bought this also bought"),
``RECS_SEGMENTS`` (best sellers per segment, when segments exist), the json ``RECS_REPORT`` (the
evaluation, what was served and the inputs it was served from) and a ``model`` record with key
``recommend``. This module owns every read of them: pages get typed results.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.artifacts import (
    ITEMS,
    RECS,
    RECS_REPORT,
    RECS_SEGMENTS,
    RECS_SIMILAR,
    SEGMENTS,
)
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
from analytics.core.timing import Stopwatch
from analytics.core.workspace import Workspace
from analytics.features.user_features import default_cutoff, to_utc
from models.recommend.evaluation import MODEL_LABELS, evaluate_recommenders
from models.recommend.fitting import FittedRecommender, RecommendConfig, fit_recommender
from models.recommend.metrics import RANK
from models.recommend.serving import (
    LISTS,
    recommend_lists,
    segment_top_items,
    similar_table,
    single_model_lists,
)

__all__ = [
    "LISTS",
    "RecommendResult",
    "RecommendSpec",
    "SegmentBestSellers",
    "ensure_recommendations",
    "item_names",
    "load_recommendations",
    "recommendations_stamp",
    "run_recommendations",
    "segment_best_sellers",
    "similar_products",
    "user_history",
    "user_recommendations",
    "write_recommendations",
]

MODEL_KEY = "recommend"  # the ``model`` record of the last run (its time keys the UI's caches)


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

    def config(self) -> RecommendConfig:
        """The fitting configuration (everything else at its defaults)."""
        return RecommendConfig(
            k=self.k,
            horizon_days=self.horizon_days,
            seed=self.seed,
            sequential=self.sequential,
            device=self.device,
        )


@dataclass(frozen=True)
class RecommendResult:
    """What ``run_recommendations`` did; ``report`` is the persisted ``RECS_REPORT``.

    ``stamp`` changes with every run (the UI's cache key, see ``recommendations_stamp``).
    """

    dataset: str
    report: dict[str, Any]
    recs: pl.DataFrame = field(repr=False)
    stamp: str = ""

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


def _segment_lists(
    ws: Workspace, dataset: str, fitted: FittedRecommender, k: int
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The best sellers per segment and, from them, each member's fallback items
    (``user_id, item_id, score``); both None before the first segmentation."""
    segments = ws.read_frame(dataset, SEGMENTS)
    if segments is None or not {USER_ID, "segment"} <= set(segments.columns):
        return None, None
    seg_top = segment_top_items(fitted, segments, k=k)
    fallback = (
        segments.select(USER_ID, "segment")
        .join(seg_top, on="segment")
        .select(USER_ID, ITEM_ID, "score")
    )
    return seg_top, fallback


def _report(
    evaluation: dict[str, Any], fitted: FittedRecommender, recs: pl.DataFrame, k: int
) -> dict[str, Any]:
    """The persisted report: the chosen model, its metrics beside the baselines', the lists."""
    chosen = evaluation["chosen"]
    table = pl.DataFrame(evaluation["table"])

    def metrics(model: str, task: str = "all") -> dict[str, float]:
        row = table.filter((pl.col("model") == model) & (pl.col("task") == task))
        return row.drop("model", "label", "task").to_dicts()[0] if row.height else {}

    new_best = "blend" if chosen in ("blend", "buy_again", "own_most_bought") else chosen
    return {
        "chosen": chosen,
        "chosen_label": MODEL_LABELS.get(chosen, chosen),
        "metrics": metrics(chosen),
        "baseline": metrics("popularity"),
        "peer": metrics("own_most_bought"),
        "metrics_new": metrics(new_best, "new"),
        "baseline_new": metrics("popularity", "new"),
        "lift_over_baseline": evaluation["lift_over_popularity"],
        "k": k,
        "cutoff": fitted.cutoff.isoformat(),
        "users": int(recs[USER_ID].n_unique()),
        "best_seller_window_days": fitted.models.popularity.window_days,
        "evaluation": evaluation,
    }


def _inputs(ws: Workspace, dataset: str, spec: RecommendSpec) -> dict[str, Any]:
    """What a run's lists depend on: the spec, the data and the segmentation they used."""
    segments = ws.artifact_path(dataset, SEGMENTS)
    return {
        "spec": json.loads(json.dumps(asdict(spec), default=str)),
        "fingerprint": ws.dataset(dataset).fingerprint,
        "segments": None if segments is None else str(segments),
    }


def _write(
    ws: Workspace, dataset: str, report: dict[str, Any], frames: dict[str, pl.DataFrame | None]
) -> None:
    """Every artifact of a run, then the ``model`` record (whose time is the run's stamp)."""
    for name, frame in frames.items():
        if frame is not None:
            ws.write_frame(dataset, name, frame)
    ws.write_json(dataset, RECS_REPORT, report)
    ws.put_record(
        "model",
        dataset,
        MODEL_KEY,
        {
            "target": MODEL_KEY,
            "model": report["chosen"],
            "metrics": report["metrics"],
            "baseline": report["baseline"],
            "device": report["evaluation"]["device"],
            "seconds": report["seconds"],
            "artifacts": [RECS, RECS_SIMILAR, RECS_REPORT],
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
    timer = Stopwatch()
    events = _events(ws, dataset)
    evaluation, fitted = _serving(events, spec, spec.config(), progress)
    progress(0.9, "Writing every customer's lists")
    seg_top, fallback = _segment_lists(ws, dataset, fitted, spec.k)
    recs = recommend_lists(fitted, k=spec.k, fallback=fallback)
    combined = single_model_lists(fitted, evaluation["chosen"], spec.k)
    if combined is not None:
        recs = pl.concat([recs.filter(pl.col("list") != "combined"), combined.cast(recs.schema)])
    report = _report(evaluation, fitted, recs, spec.k)
    report["seconds"] = {**evaluation["seconds"], "serving_total": timer.seconds}
    report["inputs"] = _inputs(ws, dataset, spec)
    frames = {
        RECS: recs.sort(USER_ID, "list", RANK),
        RECS_SIMILAR: similar_table(fitted),
        RECS_SEGMENTS: seg_top,
    }
    _write(ws, dataset, report, frames)
    progress(1.0, "Recommendations ready")
    return RecommendResult(
        dataset=dataset, report=report, recs=recs, stamp=recommendations_stamp(ws, dataset) or ""
    )


def ensure_recommendations(
    ws: Workspace,
    dataset: str,
    spec: RecommendSpec = RecommendSpec(),
    progress: Progress = no_progress,
) -> RecommendResult:
    """The persisted lists when the last run used the same spec, data and segments (all three
    lists come from one fit, so exporting a second list refits nothing), else a new run."""
    spec.validate()
    result = load_recommendations(ws, dataset)
    if result is not None and result.report.get("inputs") == _inputs(ws, dataset, spec):
        progress(1.0, "Recommendations already computed for this spec")
        return result
    return run_recommendations(ws, dataset, spec, progress)


def recommendations_stamp(ws: Workspace, dataset: str) -> str | None:
    """Changes whenever recommendations are recomputed or the segments (whose names the best
    sellers show) are re-run: the UI's cache key. None before the first run."""
    record = ws.get_record("model", dataset, MODEL_KEY)
    if record is None:
        return None
    return json.dumps([str(record.created_at), str(ws.artifact_path(dataset, SEGMENTS))])


def load_recommendations(ws: Workspace, dataset: str) -> RecommendResult | None:
    """The last run's result, or None if recommendations were never computed."""
    stamp = recommendations_stamp(ws, dataset)
    report = ws.read_json(dataset, RECS_REPORT)
    recs = ws.read_frame(dataset, RECS)
    if report is None or recs is None:
        return None
    return RecommendResult(dataset=dataset, report=report, recs=recs, stamp=stamp or "")


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
    items = ws.read_frame(dataset, ITEMS)
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


def similar_products(ws: Workspace, dataset: str, names: pl.DataFrame) -> pl.DataFrame | None:
    """ "Customers who bought this also bought" with names: ``item_id, rank, similar_item_id,
    name, category, together, similarity`` (``names`` from ``item_names``); None before the
    first run."""
    similar = ws.read_frame(dataset, RECS_SIMILAR)
    if similar is None:
        return None
    named = similar.join(
        names.rename({ITEM_ID: "similar_item_id"}), on="similar_item_id", how="left"
    )
    return named.select(
        ITEM_ID, RANK, "similar_item_id", "name", CATEGORY, "together", "similarity"
    )


@dataclass(frozen=True)
class SegmentBestSellers:
    """The recent best sellers of each segment and the segments that have none.

    ``table``: ``segment, segment_label, rank, item_id, name, buyers, score`` (``score`` = the
    share of the segment's customers who bought the item, 0..1). ``without``: the labels of
    segments none of whose customers bought in the last ``window_days`` (None: unknown, a run
    from before the window was recorded).
    """

    table: pl.DataFrame
    without: tuple[str, ...]
    window_days: float | None


def _segment_labels(segments: pl.DataFrame) -> pl.DataFrame:
    """``segment, segment_label``: the segment's name where it has one, else "Segment n"."""
    name = (
        pl.col("segment_name").cast(pl.String)
        if "segment_name" in segments.columns
        else pl.lit(None, pl.String)
    )
    fallback = pl.format("Segment {}", pl.col("segment"))
    return (
        segments.select("segment", name.fill_null(fallback).alias("segment_label"))
        .unique("segment", keep="first")
        .sort("segment")
    )


def segment_best_sellers(
    ws: Workspace, dataset: str, names: pl.DataFrame
) -> SegmentBestSellers | None:
    """Each segment's best sellers with names and labels (``names`` from ``item_names``);
    None when the last run had no segments to work with."""
    top = ws.read_frame(dataset, RECS_SEGMENTS)
    segments = ws.read_frame(dataset, SEGMENTS)
    if top is None or segments is None:
        return None
    labels = _segment_labels(segments)
    table = (
        top.join(labels, on="segment", how="left")
        .join(names.select(ITEM_ID, "name"), on=ITEM_ID, how="left")
        .with_columns(pl.col("segment_label").fill_null(pl.format("Segment {}", "segment")))
        .sort("segment", RANK)
        .select("segment", "segment_label", RANK, ITEM_ID, "name", "buyers", "score")
    )
    without = labels.join(top.select("segment").unique(), on="segment", how="anti")
    report = ws.read_json(dataset, RECS_REPORT) or {}
    return SegmentBestSellers(
        table=table,
        without=tuple(without["segment_label"].to_list()),
        window_days=report.get("best_seller_window_days"),
    )
