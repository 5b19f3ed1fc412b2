"""The packed inputs of the compiled kernels (``kernels``): named tuples of arrays grouped by
meaning, so a kernel takes a handful of arguments instead of dozens of positional arrays.

Numba compiles a named tuple to the same code as loose arrays. The classes live at module level
(and away from numba, so importing them stays cheap) because the kernels' on-disk cache keys on
them. ``blend.kernel_inputs`` and ``blend.serving_inputs`` build them once per fit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["BlendTables", "BlendTrees", "CandidateInputs"]


class CandidateInputs(NamedTuple):
    """Everything the candidate pass reads, built once per fit (``blend.kernel_inputs``).

    Each ``*_ptr, *_idx, *_val`` triple is a CSR matrix (row ``r``'s columns are
    ``idx[ptr[r]:ptr[r + 1]]``), its rows indexed by user code unless said otherwise; item
    arrays are indexed by item code. Flat, not nested: numba's parallel loops accept a tuple
    of arrays but not a tuple of tuples.
    """

    user_factors: np.ndarray  # ALS, (users, factors)
    item_factors_t: np.ndarray  # ALS, transposed: (factors, items), row = factor
    # the log-weighted interactions (kNN's input) and the recency-decayed weights on them
    history_ptr: np.ndarray
    history_idx: np.ndarray
    history_val: np.ndarray
    history_recent: np.ndarray
    # the item-to-item kNN similarity, row = source item
    sim_ptr: np.ndarray
    sim_idx: np.ndarray
    sim_val: np.ndarray
    # the history over EASE's kept items, each item's place among them (-1: not kept) and
    # EASE's weights ((kept, kept), row = source item)
    ease_ptr: np.ndarray
    ease_idx: np.ndarray
    ease_val: np.ndarray
    ease_pos: np.ndarray
    ease_weights: np.ndarray
    # the allowed items best first by popularity (row 0) and by new buyers lately (row 1, a
    # generator without a signal of its own): one (2, n) array
    orders: np.ndarray
    popularity: np.ndarray  # the popularity signal
    again_ptr: np.ndarray  # the buy-again signal
    again_idx: np.ndarray
    again_val: np.ndarray
    bought_ptr: np.ndarray  # bought items: never a generated candidate
    bought_idx: np.ndarray
    own_ptr: np.ndarray  # the user's own items, most recent first
    own_idx: np.ndarray
    allowed: np.ndarray  # bool: on sale (seen in the recent window)


class BlendTables(NamedTuple):
    """The blend features as the fused pass looks them up (see ``blend.FeatureTables``)."""

    pair_keys: np.ndarray  # sorted ``u * n_items + i``
    pairs: np.ndarray  # (pairs, pair features)
    pair_missing: np.ndarray  # a pair feature's value where absent or NaN (NaN: missing)
    items: np.ndarray  # (items, item features)
    users: np.ndarray  # (users, user features)
    uc_keys: np.ndarray  # sorted ``u * n_categories + c``
    user_category: np.ndarray  # (keys, 2) shares; absent = 0
    item_category: np.ndarray  # category code per item
    n_categories: int


class BlendTrees(NamedTuple):
    """Both blends' trees as flat node arrays (see ``_raw_score``)."""

    node: np.ndarray  # ``left child << 8 | column``, -1 at leaves
    thr: np.ndarray
    value: np.ndarray  # leaf outputs
    roots_own: np.ndarray  # the buy-again blend's trees (the user's bought items)
    roots_new: np.ndarray  # the new-item blend's trees
