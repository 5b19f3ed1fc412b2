"""Compiled per-user loops for candidates and serving (numba, cached on disk).

``_user_candidates`` does a user's candidate work in one pass (accumulate the kNN, recent-kNN
and EASE rows, select each model's best allowed items with a small sorted buffer, gather every
score at the union). ``block_candidates`` returns those rows (the blends train on them);
``serve_lists`` goes on, in the same loop, to the blend features, both blends' trees and the
three top-k lists, so serving never materialises the candidate rows.

The kernels take the packed inputs of ``packed`` (``CandidateInputs``, ``BlendTables``,
``BlendTrees``). Packing also keeps the per-user helpers far below the ~30 arguments at which
numba stops inlining them (a call per user costs as much as the work).
"""

from __future__ import annotations

import numba
import numpy as np

from models.recommend.packed import BlendTables, BlendTrees, CandidateInputs

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
        np.empty(n_items, dtype=np.float32),  # ALS row
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


@numba.njit(cache=True, inline="always")
def _als_row(w: np.ndarray, ift: np.ndarray, out: np.ndarray) -> None:
    """One user's ALS scores: ``out = w @ ift`` (factor by factor, so the inner loop runs over
    contiguous items; the factors, ~0.5 MB, stay in cache across users)."""
    out[:] = 0.0
    for f in range(len(w)):
        wf = w[f]
        for i in range(len(out)):
            out[i] += wf * ift[f, i]


@numba.njit(cache=True, inline="always")
def _accumulate(u: int, inp: CandidateInputs, work: tuple[np.ndarray, ...]) -> None:
    """The user's kNN, recent-kNN, EASE and ALS rows, bought mask and buy-again scores."""
    knn, rec, _, blocked, again, _, _, _, _, ease, als = work
    _als_row(inp.user_factors[u], inp.item_factors_t, als)
    knn[:] = 0.0
    rec[:] = 0.0
    for p in range(inp.history_ptr[u], inp.history_ptr[u + 1]):
        j, wt, wr = inp.history_idx[p], inp.history_val[p], inp.history_recent[p]
        for q in range(inp.sim_ptr[j], inp.sim_ptr[j + 1]):
            t, sv = inp.sim_idx[q], inp.sim_val[q]
            knn[t] += wt * sv
            rec[t] += wr * sv
    # the EASE row: weight rows streamed from cache cost far less than gathering each
    # candidate's weights at the user's items (one cache miss per read)
    ease[:] = 0.0
    w = inp.ease_weights
    for p in range(inp.ease_ptr[u], inp.ease_ptr[u + 1]):
        j, wt = inp.ease_idx[p], inp.ease_val[p]
        for t in range(len(ease)):
            ease[t] += wt * w[j, t]
    for p in range(inp.bought_ptr[u], inp.bought_ptr[u + 1]):
        blocked[inp.bought_idx[p]] = True
    for p in range(inp.again_ptr[u], inp.again_ptr[u + 1]):
        again[inp.again_idx[p]] = inp.again_val[p]


@numba.njit(cache=True, inline="always")
def _generate(
    u: int,
    inp: CandidateInputs,
    per_model: int,
    own_cap: int,
    work: tuple[np.ndarray, ...],
    items: np.ndarray,
) -> int:
    """The user's own items (most recent first), then each model's best new items, into
    ``items``; returns how many."""
    knn, rec, taken, blocked, _, tv, ti, sizes, _, _, als = work
    allowed = inp.allowed
    m = 0
    for p in range(inp.own_ptr[u], min(inp.own_ptr[u + 1], inp.own_ptr[u] + own_cap)):
        i = inp.own_idx[p]
        if allowed[i] and not taken[i]:
            taken[i] = True
            items[m] = i
            m += 1
    sizes[:] = 0
    for i in range(len(allowed)):
        if allowed[i] and not blocked[i]:
            _insert(tv, ti, sizes, 0, knn[i], i)
            _insert(tv, ti, sizes, 1, rec[i], i)
            _insert(tv, ti, sizes, 2, als[i], i)
    for model in range(3):
        for t in range(sizes[model]):
            i = ti[model, t]
            if not taken[i]:
                taken[i] = True
                items[m] = i
                m += 1
    for g in range(len(inp.orders)):
        m = _take_first(inp.orders[g], per_model, blocked, taken, items, m)
    return m


