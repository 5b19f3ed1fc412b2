"""Segmentation: features → embeddings → map → segments → profiles, persisted in the workspace.

``run_segmentation`` writes the ``FEATURES``, ``RFM``, ``SEGMENTS`` (``user_id, segment,
segment_name, x, y``), ``EMBEDDINGS`` frames, the ``SEGMENT_PROFILES`` card and the ``EMBEDDER``
weights (names in ``analytics.core.artifacts``), plus a ``run`` record under ``RUN_KEY`` with
timings, device and trustworthiness. ``load_segmentation`` reopens it without recomputing;
``segment_map`` joins what the map can be coloured by.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from analytics.core.artifacts import (
    EMBEDDER,
    EMBEDDINGS,
    FEATURES,
    RFM,
    SEGMENT_PROFILES,
    SEGMENTS,
    TRUTH,
    USERS,
    scores_artifact,
)
from analytics.core.device import select_device
from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import USER_ID, Shape
from analytics.core.timing import Stopwatch
from analytics.core.workspace import Workspace
from analytics.features.rfm import RFM_GROUPS, RFM_RULES, rfm_table
from analytics.features.sequences import SequenceSpec
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    category_slug,
    customer_table_features,
    default_cutoff,
    describe_feature,
    resolve_feature_spec,
    to_utc,
)
from models.segments.clustering import (
    MIN_GROUP_SIZE,
    Clustering,
    ClusterSpec,
    SegmentProfile,
    cluster_users,
    describe_segments,
    name_segments,
    profile_segments,
    segment_table,
    suppress_small,
)
from models.segments.colours import ColourChoice, colour_choices, score_column
from models.segments.embeddings import (
    EmbeddingConfig,
    EmbeddingResult,
    UserEmbeddingModel,
    prepare_embedding_data,
    train_user_embeddings,
)
from models.segments.forecast import ValueForecast, forecast_value
from models.segments.projection import ProjectionSpec, project_2d

__all__ = [
    "MAX_MAP_POINTS",
    "MIN_GROUP_SIZE",
    "RFM_RULES",
    "ClassicRfm",
    "ColourChoice",
    "SegmentMap",
    "SegmentProfile",
    "SegmentSpec",
    "SegmentationResult",
    "ari_vs_truth",
    "classic_rfm",
    "describe_feature",
    "ensemble_size",
    "load_segmentation",
    "member_seed",
    "run_segmentation",
    "segment_map",
    "segmentation_stamp",
]

MAX_MAP_POINTS = 200_000  # WebGL draws this many smoothly; beyond, a random sample is drawn
RUN_KEY = "segment"  # the ``run`` record of the last segmentation (its time keys the caches)


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
    # the map: UMAP on a sample, the rest placed by kNN (models.segments.projection)
    map_sample: int = 6_000
    map_epochs: int | None = 200
    max_seconds: float | None = None  # cap on embedding training (breaks exact reproducibility)
    # weight of the embedding's value part against its taste part when clustering
    value_weight: float = 0.5
    # below this many training users, train several embedders (a single one is a lottery ticket)
    ensemble_rows: int = 15_000
    max_members: int = 5
    # spread of the expected-value axis (models.segments.forecast) relative to the value part
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
                {"id": p.segment, "name": p.name, "size": p.size}
                | ({"suppressed": True} if p.suppressed else {"share_revenue": p.share_revenue})
                for p in suppress_small(self.profiles)
            ],
            "trustworthiness": round(self.trustworthiness, 4),
            "device": self.device,
            "seconds": round(self.seconds, 2),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "cpu_seconds": round(sum(self.cpu_timings.values()), 2),
            "cpu_timings": {k: round(v, 2) for k, v in self.cpu_timings.items()},
        }


@dataclass(frozen=True)
class _UserTable:
    """The feature table, its resolved spec, and the RFM table (``None`` for customer tables)."""

    features: pl.DataFrame
    spec: FeatureSpec
    rfm: pl.DataFrame | None

    @property
    def has_events(self) -> bool:
        return self.rfm is not None


@dataclass
class _StepTimes:
    """Wall and CPU seconds per step, each step timed by its own ``Stopwatch``."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    watch: Stopwatch = field(default_factory=Stopwatch)

    def done(self, step: str) -> None:
        self.wall[step], self.cpu[step] = self.watch.seconds, self.watch.cpu_seconds
        self.watch = Stopwatch()


