"""Segmentation: features → embeddings → map → segments → profiles, persisted in the workspace.

Artifacts written for a dataset: ``features``, ``rfm``, ``segments`` (``user_id, segment,
segment_name, x, y``), ``embeddings`` (``user_id, e0 … e{dims-1}``), json ``segment_profiles``
(``{"meta": {...}, "profiles": [...]}``), bytes ``segment_embedder`` (torch ``state_dict``, load
with
``models.segments.embeddings.load_state_dict``); record kind ``run`` key ``segment`` with timings,
device and trustworthiness. ``load_segmentation`` reopens all of it without recomputing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from analytics.core.device import select_device
from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import USER_ID, Shape
from analytics.core.workspace import Workspace
from analytics.features.rfm import rfm_table
from analytics.features.sequences import SequenceSpec
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    category_slug,
    customer_table_features,
    default_cutoff,
    resolve_feature_spec,
    to_utc,
)
from models.segments.clustering import (
    ClusterSpec,
    SegmentProfile,
    cluster_users,
    describe_segments,
    name_segments,
    profile_segments,
    segment_table,
)
from models.segments.embeddings import (
    EmbeddingConfig,
    UserEmbeddingModel,
    ValueForecast,
    forecast_value,
    prepare_embedding_data,
    train_user_embeddings,
)
from models.segments.projection import ProjectionSpec, project_2d

__all__ = [
    "SegmentSpec",
    "SegmentationResult",
    "ari_vs_truth",
    "ensemble_size",
    "load_segmentation",
    "member_seed",
    "run_segmentation",
]

RUN_KEY = "segment"
EMBEDDER_ARTIFACT = "segment_embedder"


@dataclass(frozen=True)
class SegmentSpec:
    """What to run. ``k=None`` chooses the number of segments; ``cutoff=None`` = last event day."""

    k: int | None = None
    cutoff: date | datetime | None = None
    dims: int = 32
    seed: int = 7
    device: str = "auto"
    epochs: int = 12
    max_events: int = 32
    k_range: tuple[int, int] = (4, 10)
    # the map: UMAP on a sample, the rest placed by kNN
    # (models.segments.projection); 6k points and 200
    # epochs draw the demo's 20k users at trustworthiness 0.9867 (all 20k, default epochs: 0.9866)
    # for a quarter of the CPU time
    map_sample: int = 6_000
    map_epochs: int | None = 200
    max_seconds: float | None = None  # cap on embedding training (breaks exact reproducibility)
    # how much the value/activity part of the embedding counts against the taste part when
    # clustering: 0.5 keeps segments recognisable by taste (who they are) while still separating
    # active from fading customers (see bench/segments.py for the trade-off)
    value_weight: float = 0.5
    # small data: a single network trained on a few thousand users is a lottery ticket (Online
    # Retail, 3k users: eta2 ratio 1.10-1.18 across seeds); below ``ensemble_rows`` training users,
    # train up to ``max_members`` networks (different seeds, about ``ensemble_rows`` rows of
    # training in all) and cluster on their parts side by side. The demo's 20k users train one.
    ensemble_rows: int = 15_000
    max_members: int = 5
    # the expected-value axis
    # (``models.segments.embeddings.forecast_value``: next quarter's log revenue,
    # learned at a pseudo-cutoff inside the history) joins the clustering with as much spread as
    # the embedding's whole (weighted) value part: 1.0. Online Retail at 2011-09-09, k=4, seeds
    # 1/2/3/7: eta2 ratio 1.13/1.15/1.15/1.14 without it, 1.23/1.23/1.23/1.24 with it (0.5 and 0.7
    # swing from 1.17 to 1.25 by seed; 2.0 gives 1.20-1.22). 0 leaves it out.
    forecast_weight: float = 1.0


@dataclass(frozen=True)
class SegmentationResult:
    """Segments of a dataset and how they were made (``summary()`` is the CLI's JSON)."""

    dataset: str
    segments: pl.DataFrame  # user_id, segment, segment_name, x, y
    profiles: list[SegmentProfile]
    trustworthiness: float
    device: str
    seconds: float
    cutoff: str
    k: int
    chosen_by: str
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step
    cpu_timings: dict[str, float] = field(default_factory=dict)  # CPU seconds per step
    loss_curve: list[float] = field(default_factory=list)
    silhouette_by_k: dict[str, float] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return self.segments.height

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "n_users": self.n_users,
            "cutoff": self.cutoff,
            "k": self.k,
            "k_chosen_by": self.chosen_by,
            "segments": [
                {"id": p.segment, "name": p.name, "size": p.size, "share_revenue": p.share_revenue}
                for p in self.profiles
            ],
            "trustworthiness": round(self.trustworthiness, 4),
            "device": self.device,
            "seconds": round(self.seconds, 2),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "cpu_seconds": round(sum(self.cpu_timings.values()), 2),
            "cpu_timings": {k: round(v, 2) for k, v in self.cpu_timings.items()},
        }


