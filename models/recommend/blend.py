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

from models.recommend.base import (
    ALSRecommender,
    BuyAgainRecommender,
    EASERecommender,
    History,
    ItemKNNRecommender,
    PopularityRecommender,
    RecentItemKNN,
    repurchase_propensity,
)
from models.recommend.packed import BlendTables, BlendTrees, CandidateInputs

__all__ = [
    "BaseModels",
    "BlendRanker",
    "build_candidates",
    "candidate_features",
    "fit_base_models",
    "kernel_inputs",
    "serving_inputs",
]

_NEVER = 10_000.0  # "days since" for something that never happened
_SIGNALS = ("knn", "knn_recent", "ease", "als", "buy_again", "pop")
# the trending candidates count new buyers over this share of the horizon (a week of a
# quarter; chosen on Online Retail, see the decisions log)
TREND_WINDOW = 1.0 / 13.0


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
    trending: PopularityRecommender  # new buyers per item: a candidate source, not a signal

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
        trending=PopularityRecommender(
            window_days=horizon_days * TREND_WINDOW, first_time=True
        ).fit(history),
    )


def build_candidates(
    models: BaseModels,
    users: np.ndarray,
    *,
    allowed: np.ndarray,
    per_model: int = 10,
    own_cap: int = 100,
    chunk_cells: int = 8_000_000,
    inputs: CandidateInputs | None = None,
) -> pl.DataFrame:
    """``u, i`` plus every model's score for each candidate of ``users`` (user codes).

    Candidates: the user's own interacted items (at most ``own_cap``, most recent first), and the
    ``per_model`` best new items of kNN, recent kNN, ALS, recent popularity and trending (the
    most new buyers lately; a source only: as a feature it lowered Online Retail's new-item
    NDCG). EASE is a feature only: its best items as candidates lowered Online Retail's NDCG.
    Only ``allowed`` items (seen in the recent window) are kept. One compiled pass per user
    (``kernels.block_candidates``) scores every item once per model, gathers each signal at the
    union and ranks the union on it. ``inputs`` (from ``kernel_inputs`` with the same
    ``allowed``) saves rebuilding the packed arrays on every call.
    """
    from models.recommend.kernels import block_candidates

    h = models.history
    n = h.n_items
    users = np.asarray(users, dtype=np.int64)
    take = max(min(per_model, n), 1)
    arrays = inputs if inputs is not None else kernel_inputs(models, allowed)
    own_counts = np.diff(arrays.own_ptr)
    step = max(1, chunk_cells // max(n, 1))
    out_u, out_i, out_s, out_r = [], [], [], []
    for start in range(0, len(users), step):
        block = users[start : start + step]
        counts, items, scores, ranks = block_candidates(
            block,
            arrays,
            take,
            # a cap above everyone's count changes nothing and keeps the padded output narrow
            int(min(own_cap, own_counts[block].max(initial=0))),
            min(len(block), 64),
        )
        mask = np.arange(items.shape[1])[None, :] < counts[:, None]
        out_u.append(np.repeat(block, counts))
        out_i.append(items[mask])
        out_s.append(scores[mask])
        out_r.append(ranks[mask])
    s = np.concatenate(out_s) if out_s else np.zeros((0, len(_SIGNALS)), dtype=np.float32)
    r = np.concatenate(out_r) if out_r else np.zeros((0, len(_SIGNALS)), dtype=np.float32)
    return pl.DataFrame(
        {
            "u": np.concatenate(out_u) if out_u else np.zeros(0, dtype=np.int64),
            "i": np.concatenate(out_i) if out_i else np.zeros(0, dtype=np.int64),
            **{f"s_{name}": s[:, k] for k, name in enumerate(_SIGNALS)},
            **{f"r_{name}": r[:, k] for k, name in enumerate(_SIGNALS)},
        }
    )


def _csr(m: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)`` of ``m`` as int64, int64, float32."""
    m = m.tocsr()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float32)


def _aligned(m: Any, like: Any) -> np.ndarray:
    """``m``'s values at ``like``'s stored entries, in ``like``'s CSR order (float32)."""
    rows = np.repeat(np.arange(like.shape[0]), np.diff(like.indptr))
    return np.asarray(m.tocsr()[rows, like.indices.copy()]).ravel().astype(np.float32)


def kernel_inputs(models: BaseModels, allowed: np.ndarray) -> CandidateInputs:
    """The packed arrays ``kernels.block_candidates`` and ``kernels.serve_lists`` read."""
    h = models.history
    own = h.last_touch()
    o_ptr = np.zeros(h.n_users + 1, dtype=np.int64)
    np.add.at(o_ptr, own["u"].to_numpy() + 1, 1)
    pop = models.popularity.popularity_
    order = np.argsort(-pop, kind="stable")
    trend = np.argsort(-models.trending.popularity_, kind="stable")
    x = models.knn.user_items_.tocsr()
    ease_pos = np.full(h.n_items, -1, dtype=np.int64)
    ease_pos[models.ease.items_] = np.arange(len(models.ease.items_))
    h_ptr, h_idx, h_val = _csr(x)
    s_ptr, s_idx, s_val = _csr(models.knn.similarity_)
    e_ptr, e_idx, e_val = _csr(models.ease.user_items_)
    a_ptr, a_idx, a_val = _csr(models.buy_again.matrix_)
    b_ptr, b_idx, _ = _csr(h.bought())
    return CandidateInputs(
        user_factors=np.ascontiguousarray(models.als.user_factors_, dtype=np.float32),
        item_factors_t=np.ascontiguousarray(models.als.item_factors_.T, dtype=np.float32),
        history_ptr=h_ptr,
        history_idx=h_idx,
        history_val=h_val,
        history_recent=_aligned(models.knn_recent.user_items_, x),
        sim_ptr=s_ptr,
        sim_idx=s_idx,
        sim_val=s_val,
        ease_ptr=e_ptr,
        ease_idx=e_idx,
        ease_val=e_val,
        ease_pos=ease_pos,
        ease_weights=np.ascontiguousarray(models.ease.weights_, dtype=np.float32),
        orders=np.stack([order[allowed[order]], trend[allowed[trend]]]).astype(np.int64),
        popularity=pop.astype(np.float32),
        again_ptr=a_ptr,
        again_idx=a_idx,
        again_val=a_val,
        bought_ptr=b_ptr,
        bought_idx=b_idx,
        own_ptr=np.cumsum(o_ptr),
        own_idx=own["i"].to_numpy().astype(np.int64),
        allowed=np.ascontiguousarray(allowed, dtype=np.bool_),
    )


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


_PAIR_COLS = (
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
)
# what a (user, item) pair without history gets: "never" for ages, 0 for counts, NaN (missing)
# for the gap ratio, which only exists from two purchases on
_PAIR_MISSING = {"p_last_buy": _NEVER, "p_first_buy": _NEVER, "p_last_any": _NEVER}
_ITEM_COLS = (
    "it_first",
    "it_last",
    "it_actors_h",
    "it_buyers_h",
    "it_buyers_q",
    "it_buyers_all",
    "it_repurchase",
    "it_trend",
)
_USER_COLS = ("us_baskets", "us_items", "us_last", "us_last_buy", "us_tenure", "us_events_h")
_UC_COLS = ("uc_share", "uc_buy_share")


@dataclass(frozen=True)
class FeatureTables:
    """The per-pair, per-item, per-user and per-(user, category) features of one history as
    arrays: pairs and (user, category) rows are looked up by sorted integer keys, items and
    users by code."""

    pair_keys: np.ndarray
    pairs: np.ndarray
    items: np.ndarray
    users: np.ndarray
    uc_keys: np.ndarray
    user_category: np.ndarray
    item_category: np.ndarray
    n_items: int
    n_categories: int


def _dense(frame: pl.DataFrame, key: str, size: int, cols: tuple[str, ...]) -> np.ndarray:
    out = np.zeros((size, len(cols)), dtype=np.float32)
    out[frame[key].to_numpy()] = frame.select(cols).cast(pl.Float32).to_numpy()
    return out


def _keyed(frame: pl.DataFrame, key: pl.Expr, cols: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    frame = frame.with_columns(key.alias("_key")).sort("_key")
    values = frame.select(cols).cast(pl.Float32).to_numpy()  # nulls come back as NaN
    return frame["_key"].to_numpy().astype(np.int64), np.ascontiguousarray(values)


def feature_tables(h: History, horizon: float) -> FeatureTables:
    """Everything ``candidate_features`` looks up, computed once per history."""
    n, n_cat = h.n_items, int(h.items["c"].to_numpy().max(initial=0)) + 1
    pair_keys, pairs = _keyed(
        _pair_features(h, horizon).collect(), pl.col("u") * n + pl.col("i"), _PAIR_COLS
    )
    uc_keys, uc = _keyed(_user_category_share(h), pl.col("u") * n_cat + pl.col("c"), _UC_COLS)
    cats = np.zeros(n, dtype=np.int64)
    cats[h.items["i"].to_numpy()] = h.items["c"].to_numpy()
    return FeatureTables(
        pair_keys=pair_keys,
        pairs=pairs,
        items=_dense(_item_features(h, horizon), "i", n, _ITEM_COLS),
        users=_dense(_user_features(h, horizon), "u", h.n_users, _USER_COLS),
        uc_keys=uc_keys,
        user_category=uc,
        item_category=cats,
        n_items=n,
        n_categories=n_cat,
    )


FEATURES = (
    "owned",
    *_PAIR_COLS,
    *_ITEM_COLS,
    *_USER_COLS,
    *_UC_COLS,
    *(f"s_{s}" for s in _SIGNALS),
    *(f"r_{s}" for s in _SIGNALS),
)


def serving_inputs(
    tables: FeatureTables, own: BlendRanker, new: BlendRanker
) -> tuple[BlendTables, BlendTrees]:
    """The feature tables and both blends' trees as ``kernels.serve_lists`` reads them.
    ``ValueError`` where a blend has splits the fused pass does not implement."""
    missing = np.array(
        [np.nan if c == "p_gap_ratio" else _PAIR_MISSING.get(c, 0.0) for c in _PAIR_COLS],
        dtype=np.float32,
    )
    a, b = own.trees(), new.trees()
    offset = len(a[0])
    shifted = np.where(b[0] >= 0, b[0] + (offset << 8), -1)  # the child moves, the column stays
    nodes = [np.concatenate(pair) for pair in ((a[0], shifted), (a[1], b[1]), (a[2], b[2]))]
    packed = BlendTables(
        pair_keys=tables.pair_keys,
        pairs=tables.pairs,
        pair_missing=missing,
        items=tables.items,
        users=tables.users,
        uc_keys=tables.uc_keys,
        user_category=np.ascontiguousarray(tables.user_category),
        item_category=tables.item_category,
        n_categories=tables.n_categories,
    )
    trees = BlendTrees(
        node=nodes[0], thr=nodes[1], value=nodes[2], roots_own=a[3], roots_new=b[3] + offset
    )
    return packed, trees


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Rows of ``values`` at ``wanted`` keys (``keys`` sorted); NaN rows where a key is absent."""
    out = np.full((len(wanted), values.shape[1]), np.nan, dtype=np.float32)
    if len(keys) == 0:
        return out
    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    hit = keys[pos] == wanted
    out[hit] = values[pos[hit]]
    return out


def candidate_features(cands: pl.DataFrame, tables: FeatureTables) -> np.ndarray:
    """The ``(len(cands), len(FEATURES))`` float32 model input of ``build_candidates``' rows."""
    u, i = cands["u"].to_numpy(), cands["i"].to_numpy()
    pairs = _lookup(tables.pair_keys, tables.pairs, u * tables.n_items + i)
    for k, name in enumerate(_PAIR_COLS):
        if name != "p_gap_ratio":
            pairs[:, k] = np.nan_to_num(pairs[:, k], nan=_PAIR_MISSING.get(name, 0.0))
    uc = _lookup(
        tables.uc_keys, tables.user_category, u * tables.n_categories + tables.item_category[i]
    )
    out = np.empty((len(u), len(FEATURES)), dtype=np.float32)
    out[:, 0] = pairs[:, 0] > 0  # owned: bought before
    col = 1
    for block in (pairs, tables.items[i], tables.users[u], np.nan_to_num(uc, nan=0.0)):
        out[:, col : col + block.shape[1]] = block
        col += block.shape[1]
    for signal in [f"s_{s}" for s in _SIGNALS] + [f"r_{s}" for s in _SIGNALS]:
        out[:, col] = cands[signal].to_numpy()
        col += 1
    return out


class BlendRanker:
    """LightGBM binary classifier over candidate features; ``predict_proba`` = P(buy in horizon)."""

    def __init__(
        self,
        *,
        rounds: int = 30,
        learning_rate: float = 0.2,
        leaves: int = 15,
        seed: int = 7,
        threads: int = 1,
    ):
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.leaves = leaves
        self.seed = seed
        self.threads = threads

    def fit(self, features: np.ndarray, label: np.ndarray) -> BlendRanker:
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
        data = lgb.Dataset(features, label=label, feature_name=list(FEATURES))
        self.booster_ = lgb.train(params, data, num_boost_round=self.rounds)
        self.positive_rate_ = float(np.mean(label)) if len(label) else 0.0
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0, dtype=np.float64)
        # scoring is embarrassingly parallel (unlike training, where threads fight): use every core
        return np.asarray(self.booster_.predict(features, num_threads=os.cpu_count() or 1))

    def trees(self) -> tuple[np.ndarray, ...]:
        """The booster as flat node arrays for ``kernels.serve_lists``: ``node``
        (``left child << 8 | column``, -1 at leaves; the right child follows the left one),
        ``threshold``, ``value`` (leaf output), and each tree's root node. The column is the
        feature's index plus ``len(FEATURES)`` times its NaN copy: 0 where NaN counts as 0
        (no missing type), 1 where NaN goes left (NaN as -inf), 2 where it goes right (+inf),
        as LightGBM decides. ``ValueError`` for splits the fused pass does not implement
        (categorical, zero-as-missing)."""
        cols: dict[str, list[Any]] = {c: [] for c in ("node", "thr", "value")}
        n_features = len(FEATURES)

        def slot() -> int:
            cols["node"].append(-1)
            cols["thr"].append(0.0)
            cols["value"].append(0.0)
            return len(cols["node"]) - 1

        def fill(at: int, node: dict[str, Any]) -> None:
            if "leaf_value" in node:
                cols["value"][at] = node["leaf_value"]
                return
            if node["decision_type"] != "<=" or node["missing_type"] not in ("None", "NaN"):
                raise ValueError("the fused pass handles numerical splits without zero-as-missing")
            copy = 0 if node["missing_type"] == "None" else (1 if node["default_left"] else 2)
            left, right = slot(), slot()  # adjacent: the right child is left + 1
            cols["node"][at] = left << 8 | (node["split_feature"] + copy * n_features)
            cols["thr"][at] = node["threshold"]
            fill(left, node["left_child"])
            fill(right, node["right_child"])

        roots = []
        for tree in self.booster_.dump_model()["tree_info"]:
            roots.append(slot())
            fill(roots[-1], tree["tree_structure"])
        return (
            np.asarray(cols["node"], dtype=np.int64),
            np.asarray(cols["thr"], dtype=np.float64),
            np.asarray(cols["value"], dtype=np.float64),
            np.asarray(roots, dtype=np.int64),
        )

    def importance(self) -> dict[str, float]:
        gain = self.booster_.feature_importance("gain")
        total = float(gain.sum()) or 1.0
        return {name: float(g) / total for name, g in zip(FEATURES, gain, strict=True)}