@dataclass(frozen=True)
class _Learned:
    """The trained embedders (member 0 is persisted and mapped) and the value forecast."""

    members: list[EmbeddingResult]
    forecast: ValueForecast | None

    @property
    def first(self) -> EmbeddingResult:
        return self.members[0]


def _user_table(ws: Workspace, dataset: str, events: pl.DataFrame, cutoff: datetime) -> _UserTable:
    """The features (from events, else from the customer table) and the RFM of those events."""
    info = ws.dataset(dataset)
    if info.shape == Shape.CUSTOMERS.value or events.height == 0:
        users = ws.read_frame(dataset, USERS)
        if users is None or users.height == 0:
            raise NotEnoughData(f"Dataset '{dataset}' has neither events nor a customer table.")
        return _UserTable(customer_table_features(users), FeatureSpec(), None)
    spec = resolve_feature_spec(events, cutoff)
    return _UserTable(build_user_features(events, cutoff, spec), spec, rfm_table(events, cutoff))


def run_segmentation(
    ws: Workspace,
    dataset: str,
    spec: SegmentSpec = SegmentSpec(),
    progress: Progress = no_progress,
) -> SegmentationResult:
    """Run the whole segment step on ``dataset`` and persist its artifacts."""
    total, steps = Stopwatch(), _StepTimes()
    progress(0.0, "Reading the dataset")
    events = ws.events(dataset).collect()
    cutoff = to_utc(spec.cutoff) if spec.cutoff is not None else _cutoff(events)
    progress(0.03, "Computing customer features")
    table = _user_table(ws, dataset, events, cutoff)
    if table.features.height < 4:
        raise NotEnoughData(
            f"Only {table.features.height} customers have history up to {cutoff:%Y-%m-%d}; "
            "segments need at least 4. Pick a later cutoff or load more data."
        )
    steps.done("features")
    learned = _learn(events, table, cutoff, spec, progress)
    steps.done("embeddings")
    projection = project_2d(
        learned.first.embeddings,
        ProjectionSpec(sample_size=spec.map_sample, n_epochs=spec.map_epochs, seed=spec.seed),
        scaled(progress, 0.6, 0.85),
    )
    steps.done("projection")
    progress(0.86, "Finding segments")
    clustering = _cluster(table.features, learned, spec)
    steps.done("clustering")
    progress(0.92, "Profiling and naming segments")
    profiles = _named_profiles(table.features, clustering.labels, table.spec, spec.seed)
    segments = segment_table(learned.first.user_ids, clustering.labels, profiles, projection.coords)
    steps.done("profiles")
    result = SegmentationResult(
        dataset=dataset, segments=segments, profiles=profiles,
        trustworthiness=projection.trustworthiness, device=learned.first.device,
        seconds=total.seconds, cutoff=cutoff.isoformat(), k=clustering.k,
        chosen_by=clustering.chosen_by, timings=steps.wall, cpu_timings=steps.cpu,
        loss_curve=learned.first.loss_curve,
        silhouette_by_k={str(k): v for k, v in clustering.silhouette_by_k.items()},
    )  # fmt: skip
    progress(0.96, "Saving the segments")
    _persist(ws, result, table, learned, spec)
    progress(1.0, f"{clustering.k} segments ready")
    return result


