"""The interaction history as integer-coded matrices, and the single-signal recommenders.

``History`` encodes every event up to a cutoff (users and items get dense integer codes) and
hands out sparse user x item matrices. Each recommender follows the scikit-learn contract
(keyword-only ``__init__`` that only stores parameters, ``fit(history)`` returning ``self``,
learned state ending in ``_``) and scores items with ``score(users) -> (len(users), n_items)``
float32, so one ``top_n`` serves them all. Times are UTC; ages are in days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

import numpy as np
import polars as pl
import scipy.sparse as sp

from analytics.core.errors import NotEnoughData
from analytics.core.schema import CATEGORY, EVENT_TIME, EVENT_TYPE, ITEM_ID, ORDER_ID, USER_ID
from analytics.features.user_features import history as history_until
from analytics.features.user_features import to_utc

__all__ = [
    "EVENT_WEIGHTS",
    "ALSRecommender",
    "BuyAgainRecommender",
    "EASERecommender",
    "History",
    "ItemKNNRecommender",
    "OwnMostBoughtRecommender",
    "PopularityRecommender",
    "build_history",
    "top_n",
]

# How strongly each action says "this user likes this item" (views are weak, purchases strong).
EVENT_WEIGHTS: dict[str, float] = {"view": 1.0, "fav": 2.0, "cart": 3.0, "purchase": 5.0}
_DAY_S = 86_400.0

Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class History:
    """Every interaction up to ``cutoff`` (UTC, inclusive), integer-coded.

    ``frame``: ``u, i, age`` (days before the cutoff), ``w`` (event weight), ``buy`` (bool),
    ``basket`` (order id, else the purchase day). ``users``: ``user_id, u``. ``items``:
    ``item_id, i, category, c`` (category code). Refunds and unknown event types are dropped.
    """

    frame: pl.DataFrame
    users: pl.DataFrame
    items: pl.DataFrame
    cutoff: datetime

    @property
    def n_users(self) -> int:
        return self.users.height

    @property
    def n_items(self) -> int:
        return self.items.height

    def matrix(self, *, buys_only: bool = False) -> sp.csr_matrix:
        """Users x items, summed event weights (or purchase-basket counts when ``buys_only``)."""
        frame = self.frame.filter(pl.col("buy")) if buys_only else self.frame
        if buys_only:
            frame = frame.unique(["u", "i", "basket"]).with_columns(w=pl.lit(1.0))
        return sp.csr_matrix(
            (frame["w"].to_numpy(), (frame["u"].to_numpy(), frame["i"].to_numpy())),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )

    def bought(self) -> sp.csr_matrix:
        """Users x items, 1 where the user bought the item before the cutoff (computed once;
        treat as read-only)."""
        return self._bought

    @cached_property
    def _bought(self) -> sp.csr_matrix:
        m = self.matrix(buys_only=True)
        m.data[:] = 1.0
        return m

    def last_touch(self) -> pl.DataFrame:
        """``u, i, age``: each user's items with the age of the latest event, sorted by user
        then most recent first (computed once; serving reads it for every user block)."""
        return self._last_touch

    @cached_property
    def _last_touch(self) -> pl.DataFrame:
        return self.frame.group_by("u", "i").agg(pl.col("age").min()).sort(["u", "age", "i"])

    def buyers(self) -> np.ndarray:
        """Distinct buyers per item over the whole history (any actor when nobody bought;
        computed once: popularity and trending both break ties on it)."""
        return self._buyers

    @cached_property
    def _buyers(self) -> np.ndarray:
        return _buyers_in(self, np.inf)

    def recent_items(self, days: float) -> np.ndarray:
        """Bool per item: any event in the last ``days`` days (the items still on sale)."""
        mask = np.zeros(self.n_items, dtype=bool)
        mask[self.frame.filter(pl.col("age") <= days)["i"].unique().to_numpy()] = True
        return mask

    def codes(self, user_ids: pl.Series) -> np.ndarray:
        """Codes of ``user_ids`` (-1 for users without history)."""
        frame = pl.DataFrame({USER_ID: user_ids.cast(pl.String)})
        return frame.join(self.users, on=USER_ID, how="left")["u"].fill_null(-1).to_numpy()

    def span_days(self) -> float:
        oldest = self.frame["age"].max()
        return float(oldest) if isinstance(oldest, int | float) else 0.0


def build_history(events: pl.LazyFrame | pl.DataFrame, cutoff: datetime | date) -> History:
    """Encode the events at or before ``cutoff``; ``NotEnoughData`` when there are none."""
    end = to_utc(cutoff)
    weights = pl.DataFrame({"t": list(EVENT_WEIGHTS), "w": list(EVENT_WEIGHTS.values())})
    raw = (
        history_until(events, end)
        .filter(pl.col(ITEM_ID).is_not_null())
        .select(
            pl.col(USER_ID).cast(pl.String),
            pl.col(ITEM_ID).cast(pl.String),
            pl.col(CATEGORY).cast(pl.String).fill_null("(none)"),
            pl.col(EVENT_TIME),
            pl.col(EVENT_TYPE).cast(pl.String).alias("t"),
            pl.col(ORDER_ID).cast(pl.String),
        )
        .join(weights.lazy(), on="t", how="inner")
        .collect()
    )
    if raw.height == 0:
        raise NotEnoughData(
            "There are no views, carts or purchases of products up to this date, so there is "
            "nothing to recommend from. Pick a later cutoff or a dataset with item ids."
        )
    users = raw.select(USER_ID).unique().sort(USER_ID).with_row_index("u")
    items = (
        raw.group_by(ITEM_ID)
        .agg(pl.col(CATEGORY).mode().first())
        .sort(ITEM_ID)
        .with_row_index("i")
        .with_columns(pl.col(CATEGORY).rank("dense").cast(pl.Int64).sub(1).alias("c"))
    )
    age = (pl.lit(end) - pl.col(EVENT_TIME)).dt.total_seconds(fractional=True) / _DAY_S
    frame = (
        raw.join(users, on=USER_ID)
        .join(items.select(ITEM_ID, "i"), on=ITEM_ID)
        .select(
            pl.col("u").cast(pl.Int64),
            pl.col("i").cast(pl.Int64),
            age.cast(pl.Float64).alias("age"),
            pl.col("w").cast(pl.Float32),
            (pl.col("t") == "purchase").alias("buy"),
            pl.coalesce(pl.col(ORDER_ID), pl.col(EVENT_TIME).dt.date().cast(pl.String)).alias(
                "basket"
            ),
        )
    )
    return History(
        frame=frame,
        users=users.select(USER_ID, pl.col("u").cast(pl.Int64)),
        items=items.select(ITEM_ID, pl.col("i").cast(pl.Int64), CATEGORY, "c"),
        cutoff=end,
    )


# --- top-N ----------------------------------------------------------------------------------
def top_n(
    score: Scorer,
    users: np.ndarray,
    n: int,
    *,
    n_items: int,
    exclude: sp.csr_matrix | None = None,
    allowed: np.ndarray | None = None,
    chunk_cells: int = 8_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best items per user: ``(items, scores)``, both ``(len(users), n)``.

    ``exclude`` (users x items, nonzero = skip, indexed by user code) and ``allowed`` (bool per
    item) filter; slots left empty hold item -1 and score -inf. Works in user chunks so the dense
    score block stays under ``chunk_cells`` cells.
    """
    n = max(min(n, n_items), 1)
    out_i = np.full((len(users), n), -1, dtype=np.int64)
    out_s = np.full((len(users), n), -np.inf, dtype=np.float32)
    step = max(1, chunk_cells // max(n_items, 1))
    for start in range(0, len(users), step):
        block = users[start : start + step]
        s = np.asarray(score(block), dtype=np.float32).copy()
        if allowed is not None:
            s[:, ~allowed] = -np.inf
        if exclude is not None:
            rows, cols = exclude[block].nonzero()
            s[rows, cols] = -np.inf
        part = np.argpartition(-s, n - 1, axis=1)[:, :n]
        part_s = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-part_s, axis=1, kind="stable")
        idx = np.take_along_axis(part, order, axis=1)
        sc = np.take_along_axis(part_s, order, axis=1)
        idx[~np.isfinite(sc)] = -1
        out_i[start : start + step] = idx
        out_s[start : start + step] = sc
    return out_i, out_s


