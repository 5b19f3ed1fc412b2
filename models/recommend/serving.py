"""Serve what the store shows: each customer's three lists (``recommend_lists``), "customers who
bought this also bought" (``similar_items``) and the recent best sellers per segment
(``segment_top_items``), all from a ``FittedRecommender``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from analytics.core.schema import ITEM_ID, USER_ID
from models.recommend.base import History, top_n
from models.recommend.blend import FEATURES, build_candidates, candidate_features
from models.recommend.fitting import FittedRecommender
from models.recommend.metrics import RANK

__all__ = [
    "LISTS",
    "recommend_lists",
    "segment_top_items",
    "similar_items",
    "similar_table",
    "single_model_lists",
]

LISTS = ("combined", "buy_again", "new")  # also the order of the kernels' list axis


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
    own_counts = np.diff(fitted.inputs.own_ptr)
    tables, trees = fitted.serving
    return serve_lists(  # type: ignore[no-any-return]
        users,
        fitted.inputs,
        max(min(per_model, fitted.history.n_items), 1),
        int(min(fitted.own_cap, own_counts.max(initial=0))),
        tables,
        trees,
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


def single_model_lists(fitted: FittedRecommender, chosen: str, k: int) -> pl.DataFrame | None:
    """Everyone's combined list from the single model ``chosen`` (``user_id, list, rank,
    item_id, score``), for when one beat the blend on the held-out window; None for the blend
    and the models that cannot serve alone."""
    m = fitted.models
    models: dict[str, Any] = {
        "popularity": m.popularity,
        "buy_again": m.buy_again,
        "knn": m.knn,
        "ease": m.ease,
        "als": m.als,
    }
    model = models.get(chosen)  # each has .score(users) -> (n_users, n_items)
    if model is None:
        return None
    h = fitted.history
    users = np.arange(h.n_users)
    items, scores = top_n(model.score, users, k, n_items=h.n_items, allowed=fitted.allowed)
    frame = pl.DataFrame(
        {
            "u": np.repeat(users, items.shape[1]),
            RANK: np.tile(np.arange(1, items.shape[1] + 1), len(users)),
            "i": items.ravel(),
            "score": scores.ravel().astype(np.float64),
        }
    ).filter(pl.col("i") >= 0)
    frame = frame.join(h.users, on="u").join(h.items.select("i", ITEM_ID), on="i")
    return frame.select(USER_ID, pl.lit("combined").alias("list"), RANK, ITEM_ID, "score")


def similar_table(fitted: FittedRecommender, n: int = 10) -> pl.DataFrame:
    """Top ``n`` neighbours of every item still on sale: ``item_id, rank, similar_item_id,
    similarity, together`` (co-buyers)."""
    sim = fitted.models.knn.similarity_.T.tocsr()
    co = fitted.models.knn.cooccurrence_
    names = fitted.history.items[ITEM_ID].to_numpy()
    rows: dict[str, list[Any]] = {
        ITEM_ID: [],
        RANK: [],
        "similar_item_id": [],
        "similarity": [],
        "together": [],
    }
    for i in np.flatnonzero(fitted.allowed):
        row = sim[i]
        keep = fitted.allowed[row.indices]
        idx, val = row.indices[keep], row.data[keep]
        order = np.argsort(-val, kind="stable")[:n]
        rows[ITEM_ID] += [names[i]] * len(order)
        rows[RANK] += list(range(1, len(order) + 1))
        rows["similar_item_id"] += list(names[idx[order]])
        rows["similarity"] += list(val[order].astype(float))
        rows["together"] += list(np.asarray(co[i, idx[order]].todense()).ravel().astype(float))
    return pl.DataFrame(
        rows,
        schema={
            ITEM_ID: pl.String,
            RANK: pl.Int64,
            "similar_item_id": pl.String,
            "similarity": pl.Float64,
            "together": pl.Float64,
        },
    )
