"""The 2-D customer map: UMAP on a sample, the rest placed by kNN interpolation.

umap-learn on every point costs minutes at 200k users, and ``UMAP.transform`` of the points left out
of a sample is hardly cheaper (it runs an optimisation per new point). A map only needs each
customer near the customers they resemble, so the points outside the sample are placed at the
distance-weighted mean of the 2-D positions of their ``k`` nearest sampled neighbours in embedding
space (exact neighbours, by blocked matrix products), plus a small jitter of the size of the local
neighbourhood so that a thousand near-identical customers do not collapse onto one dot. The map's
faithfulness is reported as sklearn's trustworthiness on a random sample of all points.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.manifold import trustworthiness

from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress

__all__ = ["Projection", "ProjectionSpec", "map_trustworthiness", "project_2d"]


@dataclass(frozen=True)
class ProjectionSpec:
    """UMAP settings and the sampling that keeps large maps fast.

    sample_size: UMAP is fitted on at most this many points; the others are interpolated.
    neighbors_k: sampled neighbours averaged to place a point outside the sample.
    trust_sample / trust_neighbors: how trustworthiness is measured (points, neighbourhood size).
    """

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "euclidean"
    n_epochs: int | None = None
    sample_size: int = 15_000
    neighbors_k: int = 8
    trust_sample: int = 3_000
    trust_neighbors: int = 10
    seed: int = 7


@dataclass(frozen=True)
class Projection:
    """2-D coordinates of every point (float32, same row order as the input) and their quality."""

    coords: np.ndarray
    trustworthiness: float
    fitted_points: int
    seconds: float
    method: str  # "umap" (all points fitted) or "umap+knn" (sample fitted, rest interpolated)


def _import_umap():
    """Import umap-learn with numba's on-disk cache turned on for all its jitted functions.

    Most of umap-learn's and pynndescent's kernels are ``@numba.njit()`` without ``cache=True``, so
    every fresh process recompiled them: ~30 CPU s before the first map, however small (measured on
    2,000 points: 32 CPU s to fit in a fresh process, 8 CPU s once the cache is filled). Turning
    ``cache`` on while umap's modules are first imported stores the compiled code where numba
    keeps its cache (beside the package, or under ``NUMBA_CACHE_DIR`` when the app or CLI sets
    it), so only the very first process on a machine pays. If umap was already imported
    elsewhere, nothing changes.
    """
    import sys

    if "umap" in sys.modules:
        return sys.modules["umap"]
    import numba

    originals = numba.njit, numba.jit

    def cached(decorator):
        def wrapped(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)

        return wrapped

    numba.njit, numba.jit = cached(originals[0]), cached(originals[1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "cannot cache" notes for the few closures
            import umap
    finally:
        numba.njit, numba.jit = originals
    return umap


def _umap_fit(vectors: np.ndarray, spec: ProjectionSpec) -> np.ndarray:
    umap = _import_umap()  # imported lazily: numba compilation is slow and only this path needs it

    n = len(vectors)
    n_neighbors = min(spec.n_neighbors, max(n - 1, 2))
    # exact kNN graph by blocked matrix products: above 4,096 points umap-learn would build it with
    # pynndescent, whose jitted closures numba cannot cache (~80 CPU s per process at 6k points)
    idx, dist = _nearest(vectors, vectors, n_neighbors)
    order = np.argsort(dist, axis=1, kind="stable")
    idx, dist = np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        precomputed_knn=(idx, dist, None),
        min_dist=spec.min_dist,
        metric=spec.metric,
        n_epochs=spec.n_epochs,
        random_state=spec.seed,
        init="spectral" if n > spec.n_neighbors + 2 else "random",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", tiny-data notes
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)


def _nearest(
    queries: np.ndarray, points: np.ndarray, k: int, block: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest ``points`` of every query (Euclidean): ``(indices, distances)``."""
    k = min(k, len(points))
    p32 = points.astype(np.float32)
    p_sq = (p32**2).sum(1)
    idx = np.empty((len(queries), k), dtype=np.int64)
    dist = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), block):
        q = queries[start : start + block].astype(np.float32)
        d2 = p_sq[None, :] - 2.0 * (q @ p32.T) + (q**2).sum(1)[:, None]
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        rows = np.arange(len(q))[:, None]
        idx[start : start + len(q)] = part
        dist[start : start + len(q)] = np.sqrt(np.maximum(d2[rows, part], 0.0))
    return idx, dist


def _interpolate(
    rest: np.ndarray, sample: np.ndarray, sample_xy: np.ndarray, k: int, seed: int
) -> np.ndarray:
    """Place ``rest`` at the distance-weighted mean 2-D position of its nearest sampled points."""
    idx, dist = _nearest(rest, sample, k)
    weight = 1.0 / (dist + 1e-6 + dist[:, :1])  # nearer neighbours count more, never infinitely
    weight /= weight.sum(1, keepdims=True)
    neighbours = sample_xy[idx]  # (n, k, 2)
    xy = (neighbours * weight[..., None]).sum(1)
    spread = np.sqrt(((neighbours - xy[:, None, :]) ** 2).sum(-1).mean(1, keepdims=True))
    jitter = np.random.default_rng(seed).normal(0.0, 1.0, xy.shape) * 0.25 * spread
    return (xy + jitter).astype(np.float32)


def map_trustworthiness(
    vectors: np.ndarray, coords: np.ndarray, *, sample: int = 3_000, n_neighbors: int = 10, seed=7
) -> float:
    """sklearn's trustworthiness of ``coords`` for ``vectors`` on a random sample of the points."""
    n = len(vectors)
    k = min(n_neighbors, max((min(n, sample) - 1) // 2 - 1, 1))
    if n < 4:
        return 1.0
    rows = np.random.default_rng(seed).choice(n, size=min(n, sample), replace=False)
    return float(trustworthiness(vectors[rows], coords[rows], n_neighbors=k))


def project_2d(
    vectors: np.ndarray, spec: ProjectionSpec = ProjectionSpec(), progress: Progress = no_progress
) -> Projection:
    """2-D map of ``vectors`` (n, d): UMAP on up to ``spec.sample_size`` points, kNN for the rest.

    ``NotEnoughData`` below 3 points (a map of fewer says nothing).
    """
    started = time.perf_counter()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 3:
        raise NotEnoughData("A customer map needs at least 3 customers.")
    rng = np.random.default_rng(spec.seed)
    fitted = (
        np.sort(rng.choice(n, size=spec.sample_size, replace=False))
        if n > spec.sample_size
        else np.arange(n)
    )
    progress(0.05, f"Drawing the map of {len(fitted):,} customers")
    coords = np.empty((n, 2), dtype=np.float32)
    coords[fitted] = _umap_fit(vectors[fitted], spec)
    method = "umap"
    if len(fitted) < n:
        progress(0.8, f"Placing the other {n - len(fitted):,} customers on the map")
        rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
        coords[rest] = _interpolate(
            vectors[rest], vectors[fitted], coords[fitted], spec.neighbors_k, spec.seed
        )
        method = "umap+knn"
    progress(0.95, "Checking how faithful the map is")
    trust = map_trustworthiness(
        vectors, coords, sample=spec.trust_sample, n_neighbors=spec.trust_neighbors, seed=spec.seed
    )
    progress(1.0, "Map ready")
    return Projection(coords, trust, len(fitted), time.perf_counter() - started, method)
