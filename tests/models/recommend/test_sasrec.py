"""The self-attentive sequence model (SASRec-like) on CPU."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from models.recommend.base import (
    build_history,
)
from models.recommend.sasrec import SelfAttentiveRecommender, user_item_sequences
from tests.models.recommend.logs import code_of, events_of


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a busy 2-core machine torch's spinning pool made the tiny
    sequence-model test take ~56 s instead of ~3 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
def test_sequence_model_learns_a_fixed_order_on_cpu() -> None:
    rows = []
    for u in range(40):
        for step in range(12):
            rows.append((f"u{u}", "abcd"[step % 4], step + u * 0.01, "view"))
    h = build_history(events_of(rows), date(2024, 1, 31))
    seqs = user_item_sequences(h, 5)
    assert seqs.shape == (h.n_users, 5) and (seqs > 0).all()
    model = SelfAttentiveRecommender(
        max_len=8, dim=16, heads=1, blocks=1, epochs=150, device="cpu", lr=1e-2
    ).fit(h)
    assert model.report_.device.startswith("CPU")
    # every history ends with ...c, d, so the next item is a
    scores = model.score(np.arange(h.n_users))
    assert (scores.argmax(axis=1) == code_of(h, "a")).mean() > 0.9
