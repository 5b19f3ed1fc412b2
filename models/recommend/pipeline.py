"""Product recommendations: fit every recommender on one time split, compare them, serve lists.

The flow (times UTC, windows in days)::

    history up to cutoff - horizon ──base models──▶ candidates + features ─┐
    purchases in (cutoff - horizon, cutoff] ───────────────────────────────┴▶ blend (P(buy))
    (+ the windows one and two horizons earlier while too few first-time purchases)
    history up to cutoff ──base models──▶ candidates + features ──blend──▶ buy_again/new/combined

``evaluate_recommenders`` runs that flow at an evaluation cutoff and scores every model on the
purchases of the following ``horizon``; ``fit_recommender`` + ``recommend_lists`` serve the lists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, ITEM_ID, USER_ID, EventType
from analytics.features.user_features import default_cutoff, to_utc
from models.recommend.base import History, OwnMostBoughtRecommender, build_history, top_n
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
from models.recommend.metrics import RANK, evaluate_ranking

__all__ = [
    "LISTS",
    "MODEL_LABELS",
    "Evaluation",
    "FittedRecommender",
    "RecommendConfig",
    "evaluate_recommenders",
    "fit_recommender",
    "purchases_between",
    "recommend_lists",
    "resolve_horizon",
    "segment_top_items",
    "similar_items",
]

LISTS = ("combined", "buy_again", "new")  # also the order of the kernels' list axis
MODEL_LABELS = {
    "popularity": "Recent best sellers (baseline)",
    "own_most_bought": "Customer's own most-bought items",
    "buy_again": "Buy again (frequency x recency x repurchase rate)",
    "knn": "Item-kNN (bought together)",
    "ease": "EASE (item-item linear model)",
    "als": "Matrix factorisation (ALS)",
    "sasrec": "Self-attentive sequence model",
    "blend": "Blend of all signals (LightGBM)",
}


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
    # learn from (Taobao's 2-day windows hold ~40 each, Online Retail's and the demo's ~2,500)
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


# --- fitting --------------------------------------------------------------------------------
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
    # the compiled candidate pass's flat arrays (own items, CSR rows, ...), built once at fit
    inputs: tuple[np.ndarray, ...] | None = None
    # the feature tables and both blends' trees as the fused serving pass reads them (None when
    # a blend is missing: serving then ranks the single best signal)
    serving: tuple[np.ndarray | int, ...] | None = None

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
) -> tuple[np.ndarray | int, ...] | None:
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
    started = time.monotonic()
    progress(0.0, "Reading the purchase history")
    history = build_history(events, end)
    horizon = resolve_horizon(history.span_days(), horizon_days or cfg.horizon_days)
    progress(0.1, "Fitting the recommenders on the validation windows")
    rows = _window_rows(events, end, horizon, cfg, train_models, train_rows or {})
    progress(0.4, "Learning how to blend buy-again and new items")
    rankers = _fit_rankers([r for r in rows.values() if r is not None], cfg)
    seconds["blend"] = time.monotonic() - started
    progress(0.7, "Fitting the recommenders on the full history")
    models = fit_base_models(history, horizon_days=horizon, seed=cfg.seed)
    seconds["total"] = time.monotonic() - started
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


# --- serving --------------------------------------------------------------------------------
def _scored_candidates(
    fitted: FittedRecommender, users: np.ndarray, per_model: int
) -> pl.DataFrame:
    cands = build_candidates(
        fitted.models,
        users,
        allowed=fitted.allowed,
        per_model=per_model,
        own_cap=fitted.own_cap,
        inputs=fitted.inputs,
    )
    feats = candidate_features(cands, fitted.tables)
    owned = feats[:, FEATURES.index("owned")] > 0
    score = np.zeros(len(feats))
    for part, ranker, fallback in (
        (owned, fitted.buy_again_ranker, "s_buy_again"),
        (~owned, fitted.new_ranker, "s_knn"),
    ):
        if not part.any():
            continue
        sub = feats[part]
        if ranker is not None:
            score[part] = ranker.predict_proba(sub)
        else:  # too little data to learn a blend: rank by the single best signal, scaled small
            raw = sub[:, FEATURES.index(fallback)]
            score[part] = raw / (raw.max() + 1e-9) * 0.01
    return cands.select("u", "i").with_columns(
        pl.Series("owned", owned.astype(np.float32)), pl.Series("score", score)
    )


def _top_k(scored: pl.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most probable items per user of each list (0 combined, 1 buy again, 2 new):
    ``(items, scores)``, each ``(users, 3, k)`` with item -1 where a list is short, users in
    the order of ``scored``'s row groups (it holds each user's rows together)."""
    from models.recommend.kernels import top_lists

    u, i = scored["u"].to_numpy(), scored["i"].to_numpy()
    score, owned = scored["score"].to_numpy(), scored["owned"].to_numpy() > 0
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, np.int64)
    rows = top_lists(np.r_[starts, len(u)].astype(np.int64), i, score, owned, k)
    safe = np.maximum(rows, 0)
    return np.where(rows >= 0, i[safe], -1), score[safe]


