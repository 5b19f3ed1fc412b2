"""UMAP of many users: our sampled map vs umap-learn's default on the same vectors, in one run.

    .venv/bin/python bench/umap.py [--n 200000] [--dims 32] [--with-transform]

Prints one JSON object: seconds and trustworthiness of each method (same evaluation sample), and
the ratios the quality target speaks of (time ≤ 1/3 of the default's, trustworthiness ≥ 0.95x).
The vectors are synthetic user embeddings: a mixture of clusters of different size and spread,
each lying near a random low-dimensional patch, like the embeddings of a store's customers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

# run as a script, sys.path[0] is bench/, where this very file would shadow umap-learn
sys.path[0] = str(Path(__file__).resolve().parents[1])

from models.segments.projection import ProjectionSpec, map_trustworthiness, project_2d  # noqa: E402


def synthetic_embeddings(n: int, dims: int, clusters: int = 12, seed: int = 0) -> np.ndarray:
    """``n`` vectors in ``dims`` dimensions: clusters near 3-d patches, plus isotropic noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.full(clusters, 2.0))
    labels = rng.choice(clusters, size=n, p=sizes)
    centres = rng.normal(0.0, 3.0, (clusters, dims))
    bases = rng.normal(0.0, 1.0, (clusters, 3, dims))
    latent = rng.normal(0.0, 1.0, (n, 3))
    x = centres[labels] + np.einsum("nl,nld->nd", latent, bases[labels])
    return (x + rng.normal(0.0, 0.5, (n, dims))).astype(np.float32)


def _default_umap(vectors: np.ndarray, seed: int) -> np.ndarray:
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(random_state=seed).fit_transform(vectors)


def _sample_then_transform(vectors: np.ndarray, sample: int, seed: int) -> np.ndarray:
    import umap

    rows = np.random.default_rng(seed).choice(len(vectors), size=sample, replace=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(random_state=seed).fit(vectors[rows])
        return reducer.transform(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--with-transform", action="store_true", help="also time fit+transform")
    args = parser.parse_args()
    vectors = synthetic_embeddings(args.n, args.dims)
    spec = ProjectionSpec(seed=args.seed)

    def trust(coords: np.ndarray) -> float:
        return map_trustworthiness(vectors, coords, sample=spec.trust_sample, seed=args.seed)

    # warm numba's compilation once so neither side pays it inside its timing
    # (above 4,096 points UMAP switches to pynndescent, so warm that path too)
    project_2d(vectors[:6_000], ProjectionSpec(sample_size=5_000, n_epochs=5, seed=args.seed))
    out: dict[str, object] = {"n": args.n, "dims": args.dims}
    started = time.perf_counter()
    ours = project_2d(vectors, spec)
    out["ours"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "trustworthiness": round(trust(ours.coords), 4),
        "fitted_points": ours.fitted_points,
        "method": ours.method,
    }
    print(json.dumps(out), file=sys.stderr, flush=True)
    started = time.perf_counter()
    default = _default_umap(vectors, args.seed)
    out["umap_default"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "trustworthiness": round(trust(default), 4),
    }
    if args.with_transform:
        started = time.perf_counter()
        moved = _sample_then_transform(vectors, spec.sample_size, args.seed)
        out["umap_sample_transform"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "trustworthiness": round(trust(moved), 4),
        }
    ours_s, default_s = out["ours"]["seconds"], out["umap_default"]["seconds"]  # type: ignore[index]
    out["time_ratio"] = round(ours_s / default_s, 3)
    out["trust_ratio"] = round(
        out["ours"]["trustworthiness"] / out["umap_default"]["trustworthiness"],
        3,  # type: ignore[index]
    )
    out["meets_target"] = out["time_ratio"] <= 1 / 3 and out["trust_ratio"] >= 0.95
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