def _user_table(
    ws: Workspace, dataset: str, events: pl.DataFrame, cutoff: datetime
) -> tuple[pl.DataFrame, FeatureSpec, bool]:
    """The feature table, its resolved spec, and whether it came from events."""
    info = ws.dataset(dataset)
    if info.shape == Shape.CUSTOMERS.value or events.height == 0:
        users = ws.read_frame(dataset, "users")
        if users is None or users.height == 0:
            raise NotEnoughData(f"Dataset '{dataset}' has neither events nor a customer table.")
        return customer_table_features(users), FeatureSpec(), False
    spec = resolve_feature_spec(events, cutoff)
    return build_user_features(events, cutoff, spec), spec, True


def run_segmentation(
    ws: Workspace,
    dataset: str,
    spec: SegmentSpec = SegmentSpec(),
    progress: Progress = no_progress,
) -> SegmentationResult:
    """Run the whole segment step on ``dataset`` and persist its artifacts."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    cpu_clock = [time.process_time()]

    def lap(name: str, since: float) -> float:
        now, cpu_now = time.perf_counter(), time.process_time()
        timings[name] = now - since
        cpu_timings[name] = cpu_now - cpu_clock[0]
        cpu_clock[0] = cpu_now
        return now

    progress(0.0, "Reading the dataset")
    events = ws.events(dataset).collect()
    cutoff = to_utc(spec.cutoff) if spec.cutoff is not None else _cutoff(events)
    progress(0.03, "Computing customer features")
    features, feature_spec, has_events = _user_table(ws, dataset, events, cutoff)
    if features.height < 4:
        raise NotEnoughData(
            f"Only {features.height} customers have history up to {cutoff:%Y-%m-%d}; "
            "segments need at least 4. Pick a later cutoff or load more data."
        )
    rfm = rfm_table(events, cutoff) if has_events else None
    t = lap("features", started)
    progress(0.1, "Preparing event sequences")
    data = prepare_embedding_data(
        events,
        features,
        cutoff=cutoff,
        feature_spec=feature_spec,
        sequence_spec=SequenceSpec(max_len=spec.max_events),
    )
    config = EmbeddingConfig(dims=spec.dims, epochs=spec.epochs, max_seconds=spec.max_seconds)
    device = select_device(spec.device)
    n_members = ensemble_size(len(data.train), spec.ensemble_rows, spec.max_members)
    members = [
        train_user_embeddings(
            data,
            device=device,
            seed=member_seed(spec.seed, i),
            config=config,
            progress=scaled(
                progress, 0.12 + 0.48 * i / n_members, 0.12 + 0.48 * (i + 1) / n_members
            ),
        )
        for i in range(n_members)
    ]
    learned = members[0]  # persisted and mapped; the segments use every member
    forecast = (
        forecast_value(events, features, cutoff=cutoff, feature_spec=feature_spec)
        if has_events and spec.forecast_weight > 0
        else None
    )
    t = lap("embeddings", t)
    projection = project_2d(
        learned.embeddings,
        ProjectionSpec(sample_size=spec.map_sample, n_epochs=spec.map_epochs, seed=spec.seed),
        scaled(progress, 0.6, 0.85),
    )
    t = lap("projection", t)
    progress(0.86, "Finding segments")
    revenue = features["revenue_total"].to_numpy() if "revenue_total" in features.columns else None
    space, weights, parts = _cluster_space(
        [m.embeddings for m in members],
        [m.model_args for m in members],
        spec,
        forecast.values if forecast is not None else None,
    )
    clustering = cluster_users(
        space,
        ClusterSpec(k=spec.k, k_range=spec.k_range, seed=spec.seed),
        value=revenue,
        weights=weights,
        parts=parts,
    )
    t = lap("clustering", t)
    progress(0.92, "Profiling and naming segments")
    profiles = _named_profiles(features, clustering.labels, feature_spec, spec.seed)
    table = segment_table(learned.user_ids, clustering.labels, profiles, projection.coords)
    lap("profiles", t)
    seconds = time.perf_counter() - started
    result = SegmentationResult(
        dataset=dataset,
        segments=table,
        profiles=profiles,
        trustworthiness=projection.trustworthiness,
        device=learned.device,
        seconds=seconds,
        cutoff=cutoff.isoformat(),
        k=clustering.k,
        chosen_by=clustering.chosen_by,
        timings=timings,
        cpu_timings=cpu_timings,
        loss_curve=learned.loss_curve,
        silhouette_by_k={str(k): v for k, v in clustering.silhouette_by_k.items()},
    )
    progress(0.96, "Saving the segments")
    _persist(ws, result, features, rfm, learned, spec, forecast)
    progress(1.0, f"{clustering.k} segments ready")
    return result


def ensemble_size(train_rows: int, ensemble_rows: int, max_members: int) -> int:
    """How many networks to train: enough for about ``ensemble_rows`` training rows, 1 to max."""
    return int(min(max(1, -(-ensemble_rows // max(train_rows, 1))), max(max_members, 1)))


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member ``member`` (member 0 keeps the run's seed)."""
    return seed if member == 0 else seed * 1000 + member


