"""Compiled per-user loops for candidates and serving (numba, cached on disk).

Scoring every item for a user with scipy's sparse products and then selecting per model with
``argpartition`` costs ~200 us per user; ``_user_candidates`` does the same work in one pass per
user (accumulate the kNN, recent-kNN and EASE rows, select each model's best allowed items with a
small sorted buffer, gather every score at the union). ``block_candidates`` returns those rows
(the blends train on them); ``serve_lists`` goes on, in the same loop, to the blend features,
both blends' trees and the three top-k lists, so serving never materialises the candidate rows
(~130 us per user on one core, against ~270 us for rows -> feature matrix -> LightGBM).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["block_candidates", "serve_lists", "top_lists"]


@numba.njit(cache=True, inline="always")
def _insert(vals: np.ndarray, idx: np.ndarray, sizes: np.ndarray, b: int, v: float, i: int) -> None:
    """Insert ``(v, i)`` into buffer ``b``: ``vals[b, :sizes[b]]``, kept in descending order."""
    cap = vals.shape[1]
    size = sizes[b]
    if size == cap:
        if v <= vals[b, cap - 1]:
            return
        pos = cap - 1
    else:
        pos = size
        sizes[b] = size + 1
    while pos > 0 and vals[b, pos - 1] < v:
        vals[b, pos] = vals[b, pos - 1]
        idx[b, pos] = idx[b, pos - 1]
        pos -= 1
    vals[b, pos] = v
    idx[b, pos] = i


@numba.njit(cache=True)
def _work_buffers(n_items: int, n_ease: int, width: int, per_model: int) -> tuple[np.ndarray, ...]:
    """Per-thread scratch of ``_user_candidates`` (all clean between users)."""
    return (
        np.zeros(n_items, dtype=np.float32),  # knn
        np.zeros(n_items, dtype=np.float32),  # recent knn
        np.zeros(n_items, dtype=np.bool_),  # taken
        np.zeros(n_items, dtype=np.bool_),  # blocked (bought)
        np.zeros(n_items, dtype=np.float32),  # buy-again
        np.empty((3, per_model), dtype=np.float32),  # best values per generator
        np.empty((3, per_model), dtype=np.int64),  # their items
        np.zeros(3, dtype=np.int64),  # buffer sizes
        np.empty(width, dtype=np.int64),  # rank order scratch
        np.empty(n_ease, dtype=np.float32),  # EASE row over its kept items
    )


@numba.njit(cache=True, inline="always")
def _width(orders: np.ndarray, per_model: int, own_cap: int) -> int:
    """Candidates per user at most: the own items and the best of kNN, recent kNN, ALS and
    each fixed order (popularity, trending)."""
    return (3 + len(orders)) * per_model + own_cap


@numba.njit(cache=True, inline="always")
def _take_first(
    order: np.ndarray, n: int, blocked: np.ndarray, taken: np.ndarray, items: np.ndarray, m: int
) -> int:
    """Append the first ``n`` not-bought items of ``order`` that are not already in
    ``items[:m]``; returns the new count."""
    size = 0
    for i in order:
        if size == n:
            break
        if not blocked[i]:
            size += 1
            if not taken[i]:
                taken[i] = True
                items[m] = i
                m += 1
    return m


@numba.njit(cache=True, inline="always")  # a call per user costs as much as the work
def _user_candidates(
    u, als_row, x_ptr, x_idx, x_val, r_val, s_ptr, s_idx, s_val, e_ptr, e_idx, e_val, e_pos, e_w,
    orders, pop, a_ptr, a_idx, a_val, b_ptr, b_idx, o_ptr, o_idx, allowed, per_model, own_cap,
    work, items, scores, ranks,
):  # type: ignore[no-untyped-def]  # fmt: skip
    """One user's candidates into ``items``, ``scores``, ``ranks`` (rows of the block's
    outputs, see ``block_candidates``); returns how many."""
    knn, rec, taken, blocked, again, tv, ti, sizes, order, ease = work
    n_items = len(allowed)
    knn[:] = 0.0
    rec[:] = 0.0
    for p in range(x_ptr[u], x_ptr[u + 1]):
        j, w, wr = x_idx[p], x_val[p], r_val[p]
        for q in range(s_ptr[j], s_ptr[j + 1]):
            t, sv = s_idx[q], s_val[q]
            knn[t] += w * sv
            rec[t] += wr * sv
    # the EASE row: weight rows streamed from cache cost far less than gathering each
    # candidate's weights at the user's items (one cache miss per read)
    ease[:] = 0.0
    for p in range(e_ptr[u], e_ptr[u + 1]):
        j, w = e_idx[p], e_val[p]
        for t in range(len(ease)):
            ease[t] += w * e_w[j, t]
    for p in range(b_ptr[u], b_ptr[u + 1]):
        blocked[b_idx[p]] = True
    for p in range(a_ptr[u], a_ptr[u + 1]):
        again[a_idx[p]] = a_val[p]
    m = 0
    # the user's own items (most recent first), then each model's best new items
    for p in range(o_ptr[u], min(o_ptr[u + 1], o_ptr[u] + own_cap)):
        i = o_idx[p]
        if allowed[i] and not taken[i]:
            taken[i] = True
            items[m] = i
            m += 1
    sizes[:] = 0
    for i in range(n_items):
        if allowed[i] and not blocked[i]:
            _insert(tv, ti, sizes, 0, knn[i], i)
            _insert(tv, ti, sizes, 1, rec[i], i)
            _insert(tv, ti, sizes, 2, als_row[i], i)
    for model in range(3):
        for t in range(sizes[model]):
            i = ti[model, t]
            if not taken[i]:
                taken[i] = True
                items[m] = i
                m += 1
    for g in range(len(orders)):
        m = _take_first(orders[g], per_model, blocked, taken, items, m)
    for t in range(m):
        i = items[t]
        taken[i] = False
        scores[t, 0] = knn[i]
        scores[t, 1] = rec[i]
        k = e_pos[i]
        scores[t, 2] = ease[k] if k >= 0 else 0.0
        scores[t, 3] = als_row[i]
        scores[t, 4] = again[i]
        scores[t, 5] = pop[i]
    _rank_rows(scores, ranks, m, order)
    for p in range(b_ptr[u], b_ptr[u + 1]):
        blocked[b_idx[p]] = False
    for p in range(a_ptr[u], a_ptr[u + 1]):
        again[a_idx[p]] = 0.0
    return m


@numba.njit(cache=True, inline="always")
def _als_row(w: np.ndarray, ift: np.ndarray, out: np.ndarray) -> None:
    """One user's ALS scores: ``out = w @ ift`` (factor by factor, so the inner loop runs over
    contiguous items; the factors, ~0.5 MB, stay in cache across users)."""
    out[:] = 0.0
    for f in range(len(w)):
        wf = w[f]
        for i in range(len(out)):
            out[i] += wf * ift[f, i]


@numba.njit(cache=True, parallel=True, fastmath=False)
def block_candidates(
    users: np.ndarray,
    uf: np.ndarray,
    ift: np.ndarray,
    x_ptr: np.ndarray,
    x_idx: np.ndarray,
    x_val: np.ndarray,
    r_val: np.ndarray,
    s_ptr: np.ndarray,
    s_idx: np.ndarray,
    s_val: np.ndarray,
    e_ptr: np.ndarray,
    e_idx: np.ndarray,
    e_val: np.ndarray,
    e_pos: np.ndarray,
    e_w: np.ndarray,
    orders: np.ndarray,
    pop: np.ndarray,
    a_ptr: np.ndarray,
    a_idx: np.ndarray,
    a_val: np.ndarray,
    b_ptr: np.ndarray,
    b_idx: np.ndarray,
    o_ptr: np.ndarray,
    o_idx: np.ndarray,
    allowed: np.ndarray,
    per_model: int,
    own_cap: int,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of ``users`` (row ``r`` of the block is ``users[r]``).

    ``x``: CSR rows (indexed by user code) of the log-weighted history, ``r_val`` the
    recency-decayed history on the same entries; ``s``: item-to-item similarity CSR (row =
    source item); ``e``: the history over EASE's kept items, ``e_pos`` each item's place among
    them (-1: not kept), ``e_w`` EASE's weights (row = source item, over kept items); ``uf``,
    ``ift``: ALS user factors and the transposed item factors (row = factor); ``orders``:
    the allowed items best first by popularity (row 0) and by new buyers lately (row 1, a
    generator without a signal of its own); ``b``: bought items (never a generated
    candidate); ``o``: the user's own items, most recent first; ``pop`` and ``a`` (buy-again
    CSR) the last two signals. Returns ``counts`` (candidates per row), ``items``, ``scores``
    (``knn, knn_recent, ease, als, buy_again, pop`` at each candidate) and ``ranks`` (1 = the
    row's best candidate on that signal, ties by position), all padded to a fixed width.
    """
    n_items = len(allowed)
    width = _width(orders, per_model, own_cap)
    n = len(users)
    items = np.full((n, width), -1, dtype=np.int64)
    scores = np.zeros((n, width, 6), dtype=np.float32)
    ranks = np.zeros((n, width, 6), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    for c in numba.prange(n_chunks):
        work = _work_buffers(n_items, len(e_w), width, per_model)
        als_row = np.empty(n_items, dtype=np.float32)
        for row in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _als_row(uf[users[row]], ift, als_row)
            counts[row] = _user_candidates(
                users[row], als_row, x_ptr, x_idx, x_val, r_val, s_ptr, s_idx, s_val, e_ptr,
                e_idx, e_val, e_pos, e_w, orders, pop, a_ptr, a_idx, a_val, b_ptr, b_idx,
                o_ptr, o_idx, allowed, per_model, own_cap, work, items[row], scores[row],
                ranks[row],
            )  # fmt: skip
    return counts, items, scores, ranks


@numba.njit(cache=True)
def _rank_rows(scores: np.ndarray, ranks: np.ndarray, m: int, order: np.ndarray) -> None:
    """Ordinal descending rank of each of the first ``m`` rows, per column (ties by row): a
    stable insertion sort in ``order`` (no allocation; ``m`` is a few dozen)."""
    for col in range(scores.shape[1]):
        for r in range(m):
            v = scores[r, col]
            pos = r
            while pos > 0 and scores[order[pos - 1], col] < v:
                order[pos] = order[pos - 1]
                pos -= 1
            order[pos] = r
        for r in range(m):
            ranks[order[r], col] = r + 1


@numba.njit(cache=True)
def _better(s: float, i: int, s2: float, i2: int) -> bool:
    return s > s2 or (s == s2 and i < i2)


@numba.njit(cache=True, parallel=True)
def top_lists(
    starts: np.ndarray, items: np.ndarray, score: np.ndarray, owned: np.ndarray, k: int
) -> np.ndarray:
    """Rows of the ``k`` best candidates per user for each list (0 combined, 1 own items,
    2 new items): ``(n_users, 3, k)`` row indices, -1 where a list is short. Users' rows are
    contiguous, ``starts`` their first row (plus the end); best = highest score, ties by
    item code."""
    n = len(starts) - 1
    out = np.full((n, 3, k), -1, dtype=np.int64)
    for g in numba.prange(n):
        sizes = np.zeros(3, dtype=np.int64)
        for r in range(starts[g], starts[g + 1]):
            for lst in range(3):
                if (lst == 1 and not owned[r]) or (lst == 2 and owned[r]):
                    continue
                size = sizes[lst]
                if size == k and not _better(
                    score[r], items[r], score[out[g, lst, k - 1]], items[out[g, lst, k - 1]]
                ):
                    continue
                pos = size if size < k else k - 1
                if size < k:
                    sizes[lst] = size + 1
                while pos > 0:
                    prev = out[g, lst, pos - 1]
                    if not _better(score[r], items[r], score[prev], items[prev]):
                        break
                    out[g, lst, pos] = prev
                    pos -= 1
                out[g, lst, pos] = r
    return out


@numba.njit(cache=True)
def _find(keys: np.ndarray, lo: int, hi: int, key: int) -> int:
    """Position of ``key`` in the sorted ``keys[lo:hi]``, -1 when absent."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(keys) and keys[lo] == key else -1


@numba.njit(cache=True, inline="always")
def _raw_score(
    f: np.ndarray, t: int, roots: np.ndarray, node: np.ndarray, thr: np.ndarray, value: np.ndarray
) -> float:
    """The summed leaf values of the trees at ``roots`` for feature row ``f[t]``. A split node
    ``n`` packs ``node[n] = left child << 8 | column``: the row goes left when
    ``f[t, column] <= thr[n]``, else to the right child, stored next to the left one; a leaf
    has ``node`` -1. ``f`` holds each feature three times (NaN as 0, as -inf, as +inf), and
    the column names the copy that sends a NaN where LightGBM does, so no step tests for NaN
    (the loop is latency bound: three loads and a compare per step)."""
    raw = 0.0
    for root in roots:
        n = root
        x = node[n]
        while x >= 0:
            n = (x >> 8) + np.int64(f[t, x & 255] > thr[n])
            x = node[n]
        raw += value[n]
    return raw


@numba.njit(cache=True, inline="always")
def _put(f: np.ndarray, t: int, col: int, n_features: int, v: float | np.floating) -> None:
    """Feature ``col`` of row ``t`` in its three NaN encodings (see ``_raw_score``)."""
    if np.isnan(v):
        f[t, col] = 0.0
        f[t, col + n_features] = -np.inf
        f[t, col + 2 * n_features] = np.inf
    else:
        f[t, col] = v
        f[t, col + n_features] = v
        f[t, col + 2 * n_features] = v


@numba.njit(cache=True, inline="always")
def _push(best_s, best_i, sizes, lst, s, i, k):  # type: ignore[no-untyped-def]  # fmt: skip
    """Insert item ``i`` with score ``s`` into list ``lst`` (best first, ties by item code)."""
    size = sizes[lst]
    if size == k and not _better(s, i, best_s[lst, k - 1], best_i[lst, k - 1]):
        return
    pos = size if size < k else k - 1
    if size < k:
        sizes[lst] = size + 1
    while pos > 0 and _better(s, i, best_s[lst, pos - 1], best_i[lst, pos - 1]):
        best_s[lst, pos] = best_s[lst, pos - 1]
        best_i[lst, pos] = best_i[lst, pos - 1]
        pos -= 1
    best_s[lst, pos] = s
    best_i[lst, pos] = i


@numba.njit(cache=True, parallel=True)
def serve_lists(
    users, uf, ift, x_ptr, x_idx, x_val, r_val, s_ptr, s_idx, s_val, e_ptr, e_idx, e_val, e_pos,
    e_w, orders, pop, a_ptr, a_idx, a_val, b_ptr, b_idx, o_ptr, o_idx, allowed, per_model,
    own_cap, pair_keys, pairs, pair_missing, item_feats, user_feats, uc_keys, uc, item_cat,
    n_cat, node, thr, value, roots_own, roots_new, k, n_chunks,
):  # type: ignore[no-untyped-def]  # fmt: skip
    """Candidates, blend features and both blends' probabilities, then the three top-``k``
    lists (0 combined, 1 own items, 2 new items) of every user in one pass, without
    materialising the candidate rows: ``(items, scores)``, each ``(len(users), 3, k)``, item
    -1 where a list is short.

    Candidate inputs as in ``block_candidates``. Features in ``recommend_blend.FEATURES``
    order: owned, pair (``pairs`` rows at sorted keys ``u * n_items + i``; absent or NaN values
    become ``pair_missing``, itself NaN for features LightGBM should see as missing), item,
    user, (user, category) shares (keys ``u * n_cat + c``, absent = 0), the 6 signals and
    their 6 ranks. Trees: flat node arrays (see ``_raw_score``), ``roots_own`` the buy-again
    blend's trees (users' bought items), ``roots_new`` the new-item blend's.
    """
    n_items = len(allowed)
    width = _width(orders, per_model, own_cap)
    n = len(users)
    n_pair, n_item, n_user, n_uc = pairs.shape[1], item_feats.shape[1], user_feats.shape[1], 2
    base_s = 1 + n_pair + n_item + n_user + n_uc
    out_i = np.full((n, 3, k), -1, dtype=np.int64)
    out_s = np.zeros((n, 3, k), dtype=np.float64)
    for c in numba.prange(n_chunks):
        work = _work_buffers(n_items, len(e_w), width, per_model)
        items = np.empty(width, dtype=np.int64)
        scores = np.empty((width, 6), dtype=np.float32)
        ranks = np.empty((width, 6), dtype=np.float32)
        nf = base_s + 12
        f = np.empty((width, 3 * nf), dtype=np.float32)
        is_own = np.empty(width, dtype=np.bool_)
        best_s = np.empty((3, k), dtype=np.float64)
        best_i = np.empty((3, k), dtype=np.int64)
        sizes = np.zeros(3, dtype=np.int64)
        als_row = np.empty(n_items, dtype=np.float32)
        for row in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            u = users[row]
            _als_row(uf[u], ift, als_row)
            m = _user_candidates(
                u, als_row, x_ptr, x_idx, x_val, r_val, s_ptr, s_idx, s_val, e_ptr, e_idx,
                e_val, e_pos, e_w, orders, pop, a_ptr, a_idx, a_val, b_ptr, b_idx, o_ptr,
                o_idx, allowed, per_model, own_cap, work, items, scores, ranks,
            )  # fmt: skip
            p_lo = np.searchsorted(pair_keys, u * n_items)
            p_hi = np.searchsorted(pair_keys, (u + 1) * n_items)
            c_lo = np.searchsorted(uc_keys, u * n_cat)
            c_hi = np.searchsorted(uc_keys, (u + 1) * n_cat)
            sizes[:] = 0
            for t in range(m):
                i = items[t]
                at = _find(pair_keys, p_lo, p_hi, u * n_items + i)
                for col in range(n_pair):
                    v = pairs[at, col] if at >= 0 else np.float32(np.nan)
                    _put(f, t, 1 + col, nf, pair_missing[col] if np.isnan(v) else v)
                is_own[t] = f[t, 1] > 0
                _put(f, t, 0, nf, 1.0 if is_own[t] else 0.0)
                for col in range(n_item):
                    _put(f, t, 1 + n_pair + col, nf, item_feats[i, col])
                for col in range(n_user):
                    _put(f, t, 1 + n_pair + n_item + col, nf, user_feats[u, col])
                at = _find(uc_keys, c_lo, c_hi, u * n_cat + item_cat[i])
                for col in range(n_uc):
                    v = uc[at, col] if at >= 0 else np.float32(0.0)
                    _put(f, t, 1 + n_pair + n_item + n_user + col, nf, 0.0 if np.isnan(v) else v)
                for col in range(6):
                    _put(f, t, base_s + col, nf, scores[t, col])
                    _put(f, t, base_s + 6 + col, nf, ranks[t, col])
                raw = _raw_score(f, t, roots_own if is_own[t] else roots_new, node, thr, value)
                p = 1.0 / (1.0 + np.exp(-raw))
                _push(best_s, best_i, sizes, 0, p, i, k)
                _push(best_s, best_i, sizes, 1 if is_own[t] else 2, p, i, k)
            for lst in range(3):
                for r in range(sizes[lst]):
                    out_i[row, lst, r] = best_i[lst, r]
                    out_s[row, lst, r] = best_s[lst, r]
    return out_i, out_s
