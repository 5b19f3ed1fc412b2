"""Top-N ranking metrics of recommenders: Recall@K, NDCG@K, hit rate, catalogue coverage and
popularity bias. (Formerly ``ranking.py``; the predictors' metrics are ``models.predict.metrics``.)

Every function takes the recommendations as a frame ``user_id, rank, item_id`` (rank 1 = first)
and, where relevant, the truth as ``user_id, item_id`` (what each user went on to buy). Averages
run over the users in the truth: a user with no recommendations scores 0, recommendations for
users outside the truth are ignored. Relevance is binary and duplicates count once.
"""

from __future__ import annotations

import math

import polars as pl

from analytics.core.schema import ITEM_ID, USER_ID

__all__ = [
    "RANK",
    "catalogue_coverage",
    "evaluate_ranking",
    "hit_rate_at_k",
    "ndcg_at_k",
    "popularity_bias",
    "recall_at_k",
]

RANK = "rank"


def _hits(recs: pl.DataFrame, truth: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per truth user: ``n_rel`` (relevant items), ``hits``, ``dcg`` over the top ``k``."""
    rel = truth.select(USER_ID, ITEM_ID).unique()
    top = (
        recs.filter(pl.col(RANK) <= k)
        .select(USER_ID, ITEM_ID, RANK)
        .unique(subset=[USER_ID, ITEM_ID], keep="first")
    )
    hit = top.join(rel, on=[USER_ID, ITEM_ID], how="semi")
    per_user = hit.group_by(USER_ID).agg(
        pl.len().alias("hits"), (1.0 / (pl.col(RANK) + 1).log(2)).sum().alias("dcg")
    )
    return (
        rel.group_by(USER_ID)
        .agg(pl.len().alias("n_rel"))
        .join(per_user, on=USER_ID, how="left")
        .with_columns(pl.col("hits").fill_null(0), pl.col("dcg").fill_null(0.0))
    )


def _idcg(k: int) -> pl.Expr:
    """The ideal DCG of each user: min(#relevant, K) hits in the first places."""
    ideal = [sum((1.0 / math.log2(r + 1) for r in range(1, n + 1)), 0.0) for n in range(k + 1)]
    return pl.col("n_rel").clip(upper_bound=k).replace_strict(list(range(k + 1)), ideal)


def _mean(frame: pl.DataFrame, expr: pl.Expr) -> float:
    if frame.height == 0:
        return 0.0
    return float(frame.select(expr.mean()).item())


def ndcg_at_k(recs: pl.DataFrame, truth: pl.DataFrame, k: int = 10) -> float:
    """Mean NDCG@K with binary relevance; the ideal DCG places min(#relevant, K) hits first."""
    per_user = _hits(recs, truth, k)
    return _mean(per_user, pl.col("dcg") / _idcg(k))


def recall_at_k(recs: pl.DataFrame, truth: pl.DataFrame, k: int = 10) -> float:
    """Mean share of each user's relevant items found in the top K (hits / #relevant)."""
    return _mean(_hits(recs, truth, k), pl.col("hits") / pl.col("n_rel"))


def hit_rate_at_k(recs: pl.DataFrame, truth: pl.DataFrame, k: int = 10) -> float:
    """Share of users with at least one relevant item in their top K."""
    return _mean(_hits(recs, truth, k), (pl.col("hits") > 0).cast(pl.Float64))


def catalogue_coverage(recs: pl.DataFrame, n_items: int, k: int = 10) -> float:
    """Share of the catalogue (``n_items`` recommendable items) that appears in anyone's top K."""
    if n_items <= 0:
        return 0.0
    shown = recs.filter(pl.col(RANK) <= k).select(pl.col(ITEM_ID).n_unique()).item()
    return min(float(shown) / n_items, 1.0)


def popularity_bias(recs: pl.DataFrame, item_popularity: pl.DataFrame, k: int = 10) -> float:
    """Mean popularity percentile of the recommended items (1 = best seller, 0 = least sold).

    ``item_popularity`` has ``item_id, popularity`` (e.g. buyers in the training window); items
    missing from it count as the least popular. 0.5 is what random picks from the catalogue give.
    """
    pct = item_popularity.select(
        ITEM_ID, ((pl.col("popularity").rank("average") - 1) / (pl.len() - 1).clip(1)).alias("pct")
    )
    top = recs.filter(pl.col(RANK) <= k).join(pct, on=ITEM_ID, how="left")
    if top.height == 0:
        return 0.0
    return float(top.select(pl.col("pct").fill_null(0.0).mean()).item())


def evaluate_ranking(
    recs: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    k: int = 10,
    n_items: int,
    item_popularity: pl.DataFrame,
) -> dict[str, float]:
    """All five metrics in one dict (keys ``ndcg``, ``recall``, ``hit_rate``, ``coverage``,
    ``popularity_bias``); accuracy metrics average over the users in ``truth``."""
    per_user = _hits(recs, truth, k)
    served = recs.join(truth.select(USER_ID).unique(), on=USER_ID, how="semi")
    return {
        "ndcg": _mean(per_user, pl.col("dcg") / _idcg(k)),
        "recall": _mean(per_user, pl.col("hits") / pl.col("n_rel")),
        "hit_rate": _mean(per_user, (pl.col("hits") > 0).cast(pl.Float64)),
        "coverage": catalogue_coverage(served, n_items, k),
        "popularity_bias": popularity_bias(served, item_popularity, k),
        "users": float(per_user.height),
    }