def _cluster_space(
    embeddings: Sequence[np.ndarray],
    model_args: Sequence[dict[str, Any]],
    spec: SegmentSpec,
    forecast: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What k-means sees: every member's embedding side by side, plus the expected-value axis.

    Returns the matrix, the weight and the part of each column. The forecast is its own part
    (scaled to unit spread), weighted so that its spread is ``spec.forecast_weight`` times that
    of all the value dimensions together (the root of the sum of their squared weights).
    """
    weights = [_dimension_weights(a, spec.value_weight) for a in model_args]
    parts = [_dimension_parts(a) + 2 * i for i, a in enumerate(model_args)]
    columns = list(embeddings)
    if forecast is not None and spec.forecast_weight > 0:
        value_spread = math.sqrt(
            sum(float((w[p % 2 == 1] ** 2).sum()) for w, p in zip(weights, parts, strict=True))
        )
        columns.append(np.asarray(forecast, dtype=np.float64)[:, None])
        weights.append(np.array([spec.forecast_weight * value_spread]))
        parts.append(np.array([2 * len(model_args)]))
    return np.hstack(columns), np.concatenate(weights), np.concatenate(parts)


def _dimension_weights(model_args: dict[str, Any], value_weight: float) -> np.ndarray:
    """Weights of the embedding's taste dimensions (1) and value dimensions (``value_weight``).

    Where the data names fewer than two categories (Online Retail-like order lines without a
    category column) the taste head has nothing to learn: its dimensions hold only the denoising
    reconstruction of the features, which repeats what the value part says with more noise. Then
    the segments come from the value part alone (taste weight 0, value weight 1).
    """
    dims = int(model_args["dims"])
    taste = UserEmbeddingModel.taste_dims(dims)
    weights = np.ones(dims)
    if int(model_args.get("n_category_ids", 0)) - 2 < 2:  # padding and "other" are no taste
        weights[:taste] = 0.0
        return weights
    weights[taste:] = value_weight
    return weights


def _dimension_parts(model_args: dict[str, Any]) -> np.ndarray:
    """Part of each embedding dimension: 0 taste, 1 value (each part is scaled as a whole)."""
    dims = int(model_args["dims"])
    parts = np.zeros(dims, dtype=np.int64)
    parts[UserEmbeddingModel.taste_dims(dims) :] = 1
    return parts


def _cutoff(events: pl.DataFrame) -> datetime:
    return default_cutoff(events) if events.height else to_utc(date.today())


def _named_profiles(
    features: pl.DataFrame, labels: np.ndarray, feature_spec: FeatureSpec, seed: int
) -> list[SegmentProfile]:
    categories = {f"cat_share_{category_slug(c)}": c for c in feature_spec.categories or ()}
    profiles = profile_segments(features, labels, categories=categories)
    rules = describe_segments(features, labels, seed=seed)
    overall = {
        c: float(features[c].mean() or 0.0)  # type: ignore[arg-type]
        for c in features.columns
        if c != USER_ID and features[c].dtype.is_numeric()
    }
    from dataclasses import replace

    profiles = [
        replace(p, rules=(rules[p.segment],) if p.segment in rules else ()) for p in profiles
    ]
    return name_segments(profiles, overall)


def _persist(
    ws: Workspace,
    result: SegmentationResult,
    features: pl.DataFrame,
    rfm: pl.DataFrame | None,
    learned: Any,
    spec: SegmentSpec,
    forecast: ValueForecast | None = None,
) -> None:
    dataset = result.dataset
    meta = {"cutoff": result.cutoff, "k": result.k}
    ws.write_frame(dataset, "features", features, meta)
    if rfm is not None:
        ws.write_frame(dataset, "rfm", rfm, meta)
    ws.write_frame(dataset, "segments", result.segments, meta)
    emb = pl.DataFrame(
        {USER_ID: list(learned.user_ids)}
        | {f"e{i}": learned.embeddings[:, i] for i in range(learned.embeddings.shape[1])}
    )
    ws.write_frame(dataset, "embeddings", emb, meta)
    ws.write_bytes(dataset, EMBEDDER_ARTIFACT, learned.state_bytes(), {"args": learned.model_args})
    ws.write_json(
        dataset,
        "segment_profiles",
        {"meta": meta, "profiles": [p.to_dict() for p in result.profiles]},
    )
    ws.put_record(
        "run",
        dataset,
        RUN_KEY,
        {
            "cutoff": result.cutoff,
            "k": result.k,
            "k_chosen_by": result.chosen_by,
            "silhouette_by_k": result.silhouette_by_k,
            "n_users": result.n_users,
            "trustworthiness": result.trustworthiness,
            "device": result.device,
            "seconds": result.seconds,
            "timings": result.timings,
            "cpu_timings": result.cpu_timings,
            "loss_curve": result.loss_curve,
            "epochs": learned.epochs,
            "train_users": learned.train_users,
            "ensemble_members": ensemble_size(
                learned.train_users, spec.ensemble_rows, spec.max_members
            ),
            "horizon_days": learned.horizon_days,
            "value_forecast": None
            if forecast is None
            else {
                "horizon_days": forecast.horizon_days,
                "train_users": forecast.train_users,
                "r2_in_history": round(forecast.r2_in_history, 4),
            },
            "spec": {k: str(v) if isinstance(v, date) else v for k, v in spec.__dict__.items()},
        },
    )


def load_segmentation(ws: Workspace, dataset: str) -> SegmentationResult | None:
    """The last persisted segmentation of ``dataset``, or ``None`` if it was never run."""
    record = ws.get_record("run", dataset, RUN_KEY)
    segments = ws.read_frame(dataset, "segments")
    stored = ws.read_json(dataset, "segment_profiles")
    if record is None or segments is None or stored is None:
        return None
    p = record.payload
    return SegmentationResult(
        dataset=dataset,
        segments=segments,
        profiles=[SegmentProfile.from_dict(d) for d in stored["profiles"]],
        trustworthiness=float(p.get("trustworthiness", 0.0)),
        device=str(p.get("device", "")),
        seconds=float(p.get("seconds", 0.0)),
        cutoff=str(p.get("cutoff", "")),
        k=int(p.get("k", len(stored["profiles"]))),
        chosen_by=str(p.get("k_chosen_by", "")),
        timings=dict(p.get("timings", {})),
        cpu_timings=dict(p.get("cpu_timings", {})),
        loss_curve=list(p.get("loss_curve", [])),
        silhouette_by_k=dict(p.get("silhouette_by_k", {})),
    )


def ari_vs_truth(ws: Workspace, dataset: str, segments: pl.DataFrame) -> float | None:
    """Adjusted Rand index of the segments against the demo's planted types (evaluation only).

    ``None`` when the dataset has no ``truth`` artifact (every real dataset).
    """
    truth = ws.read_frame(dataset, "truth")
    if truth is None or "true_type" not in truth.columns:
        return None
    from sklearn.metrics import adjusted_rand_score

    joined = segments.join(truth.select(USER_ID, "true_type"), on=USER_ID, how="inner")
    if joined.height == 0:
        return None
    return float(adjusted_rand_score(joined["true_type"], joined["segment"]))