# --- recommenders ---------------------------------------------------------------------------
def _buyers_in(history: History, days: float, *, first_time: bool = False) -> np.ndarray:
    """Distinct buyers per item in the last ``days`` days (any actor when nobody bought);
    ``first_time``: only those whose first purchase (or, without purchases, first event) of
    the item falls in that window."""
    recent = history.frame
    if first_time:
        buys = recent.filter(pl.col("buy"))
        recent = (
            (buys if buys.height else recent).group_by("u", "i").agg(pl.col("age", "buy").max())
        )
    recent = recent.filter(pl.col("age") <= days)
    if recent.filter(pl.col("buy")).height > 0:
        recent = recent.filter(pl.col("buy"))
    counts = recent.group_by("i").agg(pl.col("u").n_unique().alias("n"))
    out = np.zeros(history.n_items, dtype=np.float32)
    out[counts["i"].to_numpy()] = counts["n"].to_numpy()
    return out


class PopularityRecommender:
    """Recent best sellers: distinct buyers per item over the last ``window_days`` days.

    ``first_time=True`` counts only new buyers (first purchase of the item in the window): the
    items customers are taking up now, such as a new season's lines, rather than the staples
    they keep re-ordering."""

    def __init__(self, *, window_days: float = 30.0, first_time: bool = False) -> None:
        self.window_days = window_days
        self.first_time = first_time

    def fit(self, history: History) -> PopularityRecommender:
        counts = _buyers_in(history, self.window_days, first_time=self.first_time)
        # a tiny all-time term breaks ties between items with equal recent sales
        self.popularity_ = counts + 1e-3 * history.buyers() / (counts.max() + 1)
        self.category_ = history.items["c"].to_numpy()
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), len(self.popularity_)))

    def top_in_category(self, category_code: int, n: int) -> np.ndarray:
        """The ``n`` best sellers of one category (item codes)."""
        items = np.flatnonzero(self.category_ == category_code)
        return items[np.argsort(-self.popularity_[items], kind="stable")[:n]]


