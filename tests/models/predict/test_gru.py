"""The GRU sequence predictor learns a planted signal on a tiny CPU run and round-trips safely."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
from sklearn.metrics import roc_auc_score

from analytics.core.model_files import load_state_dict, save_state_dict
from analytics.features.sequences import SequenceSpec, build_sequences, build_vocabulary
from models.predict.gru import (
    EventGRU,
    SequenceConfig,
    event_attribution,
    predict_sequence,
    train_sequence_model,
)
from tests.models.predict.synthetic import synthetic_store

CPU = torch.device("cpu")


def test_gru_learns_who_buys_and_round_trips():
    events = synthetic_store(users=120, days=40, seed=3).with_columns(
        item_id=pl.lit("i1"), price=pl.lit(None, pl.Float64)
    )
    cutoff = events["event_time"].max()
    vocab = build_vocabulary(events, cutoff, SequenceSpec(max_len=16))
    seqs = build_sequences(events, cutoff, vocab)
    y = np.array([int(u[1:]) % 2 == 0 for u in seqs.user_ids], dtype=int)  # the frequent kind
    cfg = SequenceConfig(epochs=5, hidden=16, embed_dim=8, batch_size=32)
    result = train_sequence_model(seqs, y, n_out=1, device=CPU, seed=1, config=cfg)
    p = predict_sequence(result, seqs, CPU)
    assert p.shape == (len(seqs),) and roc_auc_score(y, p) > 0.9
    assert result.device.startswith("CPU")
    state, meta = load_state_dict(save_state_dict(result.state(), {"n_out": 1}))
    assert meta == {"n_out": 1}
    result.model = EventGRU(vocab.n_category_ids, 1, 8, 16)
    result.model.load_state_dict(state)
    assert np.allclose(predict_sequence(result, seqs, CPU), p, atol=1e-6)
    attribution = event_attribution(result, seqs, 0)
    assert attribution.shape == (int(seqs.lengths[0]),)
