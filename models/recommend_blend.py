"""The learned blend: candidates from every recommender, one feature row per (user, item), and a
LightGBM classifier of "will this user buy this item within the horizon".

The classifier is fitted on a validation window (history up to ``cutoff - horizon``, labels in the
horizon after it) and outputs a probability, so the user's own items ("buy again") and items new
to the user ("new for you") get scores on one calibrated scale: the combined list is simply the
most probable items of both. Ages and windows are in days.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from models.recommend_base import (
    ALSRecommender,
    BuyAgainRecommender,
    EASERecommender,
    History,
    ItemKNNRecommender,
    PopularityRecommender,
    RecentItemKNN,
    repurchase_propensity,
)

__all__ = ["BaseModels", "BlendRanker", "build_candidates", "candidate_features", "fit_base_models"]

_NEVER = 10_000.0  # "days since" for something that never happened
_SIGNALS = ("knn", "knn_recent", "ease", "als", "buy_again", "pop")


@dataclass(frozen=True)
class BaseModels:
    """The single-signal recommenders fitted on one history."""

    history: History
    popularity: PopularityRecommender
    buy_again: BuyAgainRecommender
    knn: ItemKNNRecommender
    knn_recent: RecentItemKNN
    ease: EASERecommender
    als: ALSRecommender

    def scorers(self) -> dict[str, Any]:
        return {
            "knn": self.knn,
            "knn_recent": self.knn_recent,
            "ease": self.ease,
            "als": self.als,
            "buy_again": self.buy_again,
            "pop": self.popularity,
        }


def fit_base_models(
    history: History, *, horizon_days: float, seed: int = 7, als_factors: int = 64
) -> BaseModels:
    """Fit popularity, buy-again, item-kNN and ALS on ``history``."""
    knn = ItemKNNRecommender().fit(history)
    return BaseModels(
        history=history,
        popularity=PopularityRecommender(window_days=max(horizon_days / 3.0, 1.0)).fit(history),
        buy_again=BuyAgainRecommender(half_life_days=max(horizon_days * 0.66, 1.0)).fit(history),
        knn=knn,
        knn_recent=knn.recent(history, half_life_days=max(horizon_days / 6.0, 0.5)),
        ease=EASERecommender().fit(history),
        als=ALSRecommender(factors=als_factors, seed=seed).fit(history),
    )


def build_candidates(
    models: BaseModels,
    users: np.ndarray,
    *,
    allowed: np.ndarray,
    per_model: int = 40,
    own_cap: int = 100,
    chunk_cells: int = 8_000_000,
) -> pl.DataFrame:
    """``u, i`` plus every model's score for each candidate of ``users`` (user codes).

    Candidates: the user's own interacted items (at most ``own_cap``, most recent first), and the
    ``per_model`` best new items of kNN, recent kNN, EASE, ALS and recent popularity. Only
    ``allowed`` items (seen in the recent window) are kept. One pass per user block: each dense
    model scores the block once, and the same score matrix yields both its candidates and its
    feature at every candidate (no second scoring, no per-user loop).
    """
    h = models.history
    n = h.n_items
    users = np.asarray(users, dtype=np.int64)
    bought = h.bought()
    scorers = models.scorers()
    generators = ("knn", "knn_recent", "ease", "als", "pop")
    dense_kept = ("knn", "knn_recent", "ease")  # the rest are gathered cheaply per pair
    own = _own_items(h, users, own_cap)
    pos = np.full(h.n_users, -1, dtype=np.int64)
    pos[users] = np.arange(len(users))
    own_row = pos[own["u"].to_numpy()]
    own_item = own["i"].to_numpy()
    order = np.argsort(own_row, kind="stable")
    own_row, own_item = own_row[order], own_item[order]
    take = max(min(per_model, n), 1)
    step = max(1, chunk_cells // max(n * len(generators), 1))
    out_u, out_i = [], []
    feats: dict[str, list[np.ndarray]] = {f"s_{k}": [] for k in scorers}
    for start in range(0, len(users), step):
        block = users[start : start + step]
        rows_b = np.arange(len(block))
        excl_r, excl_c = bought[block].nonzero()
        lo, hi = np.searchsorted(own_row, [start, start + len(block)])
        keys = [(own_row[lo:hi] - start) * n + own_item[lo:hi]]
        kept = {}
        for name in generators:
            raw = np.asarray(scorers[name].score(block), dtype=np.float32)
            if name in dense_kept:
                kept[name] = raw
            s = raw.copy()
            s[:, ~allowed] = -np.inf
            s[excl_r, excl_c] = -np.inf
            part = np.argpartition(-s, take - 1, axis=1)[:, :take]
            ok = np.isfinite(np.take_along_axis(s, part, axis=1))
            keys.append((rows_b[:, None] * n + part)[ok])
        key = np.sort(np.concatenate(keys))  # sort + dedupe: cheaper than np.unique's hashing
        key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
        row, item = key // n, key % n
        keep = allowed[item]
        row, item = row[keep], item[keep]
        u = block[row]
        out_u.append(u)
        out_i.append(item)
        for name, model in scorers.items():
            v = kept[name][row, item] if name in kept else _pair_scores(model, u, item)
            feats[f"s_{name}"].append(np.where(np.isfinite(v), v, 0.0).astype(np.float32))
    cat = (lambda xs: np.concatenate(xs)) if out_u else (lambda xs: np.zeros(0))
    frame = pl.DataFrame(
        {
            "u": cat(out_u).astype(np.int64),
            "i": cat(out_i).astype(np.int64),
            **{k: cat(v).astype(np.float32) for k, v in feats.items()},
        }
    )
    return frame if np.all(np.diff(users) > 0) else frame.sort(["u", "i"])


def _own_items(h: History, users: np.ndarray, own_cap: int) -> pl.DataFrame:
    """``u, i``: each user's interacted items, most recent first, at most ``own_cap``."""
    return (
        h.last_touch()
        .filter(pl.col("u").is_in(pl.Series(users).implode()))
        .group_by("u", maintain_order=True)
        .head(own_cap)
        .select("u", "i")
    )