class OwnMostBoughtRecommender:
    """The user's own items by number of purchase lines, newest first on ties (the peer)."""

    def fit(self, history: History) -> OwnMostBoughtRecommender:
        buys = history.frame.filter(pl.col("buy"))
        counts = buys.group_by("u", "i").agg(pl.len().alias("n"), pl.col("age").min())
        value = counts["n"].to_numpy() + 1.0 / (2.0 + counts["age"].to_numpy())
        self.matrix_ = sp.csr_matrix(
            (value, (counts["u"].to_numpy(), counts["i"].to_numpy())),
            shape=(history.n_users, history.n_items),
            dtype=np.float32,
        )
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        s = self.matrix_[users].toarray()
        s[s == 0] = -np.inf
        return s


class BuyAgainRecommender:
    """Repeat-purchase score: the user's purchase days of an item, each decayed by its age
    (half-life ``half_life_days``), times the item's repurchase propensity (smoothed share of
    its buyers who bought it on two or more days)."""

    def __init__(self, *, half_life_days: float = 60.0, prior: float = 2.0) -> None:
        self.half_life_days = half_life_days
        self.prior = prior

    def fit(self, history: History) -> BuyAgainRecommender:
        days = (
            history.frame.filter(pl.col("buy"))
            .group_by("u", "i", "basket")
            .agg(pl.col("age").min())
        )
        decay = np.log(2) / self.half_life_days
        pairs = days.group_by("u", "i").agg(
            (-decay * pl.col("age")).exp().sum().alias("d"), pl.len().alias("n")
        )
        self.propensity_ = repurchase_propensity(pairs, history.n_items, self.prior)
        value = pairs["d"].to_numpy() * self.propensity_[pairs["i"].to_numpy()]
        self.matrix_ = sp.csr_matrix(
            (value + 1e-9, (pairs["u"].to_numpy(), pairs["i"].to_numpy())),
            shape=(history.n_users, history.n_items),
            dtype=np.float32,
        )
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        s = self.matrix_[users].toarray()
        s[s == 0] = -np.inf
        return s


def repurchase_propensity(pairs: pl.DataFrame, n_items: int, prior: float = 2.0) -> np.ndarray:
    """Per item: share of its buyers with 2+ purchase baskets, shrunk towards the overall share.

    ``pairs`` holds ``i`` and ``n`` (baskets per user and item).
    """
    per_item = pairs.group_by("i").agg(
        pl.len().alias("buyers"), (pl.col("n") >= 2).sum().alias("rep")
    )
    overall = float(per_item["rep"].sum()) / max(float(per_item["buyers"].sum()), 1.0)
    out = np.full(n_items, overall, dtype=np.float32)
    rate = (per_item["rep"] + prior * overall) / (per_item["buyers"] + prior)
    out[per_item["i"].to_numpy()] = rate.to_numpy()
    return out