def _ranked(
    fitted: FittedRecommender, users: np.ndarray, k: int, per_model: int, chunk_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """``_top_k``'s arrays for ``users`` (sorted codes): from the fused compiled pass
    (candidates, features, both blends, top-k; ``recommend_kernels.serve_lists``) when the
    blends allow it (one parallel pass over every user), else candidates -> feature matrix ->
    LightGBM -> top-k per chunk."""
    from models.recommend.kernels import serve_lists

    if fitted.serving is None or fitted.inputs is None:
        items = np.full((len(users), 3, k), -1, dtype=np.int64)
        scores = np.zeros((len(users), 3, k), dtype=np.float64)
        for start in range(0, len(users), chunk_users):
            block = users[start : start + chunk_users]
            scored = _scored_candidates(fitted, block, per_model)
            rows = start + np.searchsorted(
                block, scored["u"].unique(maintain_order=True).to_numpy()
            )
            items[rows], scores[rows] = _top_k(scored, k)
        return items, scores
    own_counts = np.diff(fitted.inputs[-3])
    return serve_lists(  # type: ignore[call-arg,no-any-return]
        users,
        *fitted.inputs,  # type: ignore[arg-type]
        max(min(per_model, fitted.history.n_items), 1),
        int(min(fitted.own_cap, own_counts.max(initial=0))),
        *fitted.serving,  # type: ignore[arg-type]
        k,
        min(len(users), 64),
    )


def _list_frame(
    history: History, users: np.ndarray, items: np.ndarray, scores: np.ndarray
) -> pl.DataFrame:
    """``user_id, list, rank, item_id, score`` from ``_top_k``'s arrays (codes -> ids by
    position: ``History`` numbers users and items by row)."""
    user_ids, item_ids = history.users[USER_ID], history.items[ITEM_ID]
    k = items.shape[2]
    parts = []
    for lst, name in enumerate(LISTS):
        block = items[:, lst, :]
        kept = block >= 0
        parts.append(
            pl.DataFrame(
                {
                    USER_ID: user_ids.gather(np.broadcast_to(users[:, None], block.shape)[kept]),
                    "list": pl.repeat(name, int(kept.sum()), eager=True),
                    RANK: np.broadcast_to(np.arange(1, k + 1), block.shape)[kept],
                    ITEM_ID: item_ids.gather(block[kept]),
                    "score": scores[:, lst, :][kept].astype(np.float64),
                }
            )
        )
    return pl.concat(parts)


_FILL_MAX = 2e-4  # the highest score a fallback item gets (below any learned probability)


def recommend_lists(
    fitted: FittedRecommender,
    user_ids: pl.Series | None = None,
    *,
    k: int = 10,
    per_model: int | None = None,
    fallback: pl.DataFrame | None = None,
    chunk_users: int = 20_000,
) -> pl.DataFrame:
    """``user_id, list, rank, item_id, score`` for every user (default: everyone in history).

    ``score`` is the blend's probability of purchase within the horizon. Users without history,
    and lists shorter than ``k``, are filled from the recent best sellers (``fallback``, when
    given, holds ``user_id, item_id, score`` per user, e.g. their segment's best sellers).
    """
    h = fitted.history
    ids = (
        h.users[USER_ID]
        if user_ids is None
        else user_ids.cast(pl.String).unique(maintain_order=True)
    )
    codes = h.codes(ids)
    known = np.unique(codes[codes >= 0])
    items, scores = _ranked(fitted, known, k, per_model or fitted.per_model, chunk_users)
    # only users with a short list, or a weak k-th item, can gain from the fallback items
    last = [(items[:, lst, -1] >= 0) & (scores[:, lst, -1] >= _FILL_MAX) for lst in (0, 2)]
    full = last[0] & last[1]
    done = _list_frame(h, known[full], items[full], scores[full])
    todo = ids.filter(~ids.is_in(h.users[USER_ID].gather(known[full]).implode()))
    if todo.len() == 0:
        return done
    rest = _list_frame(h, known[~full], items[~full], scores[~full])
    cols = [USER_ID, "list", RANK, ITEM_ID, "score"]
    return pl.concat([done, _top_up(rest, todo, fitted, k, fallback).select(cols)])


def _top_up(
    served: pl.DataFrame,
    ids: pl.Series,
    fitted: FittedRecommender,
    k: int,
    fallback: pl.DataFrame | None,
) -> pl.DataFrame:
    """Fill the combined and new lists up to ``k`` with fallback items the user lacks."""
    pop = fitted.popular(k * 2)
    names = fitted.history.items[ITEM_ID].to_numpy()
    pop_frame = pl.DataFrame({ITEM_ID: names[pop], "score": np.linspace(1e-4, 1e-5, len(pop))})
    fill = pl.DataFrame({USER_ID: ids}).join(pop_frame, how="cross")
    if fallback is not None and fallback.height:
        seg = fallback.select(
            USER_ID, ITEM_ID, (1e-4 + 1e-4 * pl.col("score").clip(0, 1)).alias("score")
        )
        fill = pl.concat([seg.join(pl.DataFrame({USER_ID: ids}), on=USER_ID, how="semi"), fill])
    codes = fitted.history.codes(ids)
    bought = fitted.history.frame.filter(
        pl.col("buy") & pl.col("u").is_in(pl.Series(codes[codes >= 0]).implode())
    )
    bought = (
        bought.select("u", "i")
        .unique()
        .join(fitted.history.users, on="u")
        .join(fitted.history.items.select("i", ITEM_ID), on="i")
    )
    out = [served.filter(pl.col("list") == "buy_again")]
    for name in ("combined", "new"):
        have = served.filter(pl.col("list") == name)
        extra = fill.join(have, on=[USER_ID, ITEM_ID], how="anti")
        if name == "new":
            extra = extra.join(bought.select(USER_ID, ITEM_ID), on=[USER_ID, ITEM_ID], how="anti")
        merged = pl.concat(
            [have.select(USER_ID, ITEM_ID, "score"), extra.select(USER_ID, ITEM_ID, "score")]
        )
        merged = (
            merged.unique([USER_ID, ITEM_ID], keep="first", maintain_order=True)
            .sort([USER_ID, "score"], descending=[False, True], maintain_order=True)
            .group_by(USER_ID, maintain_order=True)
            .head(k)
            .with_columns(
                pl.int_range(1, pl.len() + 1).over(USER_ID).alias(RANK), pl.lit(name).alias("list")
            )
        )
        out.append(merged)
    return pl.concat([o.select(USER_ID, "list", RANK, ITEM_ID, "score") for o in out])


# --- evaluation -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """Every model scored on the same split.

    ``table``: ``model, label, task`` (``all``: every purchase of the users who bought before
    and after the cutoff; ``new``: only their first-time purchases), then the metrics.
    ``chosen`` is the model with the best NDCG@K on ``all``; ``baseline`` is ``popularity``.
    """

    table: pl.DataFrame
    chosen: str
    cutoff: datetime
    horizon_days: float
    k: int
    users: dict[str, int]
    seconds: dict[str, float]
    device: str

    def metrics(self, model: str, task: str = "all") -> dict[str, float]:
        row = self.table.filter((pl.col("model") == model) & (pl.col("task") == task))
        return row.drop("model", "label", "task").to_dicts()[0] if row.height else {}

    def lift(self, model: str, over: str = "popularity", task: str = "all") -> float | None:
        """NDCG ratio of ``model`` over ``over`` (None when the peer scores 0)."""
        a, b = self.metrics(model, task).get("ndcg"), self.metrics(over, task).get("ndcg")
        return None if not a or not b else a / b

    def summary(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "chosen_label": MODEL_LABELS.get(self.chosen, self.chosen),
            "cutoff": self.cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "k": self.k,
            "users": self.users,
            "lift_over_popularity": self.lift(self.chosen),
            "lift_over_own_most_bought": self.lift(self.chosen, "own_most_bought"),
            "device": self.device,
            "seconds": self.seconds,
            "table": self.table.to_dicts(),
        }


def _lists_from_codes(users: np.ndarray, items: np.ndarray, history: History) -> pl.DataFrame:
    k = items.shape[1]
    frame = pl.DataFrame(
        {
            "u": np.repeat(users, k),
            RANK: np.tile(np.arange(1, k + 1), len(users)),
            "i": items.ravel(),
        }
    ).filter(pl.col("i") >= 0)
    return (
        frame.join(history.users, on="u")
        .join(history.items.select("i", ITEM_ID), on="i")
        .select(USER_ID, RANK, ITEM_ID)
    )


def _single_model_lists(
    fitted: FittedRecommender, users: np.ndarray, k: int, seq: Any | None
) -> dict[str, dict[str, pl.DataFrame]]:
    """``{model: {task: recs}}``: new-task lists skip the user's own purchases."""
    h, m = fitted.history, fitted.models
    bought = h.bought()
    scorers: dict[str, Any] = {
        "popularity": m.popularity,
        "own_most_bought": OwnMostBoughtRecommender().fit(h),
        "buy_again": m.buy_again,
        "knn": m.knn,
        "ease": m.ease,
        "als": m.als,
    }
    if seq is not None:
        scorers["sasrec"] = seq
    out: dict[str, dict[str, pl.DataFrame]] = {}
    for name, model in scorers.items():
        # the peer and the popularity baseline stay as defined; our models skip items off sale
        allowed = None if name in ("popularity", "own_most_bought") else fitted.allowed
        lists = {}
        for task, exclude in (("all", None), ("new", bought)):
            if task == "new" and name in ("own_most_bought", "buy_again"):
                continue
            items, _ = top_n(
                model.score, users, k, n_items=h.n_items, exclude=exclude, allowed=allowed
            )
            lists[task] = _lists_from_codes(users, items, h)
        out[name] = lists
    return out


def evaluate_recommenders(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime | date | None = None,
    cfg: RecommendConfig = RecommendConfig(),
    *,
    progress: Progress = no_progress,
) -> tuple[Evaluation, FittedRecommender]:
    """Fit everything at ``cutoff`` and score it on the purchases of the next horizon.

    Without a cutoff, the evaluation cutoff is one horizon before the end of the data. Returns
    the evaluation and the recommender fitted at the evaluation cutoff.
    """
    started = time.monotonic()
    last = default_cutoff(events)
    first_history = build_history(events, last)
    horizon = resolve_horizon(first_history.span_days(), cfg.horizon_days)
    end = to_utc(cutoff) if cutoff is not None else last - timedelta(days=horizon)
    fitted = fit_recommender(
        events, end, cfg, horizon_days=horizon, progress=scaled(progress, 0.0, 0.6)
    )
    h = fitted.history
    truth_all = purchases_between(events, end, end + timedelta(days=horizon))
    prior = h.frame.select("u").unique().join(h.users, on="u")
    truth_all = truth_all.join(prior.select(USER_ID), on=USER_ID, how="semi")
    if truth_all.height == 0:
        raise NotEnoughData(
            "Nobody with a history before the cutoff bought anything in the "
            f"{horizon:.0f} days after it, so recommendations cannot be checked. Pick an "
            "earlier cutoff or a longer horizon."
        )
    owned = h.frame.filter(pl.col("buy")).select("u", "i").unique().join(h.users, on="u")
    owned = owned.join(h.items.select("i", ITEM_ID), on="i").select(USER_ID, ITEM_ID)
    truth_new = truth_all.join(owned, on=[USER_ID, ITEM_ID], how="anti")
    users = np.unique(h.codes(truth_all[USER_ID]))
    seq, device = None, "CPU"
    if cfg.sequential:
        progress(0.6, "Training the self-attentive sequence model")
        from models.recommend.sasrec import SelfAttentiveRecommender

        seq = SelfAttentiveRecommender(
            max_len=cfg.seq_max_len,
            epochs=cfg.seq_epochs,
            max_seconds=cfg.seq_max_seconds,
            device=cfg.device,
            seed=cfg.seed,
        ).fit(h)
        device = seq.report_.device
    progress(0.8, "Scoring every model on the held-out window")
    lists = _single_model_lists(fitted, users, cfg.k, seq)
    served = recommend_lists(
        fitted, h.users.filter(pl.col("u").is_in(pl.Series(users).implode()))[USER_ID], k=cfg.k
    )
    lists["blend"] = {
        "all": served.filter(pl.col("list") == "combined"),
        "new": served.filter(pl.col("list") == "new"),
    }
    pop = pl.DataFrame(
        {ITEM_ID: h.items[ITEM_ID], "popularity": fitted.models.popularity.popularity_}
    )
    n_items = int(fitted.allowed.sum())
    rows = []
    for name, tasks in lists.items():
        for task, recs in tasks.items():
            truth = truth_all if task == "all" else truth_new
            metrics = evaluate_ranking(recs, truth, k=cfg.k, n_items=n_items, item_popularity=pop)
            rows.append({"model": name, "label": MODEL_LABELS[name], "task": task, **metrics})
    table = pl.DataFrame(rows)
    best = table.filter(pl.col("task") == "all").sort("ndcg", descending=True)["model"][0]
    seconds = dict(fitted.seconds)
    if seq is not None:
        seconds["sasrec"] = seq.report_.seconds
    seconds["evaluation_total"] = time.monotonic() - started
    progress(1.0, "Evaluation done")
    return (
        Evaluation(
            table=table,
            chosen=best,
            cutoff=end,
            horizon_days=horizon,
            k=cfg.k,
            users={"all": truth_all[USER_ID].n_unique(), "new": truth_new[USER_ID].n_unique()},
            seconds=seconds,
            device=device,
        ),
        fitted,
    )


# --- item and segment views ---------------------------------------------------------------
def similar_items(fitted: FittedRecommender, item_id: str, n: int = 10) -> pl.DataFrame:
    """ "Customers who bought this also bought": ``item_id, similarity, together`` (co-buyers)."""
    items = fitted.history.items
    code = items.filter(pl.col(ITEM_ID) == str(item_id))["i"]
    if code.len() == 0:
        return pl.DataFrame(
            schema={ITEM_ID: pl.String, "similarity": pl.Float32, "together": pl.Float32}
        )
    i = int(code[0])
    knn = fitted.models.knn
    codes, sims = knn.similar(i, n)
    together = (
        np.asarray(knn.cooccurrence_[i, codes].todense()).ravel() if len(codes) else np.zeros(0)
    )
    return pl.DataFrame(
        {
            ITEM_ID: items[ITEM_ID].to_numpy()[codes],
            "similarity": sims,
            "together": together.astype(np.float32),
        }
    )


def segment_top_items(
    fitted: FittedRecommender, segments: pl.DataFrame, k: int = 10, segment_col: str = "segment"
) -> pl.DataFrame:
    """Recent best sellers per segment: ``segment, rank, item_id, buyers, score``.

    ``score`` is the share of the segment's members who bought the item (0..1).
    """
    h = fitted.history
    window = fitted.models.popularity.window_days
    buys = h.frame.filter(pl.col("buy") & (pl.col("age") <= window))
    if buys.height == 0:
        buys = h.frame.filter(pl.col("age") <= window)
    members = segments.select(pl.col(USER_ID).cast(pl.String), pl.col(segment_col).alias("segment"))
    members = members.join(h.users, on=USER_ID)
    size = members.group_by("segment").agg(pl.len().alias("size"))
    allowed = pl.Series(np.flatnonzero(fitted.allowed))
    top = (
        buys.filter(pl.col("i").is_in(allowed.implode()))
        .join(members.select("u", "segment"), on="u")
        .group_by("segment", "i")
        .agg(pl.col("u").n_unique().alias("buyers"))
        .join(size, on="segment")
        .with_columns((pl.col("buyers") / pl.col("size")).alias("score"))
        .sort(["segment", "buyers", "i"], descending=[False, True, False])
        .group_by("segment", maintain_order=True)
        .head(k)
        .with_columns(pl.int_range(1, pl.len() + 1).over("segment").alias(RANK))
    )
    return top.join(h.items.select("i", ITEM_ID), on="i").select(
        "segment", RANK, ITEM_ID, "buyers", "score"
    )
