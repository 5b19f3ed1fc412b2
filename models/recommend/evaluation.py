"""Score every recommender on the same held-out window: the baselines (recent best sellers,
the customer's own most-bought items), each base model, the sequence model and the blend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import ITEM_ID, USER_ID
from analytics.core.timing import Stopwatch
from analytics.features.user_features import default_cutoff, to_utc
from models.recommend.base import History, OwnMostBoughtRecommender, build_history, top_n
from models.recommend.fitting import (
    FittedRecommender,
    RecommendConfig,
    fit_recommender,
    purchases_between,
    resolve_horizon,
)
from models.recommend.metrics import RANK, evaluate_ranking
from models.recommend.serving import recommend_lists

__all__ = ["MODEL_LABELS", "Evaluation", "evaluate_recommenders"]

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


@dataclass(frozen=True)
class _HeldOut:
    """The purchases an evaluation scores against: ``all`` of the users who bought both
    before and after the cutoff (``user_id, item_id``), ``new`` only their first-time
    purchases, ``users`` their codes (sorted)."""

    all: pl.DataFrame
    new: pl.DataFrame
    users: np.ndarray


def _held_out(
    events: pl.LazyFrame | pl.DataFrame, fitted: FittedRecommender, horizon: float
) -> _HeldOut:
    h, end = fitted.history, fitted.cutoff
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
    return _HeldOut(truth_all, truth_new, np.unique(h.codes(truth_all[USER_ID])))


def _sequence_model(history: History, cfg: RecommendConfig) -> Any:
    """The self-attentive sequence model (it only enters the comparison table)."""
    from models.recommend.sasrec import SelfAttentiveRecommender

    return SelfAttentiveRecommender(
        max_len=cfg.seq_max_len,
        epochs=cfg.seq_epochs,
        max_seconds=cfg.seq_max_seconds,
        device=cfg.device,
        seed=cfg.seed,
    ).fit(history)


def _blend_lists(fitted: FittedRecommender, users: np.ndarray, k: int) -> dict[str, pl.DataFrame]:
    """The served combined (task ``all``) and new-for-you (task ``new``) lists of ``users``."""
    h = fitted.history
    ids = h.users.filter(pl.col("u").is_in(pl.Series(users).implode()))[USER_ID]
    served = recommend_lists(fitted, ids, k=k)
    return {
        "all": served.filter(pl.col("list") == "combined"),
        "new": served.filter(pl.col("list") == "new"),
    }


def _score_table(
    lists: dict[str, dict[str, pl.DataFrame]], held: _HeldOut, fitted: FittedRecommender, k: int
) -> pl.DataFrame:
    """``model, label, task`` and the ranking metrics of every model's lists."""
    h = fitted.history
    pop = pl.DataFrame(
        {ITEM_ID: h.items[ITEM_ID], "popularity": fitted.models.popularity.popularity_}
    )
    n_items = int(fitted.allowed.sum())
    rows = []
    for name, tasks in lists.items():
        for task, recs in tasks.items():
            truth = held.all if task == "all" else held.new
            metrics = evaluate_ranking(recs, truth, k=k, n_items=n_items, item_popularity=pop)
            rows.append({"model": name, "label": MODEL_LABELS[name], "task": task, **metrics})
    return pl.DataFrame(rows)


def evaluate_recommenders(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime | date | None = None,
    cfg: RecommendConfig | None = None,
    *,
    progress: Progress = no_progress,
) -> tuple[Evaluation, FittedRecommender]:
    """Fit everything at ``cutoff`` and score it on the purchases of the next horizon.

    Without a cutoff, the evaluation cutoff is one horizon before the end of the data (``cfg``
    defaults to ``RecommendConfig()``). Returns the evaluation and the recommender fitted at
    the evaluation cutoff.
    """
    cfg = cfg or RecommendConfig()
    timer = Stopwatch()
    last = default_cutoff(events)
    horizon = resolve_horizon(build_history(events, last).span_days(), cfg.horizon_days)
    end = to_utc(cutoff) if cutoff is not None else last - timedelta(days=horizon)
    fitted = fit_recommender(
        events, end, cfg, horizon_days=horizon, progress=scaled(progress, 0.0, 0.6)
    )
    held = _held_out(events, fitted, horizon)
    seq = None
    if cfg.sequential:
        progress(0.6, "Training the self-attentive sequence model")
        seq = _sequence_model(fitted.history, cfg)
    progress(0.8, "Scoring every model on the held-out window")
    lists = _single_model_lists(fitted, held.users, cfg.k, seq)
    lists["blend"] = _blend_lists(fitted, held.users, cfg.k)
    table = _score_table(lists, held, fitted, cfg.k)
    best = table.filter(pl.col("task") == "all").sort("ndcg", descending=True)["model"][0]
    seconds = dict(fitted.seconds)
    if seq is not None:
        seconds["sasrec"] = seq.report_.seconds
    seconds["evaluation_total"] = timer.seconds
    progress(1.0, "Evaluation done")
    evaluation = Evaluation(
        table=table,
        chosen=best,
        cutoff=end,
        horizon_days=horizon,
        k=cfg.k,
        users={"all": held.all[USER_ID].n_unique(), "new": held.new[USER_ID].n_unique()},
        seconds=seconds,
        device="CPU" if seq is None else seq.report_.device,
    )
    return evaluation, fitted