def _learn(
    events: pl.DataFrame, table: _UserTable, cutoff: datetime, spec: SegmentSpec, progress: Progress
) -> _Learned:
    """Train the embedder ensemble (progress 0.1 to 0.6) and the expected-value forecast."""
    progress(0.1, "Preparing event sequences")
    data = prepare_embedding_data(
        events,
        table.features,
        cutoff=cutoff,
        feature_spec=table.spec,
        sequence_spec=SequenceSpec(max_len=spec.max_events),
    )
    config = EmbeddingConfig(dims=spec.dims, epochs=spec.epochs, max_seconds=spec.max_seconds)
    device = select_device(spec.device)
    n = ensemble_size(len(data.train), spec.ensemble_rows, spec.max_members)
    members = [
        train_user_embeddings(
            data,
            device=device,
            seed=member_seed(spec.seed, i),
            config=config,
            progress=scaled(progress, 0.12 + 0.48 * i / n, 0.12 + 0.48 * (i + 1) / n),
        )
        for i in range(n)
    ]
    forecast = (
        forecast_value(events, table.features, cutoff=cutoff, feature_spec=table.spec)
        if table.has_events and spec.forecast_weight > 0
        else None
    )
    return _Learned(members, forecast)


def _cluster(features: pl.DataFrame, learned: _Learned, spec: SegmentSpec) -> Clustering:
    """k-means on every member's embedding plus the value axis (revenue picks among ties)."""
    revenue = features["revenue_total"].to_numpy() if "revenue_total" in features.columns else None
    space, weights, parts = _cluster_space(
        [m.embeddings for m in learned.members],
        [m.model_args for m in learned.members],
        spec,
        learned.forecast.values if learned.forecast is not None else None,
    )
    return cluster_users(
        space,
        ClusterSpec(k=spec.k, k_range=spec.k_range, seed=spec.seed),
        value=revenue,
        weights=weights,
        parts=parts,
    )


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
    table: _UserTable,
    learned: _Learned,
    spec: SegmentSpec,
) -> None:
    dataset, first = result.dataset, learned.first
    meta = {"cutoff": result.cutoff, "k": result.k}
    ws.write_frame(dataset, FEATURES, table.features, meta)
    if table.rfm is not None:
        ws.write_frame(dataset, RFM, table.rfm, meta)
    ws.write_frame(dataset, SEGMENTS, result.segments, meta)
    emb = pl.DataFrame(
        {USER_ID: list(first.user_ids)}
        | {f"e{i}": first.embeddings[:, i] for i in range(first.embeddings.shape[1])}
    )
    ws.write_frame(dataset, EMBEDDINGS, emb, meta)
    ws.write_bytes(dataset, EMBEDDER, first.state_bytes(), {"args": first.model_args})
    ws.write_json(
        dataset,
        SEGMENT_PROFILES,
        {"meta": meta, "profiles": [p.to_dict() for p in result.profiles]},
    )
    ws.put_record("run", dataset, RUN_KEY, _run_record(result, learned, spec))


def _run_record(result: SegmentationResult, learned: _Learned, spec: SegmentSpec) -> dict[str, Any]:
    """The ``run`` record's payload: how the segments were made (``load_segmentation`` reads it)."""
    first, forecast = learned.first, learned.forecast
    return {
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
        "epochs": first.epochs,
        "train_users": first.train_users,
        "ensemble_members": ensemble_size(first.train_users, spec.ensemble_rows, spec.max_members),
        "horizon_days": first.horizon_days,
        "value_forecast": None
        if forecast is None
        else {
            "horizon_days": forecast.horizon_days,
            "train_users": forecast.train_users,
            "r2_in_history": round(forecast.r2_in_history, 4),
        },
        "spec": {k: str(v) if isinstance(v, date) else v for k, v in spec.__dict__.items()},
    }