@numba.njit(cache=True, inline="always")  # a call per user costs as much as the work
def _user_candidates(
    u: int,
    inp: CandidateInputs,
    per_model: int,
    own_cap: int,
    work: tuple[np.ndarray, ...],
    items: np.ndarray,
    scores: np.ndarray,
    ranks: np.ndarray,
) -> int:
    """One user's candidates into ``items``, ``scores``, ``ranks`` (rows of the block's
    outputs, see ``block_candidates``); returns how many. Leaves ``work`` clean."""
    knn, rec, taken, blocked, again, _, _, _, order, ease, als = work
    _accumulate(u, inp, work)
    m = _generate(u, inp, per_model, own_cap, work, items)
    for t in range(m):
        i = items[t]
        taken[i] = False
        scores[t, 0] = knn[i]
        scores[t, 1] = rec[i]
        k = inp.ease_pos[i]
        scores[t, 2] = ease[k] if k >= 0 else 0.0
        scores[t, 3] = als[i]
        scores[t, 4] = again[i]
        scores[t, 5] = inp.popularity[i]
    _rank_rows(scores, ranks, m, order)
    for p in range(inp.bought_ptr[u], inp.bought_ptr[u + 1]):
        blocked[inp.bought_idx[p]] = False
    for p in range(inp.again_ptr[u], inp.again_ptr[u + 1]):
        again[inp.again_idx[p]] = 0.0
    return m


