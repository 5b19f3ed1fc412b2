"""Fit the recommenders at a cutoff: the base models on all history, the two blends on the
windows just before it.

The flow (times UTC, windows in days)::

    history up to cutoff - horizon ──base models──▶ candidates + features ─┐
    purchases in (cutoff - horizon, cutoff] ───────────────────────────────┴▶ blend (P(buy))
    (+ the windows one and two horizons earlier while too few first-time purchases)
    history up to cutoff ──base models──▶ candidates + features ──blend──▶ buy_again/new/combined

``fit_recommender`` returns a ``FittedRecommender``; ``serving.recommend_lists`` serves its
lists and ``evaluation.evaluate_recommenders`` scores them on a held-out window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, ITEM_ID, USER_ID, EventType
from analytics.core.timing import Stopwatch
from analytics.features.user_features import to_utc
from models.recommend.base import History, build_history
from models.recommend.blend import (
    FEATURES,
    BaseModels,
    BlendRanker,
    FeatureTables,
    build_candidates,
    candidate_features,
    feature_tables,
    fit_base_models,
    kernel_inputs,
    serving_inputs,
)
from models.recommend.packed import BlendTables, BlendTrees, CandidateInputs

__all__ = [
    "FittedRecommender",
    "RecommendConfig",
    "TrainRows",
    "fit_recommender",
    "purchases_between",
    "resolve_horizon",
]


@dataclass(frozen=True)
class RecommendConfig:
    """How to fit and evaluate. ``None`` horizons and windows are resolved from the data."""

    k: int = 10
    horizon_days: float | None = None
    recent_days: float | None = None
    seed: int = 7
    sequential: bool = True
    seq_epochs: int = 10
    seq_max_seconds: float = 15.0  # the sequence model only enters the comparison table
    seq_max_len: int = 30
    max_train_users: int = 4_000  # per training window
    # the blends learn from consecutive windows before the cutoff (each: history up to its
    # start, purchases over the next horizon), adding earlier ones, up to ``train_windows``,
    # while the new-item blend has fewer than ``min_new_purchases`` first-time purchases to
    # learn from (short windows on sparse data hold few; see the decisions log)
    train_windows: int = 3
    min_new_purchases: int = 1_000
    candidates_per_model: int = 10
    own_candidates: int = 100
    device: str = "auto"


def resolve_horizon(span_days: float, horizon_days: float | None) -> float:
    """The evaluation horizon: as asked, else a quarter of the history, between 1 and 91 days."""
    if horizon_days is not None:
        return float(horizon_days)
    return float(np.clip(round(span_days / 4.0), 1.0, 91.0))


def _recent_days(cfg: RecommendConfig, horizon: float) -> float:
    return cfg.recent_days if cfg.recent_days is not None else max(horizon * 2.0 / 3.0, 1.0)


def purchases_between(
    events: pl.LazyFrame | pl.DataFrame, start: datetime, end: datetime
) -> pl.DataFrame:
    """``user_id, item_id`` bought in ``(start, end]`` (UTC), one row per pair."""
    lf = events.lazy() if isinstance(events, pl.DataFrame) else events
    return (
        lf.filter(
            (pl.col(EVENT_TIME) > start)
            & (pl.col(EVENT_TIME) <= end)
            & (pl.col(EVENT_TYPE).cast(pl.String) == EventType.PURCHASE.value)
            & pl.col(USER_ID).is_not_null()
            & pl.col(ITEM_ID).is_not_null()
        )
        .select(pl.col(USER_ID).cast(pl.String), pl.col(ITEM_ID).cast(pl.String))
        .unique()
        .collect()
    )


TrainRows = tuple[np.ndarray, np.ndarray]  # one training window's blend features and labels


@dataclass
class FittedRecommender:
    """Base models and the two calibrated blends (own items, new items) as of ``cutoff``."""

    history: History
    models: BaseModels
    tables: FeatureTables
    buy_again_ranker: BlendRanker | None
    new_ranker: BlendRanker | None
    allowed: np.ndarray
    horizon_days: float
    cutoff: datetime
    seconds: dict[str, float] = field(default_factory=dict)
    # the blends' training rows per window start (features, labels; None: nobody bought),
    # which a later fit one horizon on reuses
    train_rows: dict[datetime, TrainRows | None] = field(default_factory=dict, repr=False)
    per_model: int = 10  # candidates per base model at serving, as in training
    own_cap: int = 100
    # the compiled candidate pass's packed arrays (own items, CSR rows, ...), built once at fit
    inputs: CandidateInputs | None = None
    # the feature tables and both blends' trees as the fused serving pass reads them (None when
    # a blend is missing: serving then ranks the single best signal)
    serving: tuple[BlendTables, BlendTrees] | None = None

    def popular(self, k: int) -> np.ndarray:
        """Item codes of the ``k`` recent best sellers still on sale (the fallback list)."""
        pop = np.where(self.allowed, self.models.popularity.popularity_, -np.inf)
        order = np.argsort(-pop, kind="stable")[:k]
        return order[np.isfinite(pop[order])]


def _label(cands: pl.DataFrame, history: History, truth: pl.DataFrame) -> np.ndarray:
    pos = truth.join(history.users, on=USER_ID).join(history.items.select(ITEM_ID, "i"), on=ITEM_ID)
    pos = pos.select("u", "i").with_columns(pl.lit(1, pl.Int8).alias("y"))
    return cands.join(pos, on=["u", "i"], how="left")["y"].fill_null(0).to_numpy()


def _training_rows(
    events: pl.LazyFrame | pl.DataFrame,
    models: BaseModels,
    horizon: float,
    cfg: RecommendConfig,
) -> TrainRows | None:
    """One window's blend rows: the candidates of the users who bought in the horizon after
    ``models``' history (at most ``max_train_users``), their features and labels (bought)."""
    h = models.history
    truth = purchases_between(events, h.cutoff, h.cutoff + timedelta(days=horizon))
    users = np.unique(h.codes(truth[USER_ID]))
    users = users[users >= 0]
    if len(users) > cfg.max_train_users:
        users = np.sort(
            np.random.default_rng(cfg.seed).choice(users, cfg.max_train_users, replace=False)
        )
    if len(users) == 0:
        return None
    allowed = h.recent_items(_recent_days(cfg, horizon))
    cands = build_candidates(
        models,
        users,
        allowed=allowed,
        per_model=cfg.candidates_per_model,
        own_cap=cfg.own_candidates,
    )
    feats = candidate_features(cands, feature_tables(h, horizon))
    return feats, _label(cands, h, truth)


