"""Fixtures of the predict tests."""

from __future__ import annotations

import pytest

from tests.models.predict.synthetic import synthetic_store


@pytest.fixture(scope="module")
def store():
    return synthetic_store()