def _keep_top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Zero all but the ``k`` largest entries of each row."""
    m = m.tocsr()
    m.sort_indices()
    data, indptr = m.data, m.indptr
    keep = np.ones(len(data), dtype=bool)
    for row in np.flatnonzero(np.diff(indptr) > k):
        lo, hi = indptr[row], indptr[row + 1]
        drop = np.argpartition(-data[lo:hi], k)[k:]
        keep[lo + drop] = False
    m.data = np.where(keep, data, 0.0).astype(np.float32)
    m.eliminate_zeros()
    return m


class ItemKNNRecommender:
    """Item-to-item cosine similarity on who interacted with what ("bought together").

    Each item keeps its ``neighbours`` most similar items; a user's score for an item is the sum
    of its similarity to every item in the user's history, weighted by log(1 + event weight).
    ``shrink`` damps similarities that rest on few shared users.
    """

    def __init__(self, *, neighbours: int = 100, shrink: float = 10.0) -> None:
        self.neighbours = neighbours
        self.shrink = shrink

    def fit(self, history: History) -> ItemKNNRecommender:
        x = history.matrix()
        x.data = np.log1p(x.data)
        self.user_items_ = x
        binary = x.copy()
        binary.data[:] = 1.0
        co = (binary.T @ binary).tocsr().astype(np.float32)
        co.setdiag(0)
        co.eliminate_zeros()
        support = co.copy()
        norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel()) + 1e-9
        co = sp.diags(1.0 / norms) @ co @ sp.diags(1.0 / norms)
        co = co.tocsr()
        co.data *= support.data / (support.data + self.shrink)
        self.similarity_ = _keep_top_k_per_row(co, self.neighbours).T.tocsr()
        self.cooccurrence_ = support
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return (self.user_items_[users] @ self.similarity_).toarray()

    def recent(self, history: History, half_life_days: float) -> RecentItemKNN:
        """The same similarities applied to a history decayed by age (the current interests)."""
        return RecentItemKNN(self.similarity_, history, half_life_days)

    def similar(self, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to ``item``: ``(codes, similarity)``."""
        row = self.similarity_.T.tocsr()[item]
        order = np.argsort(-row.data, kind="stable")[:n]
        return row.indices[order], row.data[order]


class RecentItemKNN:
    """Item-kNN scores from a history whose events fade with a ``half_life_days`` half-life."""

    def __init__(self, similarity: sp.csr_matrix, history: History, half_life_days: float):
        f = history.frame
        w = np.log1p(f["w"].to_numpy()) * np.exp(-np.log(2) * f["age"].to_numpy() / half_life_days)
        self.user_items_ = sp.csr_matrix(
            (w.astype(np.float32), (f["u"].to_numpy(), f["i"].to_numpy())),
            shape=(history.n_users, history.n_items),
        )
        self.similarity_ = similarity

    def score(self, users: np.ndarray) -> np.ndarray:
        return (self.user_items_[users] @ self.similarity_).toarray()


class EASERecommender:
    """EASE (Steck 2019): a closed-form item-item linear model with a zero diagonal.

    Only the ``max_items`` most interacted items get weights (the Gram matrix is dense); the
    others score 0. ``l2`` is the ridge penalty.
    """

    def __init__(self, *, l2: float = 200.0, max_items: int = 6_000) -> None:
        self.l2 = l2
        self.max_items = max_items

    def fit(self, history: History) -> EASERecommender:
        x = history.matrix()
        x.data = np.log1p(x.data)
        counts = np.asarray((x > 0).sum(axis=0)).ravel()
        keep = np.sort(np.argsort(-counts, kind="stable")[: self.max_items])
        xk = x[:, keep]
        gram = (xk.T @ xk).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)
        b[np.diag_indices_from(b)] = 0.0
        self.user_items_ = xk.tocsr()
        self.items_ = keep
        self.weights_ = b.astype(np.float32)
        self.n_items_ = history.n_items
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self.n_items_), dtype=np.float32)
        out[:, self.items_] = self.user_items_[users] @ self.weights_
        return out


class ALSRecommender:
    """Implicit-feedback matrix factorisation (``implicit``'s conjugate-gradient ALS).

    The confidence of a user-item pair is ``1 + alpha * log(1 + summed event weights)``, so a
    purchase (5) counts more than a cart (3), a favourite (2) or a view (1).
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        iterations: int = 15,
        regularization: float = 0.05,
        alpha: float = 10.0,
        seed: int = 7,
        threads: int = 0,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.seed = seed
        self.threads = threads

    def fit(self, history: History) -> ALSRecommender:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        x = history.matrix()
        x.data = np.log1p(x.data).astype(np.float32)
        with threadpool_limits(1, "blas"):  # implicit runs its own threads; nested BLAS ones thrash
            model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                alpha=self.alpha,
                random_state=self.seed,
                num_threads=self.threads,
            )
            model.fit(x, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T