def _fit_rankers(
    rows: list[TrainRows], cfg: RecommendConfig
) -> tuple[BlendRanker | None, BlendRanker | None]:
    """The two blends (the user's bought items, new items) on every window's rows."""
    if not rows:
        return None, None
    feats = np.concatenate([r[0] for r in rows])
    label = np.concatenate([r[1] for r in rows])
    owned = feats[:, FEATURES.index("owned")] > 0
    rankers: list[BlendRanker | None] = []
    for part in (owned, ~owned):
        ok = part.sum() >= 50 and 0 < label[part].sum() < part.sum()
        ranker = BlendRanker(seed=cfg.seed).fit(feats[part], label[part]) if ok else None
        rankers.append(ranker)
    return rankers[0], rankers[1]


def _window_rows(
    events: pl.LazyFrame | pl.DataFrame,
    end: datetime,
    horizon: float,
    cfg: RecommendConfig,
    train_models: BaseModels | None,
    reuse: dict[datetime, TrainRows | None],
) -> dict[datetime, TrainRows | None]:
    """The blend rows of consecutive windows before ``end``, by window start (the latest starts
    one horizon before ``end``), taken from ``reuse`` where it has them: at most
    ``cfg.train_windows``, stopping once the rows hold ``cfg.min_new_purchases`` first-time
    purchases or at the first window without history."""
    rows: dict[datetime, TrainRows | None] = {}
    new_purchases = 0
    for k in range(1, max(cfg.train_windows, 1) + 1):
        if new_purchases >= cfg.min_new_purchases:
            break
        start = end - timedelta(days=horizon * k)
        if start in reuse:
            rows[start] = reuse[start]
        else:
            if k == 1 and train_models is not None and train_models.history.cutoff == start:
                models = train_models
            else:
                try:
                    models = fit_base_models(
                        build_history(events, start), horizon_days=horizon, seed=cfg.seed
                    )
                except NotEnoughData:
                    break
            rows[start] = _training_rows(events, models, horizon, cfg)
        window = rows[start]
        if window is not None:
            new_purchases += int(window[1][window[0][:, FEATURES.index("owned")] == 0].sum())
    return rows


def _serving_inputs(
    tables: FeatureTables, own: BlendRanker | None, new: BlendRanker | None
) -> tuple[BlendTables, BlendTrees] | None:
    """The fused serving pass's inputs, None when it cannot serve (a blend missing or with
    splits it does not implement): serving then takes the slower general path."""
    if own is None or new is None:
        return None
    try:
        return serving_inputs(tables, own, new)
    except ValueError:
        return None


def fit_recommender(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime | date,
    cfg: RecommendConfig = RecommendConfig(),
    *,
    horizon_days: float | None = None,
    train_models: BaseModels | None = None,
    train_rows: dict[datetime, TrainRows | None] | None = None,
    progress: Progress = no_progress,
) -> FittedRecommender:
    """Fit the blends on the ``cfg.train_windows`` windows before ``cutoff`` and the base
    models on all history. ``train_models`` (fitted one horizon before ``cutoff``) and
    ``train_rows`` (an earlier fit's ``train_rows``) save refitting what they already hold."""
    seconds: dict[str, float] = {}
    end = to_utc(cutoff)
    timer = Stopwatch()
    progress(0.0, "Reading the purchase history")
    history = build_history(events, end)
    horizon = resolve_horizon(history.span_days(), horizon_days or cfg.horizon_days)
    progress(0.1, "Fitting the recommenders on the validation windows")
    rows = _window_rows(events, end, horizon, cfg, train_models, train_rows or {})
    progress(0.4, "Learning how to blend buy-again and new items")
    rankers = _fit_rankers([r for r in rows.values() if r is not None], cfg)
    seconds["blend"] = timer.seconds
    progress(0.7, "Fitting the recommenders on the full history")
    models = fit_base_models(history, horizon_days=horizon, seed=cfg.seed)
    seconds["total"] = timer.seconds
    progress(1.0, "Recommenders ready")
    allowed = history.recent_items(_recent_days(cfg, horizon))
    tables = feature_tables(history, horizon)
    return FittedRecommender(
        history=history,
        models=models,
        tables=tables,
        buy_again_ranker=rankers[0],
        new_ranker=rankers[1],
        allowed=allowed,
        horizon_days=horizon,
        cutoff=end,
        seconds=seconds,
        train_rows=rows,
        per_model=cfg.candidates_per_model,
        own_cap=cfg.own_candidates,
        inputs=kernel_inputs(models, allowed),
        serving=_serving_inputs(tables, *rankers),
    )
