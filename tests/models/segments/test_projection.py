"""The 2-D map: UMAP on a sample, kNN placement of the rest, trustworthiness."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.core.errors import NotEnoughData
from models.segments.projection import ProjectionSpec, map_trustworthiness, project_2d


def _blobs(n: int = 600, dims: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.normal(0, 10, (3, dims))
    return (centres[labels] + rng.normal(0, 1, (n, dims))).astype(np.float32), labels


def _nearest_label_accuracy(xy: np.ndarray, labels: np.ndarray) -> float:
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def test_sampled_map_places_every_point_near_its_own_kind() -> None:
    vectors, labels = _blobs()
    spec = ProjectionSpec(sample_size=300, n_epochs=60, trust_sample=600, seed=1)
    result = project_2d(vectors, spec)
    assert result.method == "umap+knn" and result.fitted_points == 300
    assert result.coords.shape == (600, 2) and np.isfinite(result.coords).all()
    # the interpolated points land among their own cluster on the map
    assert _nearest_label_accuracy(result.coords, labels) > 0.98
    assert result.trustworthiness > 0.85


def test_small_maps_fit_every_point_and_are_reproducible() -> None:
    vectors, _ = _blobs(n=120)
    spec = ProjectionSpec(sample_size=1_000, n_epochs=40, seed=3)
    a, b = project_2d(vectors, spec), project_2d(vectors, spec)
    assert a.method == "umap" and a.fitted_points == 120
    np.testing.assert_array_equal(a.coords, b.coords)


def test_trustworthiness_of_a_perfect_map_is_one() -> None:
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(200, 2))
    assert map_trustworthiness(flat, flat, sample=200, n_neighbors=5) == pytest.approx(1.0)


def test_too_few_points_is_a_user_error() -> None:
    with pytest.raises(NotEnoughData, match="at least 3"):
        project_2d(np.zeros((2, 4), dtype=np.float32))