@numba.njit(cache=True, parallel=True, fastmath=False)
def block_candidates(
    users: np.ndarray, inp: CandidateInputs, per_model: int, own_cap: int, n_chunks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of ``users`` (row ``r`` of the block is ``users[r]``): at most ``own_cap``
    own items, then ``per_model`` new items per generator.

    Returns ``counts`` (candidates per row), ``items``, ``scores`` (``knn, knn_recent, ease,
    als, buy_again, pop`` at each candidate) and ``ranks`` (1 = the row's best candidate on
    that signal, ties by position), all padded to a fixed width.
    """
    n_items = len(inp.allowed)
    width = _width(inp.orders, per_model, own_cap)
    n = len(users)
    items = np.full((n, width), -1, dtype=np.int64)
    scores = np.zeros((n, width, 6), dtype=np.float32)
    ranks = np.zeros((n, width, 6), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    for c in numba.prange(n_chunks):
        work = _work_buffers(n_items, len(inp.ease_weights), width, per_model)
        for row in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            counts[row] = _user_candidates(
                users[row], inp, per_model, own_cap, work, items[row], scores[row], ranks[row]
            )
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
def _push(
    best_s: np.ndarray, best_i: np.ndarray, sizes: np.ndarray, lst: int, s: float, i: int, k: int
) -> None:
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


@numba.njit(cache=True, inline="always")
def _feature_row(
    u: int,
    i: int,
    t: int,
    tab: BlendTables,
    spans: np.ndarray,
    scores: np.ndarray,
    ranks: np.ndarray,
    f: np.ndarray,
) -> bool:
    """Candidate ``t`` (item ``i`` of user ``u``)'s blend features into row ``f[t]``, in
    ``blend.FEATURES`` order: owned, pair, item, user, (user, category) shares, the 6
    signals and their 6 ranks. ``spans`` bounds the user's keys in ``tab.pair_keys`` and
    ``tab.uc_keys``. Returns whether the user bought the item before (owned)."""
    n_items = len(tab.items)
    n_pair, n_item, n_user = tab.pairs.shape[1], tab.items.shape[1], tab.users.shape[1]
    nf = f.shape[1] // 3
    base_s = nf - 12
    at = _find(tab.pair_keys, spans[0], spans[1], u * n_items + i)
    for col in range(n_pair):
        v = tab.pairs[at, col] if at >= 0 else np.float32(np.nan)
        _put(f, t, 1 + col, nf, tab.pair_missing[col] if np.isnan(v) else v)
    owned = f[t, 1] > 0
    _put(f, t, 0, nf, 1.0 if owned else 0.0)
    for col in range(n_item):
        _put(f, t, 1 + n_pair + col, nf, tab.items[i, col])
    for col in range(n_user):
        _put(f, t, 1 + n_pair + n_item + col, nf, tab.users[u, col])
    at = _find(tab.uc_keys, spans[2], spans[3], u * tab.n_categories + tab.item_category[i])
    for col in range(2):
        v = tab.user_category[at, col] if at >= 0 else np.float32(0.0)
        _put(f, t, 1 + n_pair + n_item + n_user + col, nf, 0.0 if np.isnan(v) else v)
    for col in range(6):
        _put(f, t, base_s + col, nf, scores[t, col])
        _put(f, t, base_s + 6 + col, nf, ranks[t, col])
    return owned


@numba.njit(cache=True, inline="always")
def _key_spans(u: int, tab: BlendTables, spans: np.ndarray) -> None:
    """Where user ``u``'s pair keys and (user, category) keys lie in the sorted key arrays."""
    n_items, n_cat = len(tab.items), tab.n_categories
    spans[0] = np.searchsorted(tab.pair_keys, u * n_items)
    spans[1] = np.searchsorted(tab.pair_keys, (u + 1) * n_items)
    spans[2] = np.searchsorted(tab.uc_keys, u * n_cat)
    spans[3] = np.searchsorted(tab.uc_keys, (u + 1) * n_cat)


@numba.njit(cache=True, parallel=True)
def serve_lists(
    users: np.ndarray,
    inp: CandidateInputs,
    per_model: int,
    own_cap: int,
    tab: BlendTables,
    trees: BlendTrees,
    k: int,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates, blend features and both blends' probabilities, then the three top-``k``
    lists (0 combined, 1 own items, 2 new items) of every user in one pass, without
    materialising the candidate rows: ``(items, scores)``, each ``(len(users), 3, k)``, item
    -1 where a list is short. Absent or NaN pair values become ``tab.pair_missing``; the
    buy-again blend scores the user's bought items, the new-item blend the rest.
    """
    n_items = len(inp.allowed)
    width = _width(inp.orders, per_model, own_cap)
    n = len(users)
    nf = 1 + tab.pairs.shape[1] + tab.items.shape[1] + tab.users.shape[1] + 2 + 12
    out_i = np.full((n, 3, k), -1, dtype=np.int64)
    out_s = np.zeros((n, 3, k), dtype=np.float64)
    for c in numba.prange(n_chunks):
        work = _work_buffers(n_items, len(inp.ease_weights), width, per_model)
        items = np.empty(width, dtype=np.int64)
        scores = np.empty((width, 6), dtype=np.float32)
        ranks = np.empty((width, 6), dtype=np.float32)
        f = np.empty((width, 3 * nf), dtype=np.float32)
        best_s = np.empty((3, k), dtype=np.float64)
        best_i = np.empty((3, k), dtype=np.int64)
        sizes = np.zeros(3, dtype=np.int64)
        spans = np.zeros(4, dtype=np.int64)
        for row in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            u = users[row]
            m = _user_candidates(u, inp, per_model, own_cap, work, items, scores, ranks)
            _key_spans(u, tab, spans)
            sizes[:] = 0
            for t in range(m):
                i = items[t]
                owned = _feature_row(u, i, t, tab, spans, scores, ranks, f)
                roots = trees.roots_own if owned else trees.roots_new
                raw = _raw_score(f, t, roots, trees.node, trees.thr, trees.value)
                p = 1.0 / (1.0 + np.exp(-raw))
                _push(best_s, best_i, sizes, 0, p, i, k)
                _push(best_s, best_i, sizes, 1 if owned else 2, p, i, k)
            for lst in range(3):
                for r in range(sizes[lst]):
                    out_i[row, lst, r] = best_i[lst, r]
                    out_s[row, lst, r] = best_s[lst, r]
    return out_i, out_s