def load_segmentation(
    ws: Workspace, dataset: str, *, min_group_size: int = MIN_GROUP_SIZE
) -> SegmentationResult | None:
    """The last persisted segmentation of ``dataset``, or ``None`` if it was never run.

    Segments under ``min_group_size`` customers come without profile or revenue figures.
    """
    record = ws.get_record("run", dataset, RUN_KEY)
    segments = ws.read_frame(dataset, SEGMENTS)
    stored = ws.read_json(dataset, SEGMENT_PROFILES)
    if record is None or segments is None or stored is None:
        return None
    p = record.payload
    return SegmentationResult(
        dataset=dataset,
        segments=segments,
        profiles=suppress_small(
            [SegmentProfile.from_dict(d) for d in stored["profiles"]], min_group_size
        ),
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


@dataclass(frozen=True)
class SegmentMap:
    """The map's points (segments, numeric features, scores) and what they can be coloured by.

    ``points`` has ``user_id, segment, segment_name, x, y`` plus the colour columns; it holds a
    random sample of ``MAX_MAP_POINTS`` when the dataset has more customers (``customers``).
    """

    points: pl.DataFrame
    colours: tuple[ColourChoice, ...]
    customers: int


@dataclass(frozen=True)
class ClassicRfm:
    """The classic RFM view beside the learned segments.

    ``groups``: ``rfm_group, customers``, largest first; ``by_segment``: one row per learned
    segment (``Segment``), one column of customers per RFM group.
    """

    groups: pl.DataFrame
    by_segment: pl.DataFrame


def segmentation_stamp(ws: Workspace, dataset: str) -> str | None:
    """Changes when the segments are re-run or a predictor is retrained (the UI's cache key).

    ``None`` when the dataset was never segmented.
    """
    record = ws.get_record("run", dataset, RUN_KEY)
    if record is None:
        return None
    prefix = scores_artifact("")
    scores = [
        (name, (ws.artifact_meta(dataset, name) or {}).get("model"))
        for name in ws.list_artifacts(dataset)
        if name.startswith(prefix)
    ]
    return json.dumps([str(record.created_at), scores], default=str)


def segment_map(ws: Workspace, dataset: str) -> SegmentMap | None:
    """Segments joined with the numeric features and every predictor's 0-100 score."""
    points = ws.read_frame(dataset, SEGMENTS)
    if points is None:
        return None
    features = ws.read_frame(dataset, FEATURES)
    if features is not None:
        keep = [c for c in features.columns if c != USER_ID and features[c].dtype.is_numeric()]
        points = points.join(features.select(USER_ID, *keep), on=USER_ID, how="left")
    prefix = scores_artifact("")
    for name in ws.list_artifacts(dataset):
        scores = ws.read_frame(dataset, name) if name.startswith(prefix) else None
        if scores is not None and "score_100" in scores.columns:
            score = pl.col("score_100").cast(pl.Float64).alias(score_column(name[len(prefix) :]))
            points = points.join(scores.select(USER_ID, score), on=USER_ID, how="left")
    customers = points.height
    if customers > MAX_MAP_POINTS:
        points = points.sample(MAX_MAP_POINTS, seed=7)
    return SegmentMap(points, colour_choices(points), customers)


def classic_rfm(ws: Workspace, dataset: str) -> ClassicRfm | None:
    """RFM groups of the segmented customers; ``None`` without event data (a customer table)."""
    rfm = ws.read_frame(dataset, RFM)
    segments = ws.read_frame(dataset, SEGMENTS)
    if rfm is None or segments is None:
        return None
    groups = rfm.group_by("rfm_group").agg(pl.len().alias("customers"))
    both = rfm.join(segments.select(USER_ID, "segment", "segment_name"), on=USER_ID)
    by_segment = (
        both.pivot("rfm_group", index=["segment", "segment_name"], values=USER_ID,
                   aggregate_function="len")
        .fill_null(0)
        .sort("segment")
        .drop("segment")
        .rename({"segment_name": "Segment"})
    )  # fmt: skip
    order = [g for g in RFM_GROUPS if g in by_segment.columns]
    by_segment = by_segment.select("Segment", *order)
    return ClassicRfm(groups.sort("customers", descending=True), by_segment)


def ari_vs_truth(ws: Workspace, dataset: str, segments: pl.DataFrame) -> float | None:
    """Adjusted Rand index of the segments against the demo's planted types (evaluation only).

    ``None`` when the dataset has no ``truth`` artifact (every real dataset).
    """
    truth = ws.read_frame(dataset, TRUTH)
    if truth is None or "true_type" not in truth.columns:
        return None
    from sklearn.metrics import adjusted_rand_score

    joined = segments.join(truth.select(USER_ID, "true_type"), on=USER_ID, how="inner")
    if joined.height == 0:
        return None
    return float(adjusted_rand_score(joined["true_type"], joined["segment"]))