def _pair_scores(model: object, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``model.score`` at the pairs ``(u, i)`` for the models with a cheap per-pair form."""
    if len(u) == 0:
        return np.zeros(0, dtype=np.float32)
    if isinstance(model, ALSRecommender):
        return np.einsum("ij,ij->i", model.user_factors_[u], model.item_factors_[i])
    if isinstance(model, PopularityRecommender):
        return model.popularity_[i]
    if isinstance(model, BuyAgainRecommender):
        return np.asarray(model.matrix_[u, i]).ravel()
    raise TypeError(f"no per-pair score for {type(model).__name__}")


def _pair_features(h: History, horizon: float) -> pl.LazyFrame:
    f = h.frame.lazy()
    buy_days = f.filter(pl.col("buy")).group_by("u", "i", "basket").agg(pl.col("age").min())
    buys = buy_days.group_by("u", "i").agg(
        pl.len().alias("p_baskets"),
        pl.col("age").min().alias("p_last_buy"),
        pl.col("age").max().alias("p_first_buy"),
        (-pl.col("age") / horizon).exp().sum().alias("p_decay"),
    )
    acts = f.group_by("u", "i").agg(
        pl.col("age").min().alias("p_last_any"),
        (pl.col("w") == 1.0).sum().alias("p_views"),
        (pl.col("w") == 3.0).sum().alias("p_carts"),
        (pl.col("w") == 2.0).sum().alias("p_favs"),
        (pl.col("buy") & (pl.col("age") <= horizon)).sum().alias("p_buy_lines_h"),
        ((pl.col("age") <= horizon / 3) & ~pl.col("buy")).sum().alias("p_acts_recent"),
    )
    gap = (pl.col("p_first_buy") - pl.col("p_last_buy")) / (pl.col("p_baskets") - 1).clip(1)
    return acts.join(buys, on=["u", "i"], how="left").with_columns(
        pl.when(pl.col("p_baskets") >= 2)
        .then(pl.col("p_last_buy") / (gap + 1.0))
        .alias("p_gap_ratio")
    )


def _item_features(h: History, horizon: float) -> pl.DataFrame:
    f = h.frame.lazy()
    buys = f.filter(pl.col("buy"))
    per_pair = buys.group_by("u", "i").agg(pl.col("basket").n_unique().alias("n")).collect()
    items = (
        f.group_by("i")
        .agg(
            pl.col("age").max().alias("it_first"),
            pl.col("age").min().alias("it_last"),
            pl.col("u").filter(pl.col("age") <= horizon).n_unique().alias("it_actors_h"),
            pl.col("u")
            .filter(pl.col("buy") & (pl.col("age") <= horizon))
            .n_unique()
            .alias("it_buyers_h"),
            pl.col("u")
            .filter(pl.col("buy") & (pl.col("age") <= horizon / 4))
            .n_unique()
            .alias("it_buyers_q"),
            pl.col("u").filter(pl.col("buy")).n_unique().alias("it_buyers_all"),
        )
        .collect()
    )
    prop = repurchase_propensity(per_pair, h.n_items)
    return items.with_columns(
        pl.Series("it_repurchase", prop[items["i"].to_numpy()]),
        (pl.col("it_buyers_q") * 4 / (pl.col("it_buyers_h") + 1)).alias("it_trend"),
    )


def _user_features(h: History, horizon: float) -> pl.DataFrame:
    f = h.frame.lazy()
    users = f.group_by("u").agg(
        pl.col("basket").filter(pl.col("buy")).n_unique().alias("us_baskets"),
        pl.col("i").filter(pl.col("buy")).n_unique().alias("us_items"),
        pl.col("age").min().alias("us_last"),
        pl.col("age").filter(pl.col("buy")).min().fill_null(_NEVER).alias("us_last_buy"),
        pl.col("age").max().alias("us_tenure"),
        (pl.col("age") <= horizon).sum().alias("us_events_h"),
    )
    return users.collect()


def _user_category_share(h: History) -> pl.DataFrame:
    cats = h.items.select("i", "c")
    f = h.frame.join(cats, on="i")
    per = f.group_by("u", "c").agg(pl.len().alias("n"), pl.col("buy").sum().alias("nb"))
    return per.with_columns(
        (pl.col("n") / pl.col("n").sum().over("u")).alias("uc_share"),
        (pl.col("nb") / pl.col("nb").sum().over("u").clip(1)).alias("uc_buy_share"),
    ).select("u", "c", "uc_share", "uc_buy_share")


@dataclass(frozen=True)
class FeatureTables:
    """The per-pair, per-item, per-user and per-(user, category) tables of one history."""

    pairs: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    user_category: pl.DataFrame
    item_category: pl.DataFrame


def feature_tables(h: History, horizon: float) -> FeatureTables:
    """Everything ``candidate_features`` joins, computed once per history."""
    return FeatureTables(
        pairs=_pair_features(h, horizon).collect(),
        items=_item_features(h, horizon),
        users=_user_features(h, horizon),
        user_category=_user_category_share(h),
        item_category=h.items.select("i", "c"),
    )


FEATURES = (
    "owned",
    "p_baskets",
    "p_last_buy",
    "p_first_buy",
    "p_decay",
    "p_gap_ratio",
    "p_last_any",
    "p_views",
    "p_carts",
    "p_favs",
    "p_buy_lines_h",
    "p_acts_recent",
    "it_first",
    "it_last",
    "it_actors_h",
    "it_buyers_h",
    "it_buyers_q",
    "it_buyers_all",
    "it_repurchase",
    "it_trend",
    "us_baskets",
    "us_items",
    "us_last",
    "us_last_buy",
    "us_tenure",
    "us_events_h",
    "uc_share",
    "uc_buy_share",
    *(f"s_{s}" for s in _SIGNALS),
    *(f"r_{s}" for s in _SIGNALS),
)


def candidate_features(cands: pl.DataFrame, tables: FeatureTables) -> pl.DataFrame:
    """``cands`` joined with every feature; ``FEATURES`` lists the model's input columns."""
    ranks = [
        pl.col(f"s_{s}").rank("ordinal", descending=True).over("u").cast(pl.Float32).alias(f"r_{s}")
        for s in _SIGNALS
    ]
    return (
        cands.join(tables.pairs, on=["u", "i"], how="left")
        .join(tables.items, on="i", how="left")
        .join(tables.users, on="u", how="left")
        .join(tables.item_category, on="i", how="left")
        .join(tables.user_category, on=["u", "c"], how="left")
        .with_columns(
            pl.col("p_baskets").fill_null(0).alias("p_baskets"),
            (pl.col("p_baskets").fill_null(0) > 0).cast(pl.Float32).alias("owned"),
            *[pl.col(c).fill_null(_NEVER) for c in ("p_last_buy", "p_first_buy", "p_last_any")],
            *[
                pl.col(c).fill_null(0)
                for c in (
                    "p_decay",
                    "p_views",
                    "p_carts",
                    "p_favs",
                    "p_buy_lines_h",
                    "p_acts_recent",
                    "uc_share",
                    "uc_buy_share",
                )
            ],
            *ranks,
        )
    )


class BlendRanker:
    """LightGBM binary classifier over candidate features; ``predict_proba`` = P(buy in horizon)."""

    def __init__(
        self,
        *,
        rounds: int = 100,
        learning_rate: float = 0.1,
        leaves: int = 31,
        seed: int = 7,
        threads: int = 1,
    ):
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.leaves = leaves
        self.seed = seed
        self.threads = threads

    def fit(self, features: pl.DataFrame, label: np.ndarray) -> BlendRanker:
        import lightgbm as lgb

        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.leaves,
            "min_data_in_leaf": 50,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "num_threads": self.threads,
            "deterministic": True,
            "verbose": -1,
        }
        data = lgb.Dataset(_matrix(features), label=label, feature_name=list(FEATURES))
        self.booster_ = lgb.train(params, data, num_boost_round=self.rounds)
        self.positive_rate_ = float(np.mean(label)) if len(label) else 0.0
        return self

    def predict_proba(self, features: pl.DataFrame) -> np.ndarray:
        if features.height == 0:
            return np.zeros(0, dtype=np.float64)
        # scoring is embarrassingly parallel (unlike training, where threads fight): use every core
        return np.asarray(self.booster_.predict(_matrix(features), num_threads=os.cpu_count() or 1))

    def importance(self) -> dict[str, float]:
        gain = self.booster_.feature_importance("gain")
        total = float(gain.sum()) or 1.0
        return {name: float(g) / total for name, g in zip(FEATURES, gain, strict=True)}


def _matrix(features: pl.DataFrame) -> np.ndarray:
    return features.select([pl.col(c).cast(pl.Float32) for c in FEATURES]).to_numpy()
