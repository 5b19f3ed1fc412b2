"""Sequence tensors and the self-supervised user embeddings (tiny CPU configurations)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
import torch

from analytics.core.device import select_device
from analytics.core.errors import NotEnoughData
from analytics.features.sequences import (
    EVENT_TYPE_IDS,
    SequenceSpec,
    build_sequences,
    build_vocabulary,
)
from analytics.features.user_features import (
    build_user_features,
    default_cutoff,
    resolve_feature_spec,
)
from models.segments.embeddings import (
    EmbeddingConfig,
    UserEmbeddingModel,
    load_state_dict,
    prepare_embedding_data,
    train_user_embeddings,
)
from tests.analytics.features.hand_events import hand_events_frame
from tests.models.synthetic_events import planted_events

TINY = EmbeddingConfig(dims=4, hidden=8, token_dim=4, epochs=2, batch_size=64)


@pytest.fixture
def hand_events() -> pl.DataFrame:
    return hand_events_frame()


def test_sequences_keep_last_events_before_cutoff(hand_events: pl.DataFrame) -> None:
    cutoff = date(2024, 1, 3)  # end of Jan 3: b's Jan 5 view and a's Jan 9 purchase are future
    vocab = build_vocabulary(hand_events, cutoff, SequenceSpec(max_len=2))
    assert vocab.categories == ("x", "y")  # z only appears after the cutoff
    seqs = build_sequences(hand_events, cutoff, vocab, user_ids=["a", "b", "c", "zz"])
    # a keeps its last two events (cart, purchase), oldest first; b one view; c one fav; zz none
    assert seqs.event_type.tolist() == [
        [EVENT_TYPE_IDS["cart"], EVENT_TYPE_IDS["purchase"]],
        [EVENT_TYPE_IDS["view"], 0],
        [EVENT_TYPE_IDS["fav"], 0],
        [0, 0],
    ]
    assert seqs.category.tolist() == [[2, 2], [3, 0], [1, 0], [0, 0]]  # c's null category = other
    assert seqs.lengths.tolist() == [2, 1, 1, 0]
    assert seqs.mask.sum().item() == 4
    # gap cart -> purchase: 46 hours; age of the purchase: end of Jan 3 minus 00:00 = ~1 day
    assert seqs.log_gap[0, 1].item() == pytest.approx(np.log1p(46.0), rel=1e-4)
    assert seqs.log_age[0, 1].item() == pytest.approx(np.log1p(86399.999999 / 86400), rel=1e-4)
    assert seqs.log_value[0, 1].item() == pytest.approx(np.log1p(20.0), rel=1e-5)
    assert seqs.log_value[0, 0].item() == pytest.approx(np.log1p(10.0), rel=1e-5)  # cart: price


def test_sequences_without_users_is_a_user_error(hand_events: pl.DataFrame) -> None:
    vocab = build_vocabulary(hand_events, date(2023, 12, 31))
    with pytest.raises(NotEnoughData, match="no customers"):
        build_sequences(hand_events, date(2023, 12, 31), vocab)


@pytest.fixture(scope="module")
def tiny_data():
    events, _ = planted_events(users=60, seed=1)
    cutoff = default_cutoff(events)
    spec = resolve_feature_spec(events, cutoff)
    features = build_user_features(events, cutoff, spec)
    data = prepare_embedding_data(
        events, features, cutoff=cutoff, feature_spec=spec, sequence_spec=SequenceSpec(max_len=16)
    )
    return features, data


def test_training_data_uses_only_history_and_next_window(tiny_data) -> None:
    features, data = tiny_data
    assert data.embed.user_ids == tuple(features["user_id"].to_list())
    assert data.train.features.shape[1] == data.embed.features.shape[1]
    assert len(data.train) <= len(data.embed)
    assert data.targets.shape == (len(data.train), len(data.target_names))
    rows = data.target_categories.sum(1)
    assert torch.all((rows.sub(1).abs() < 1e-5) | (rows == 0))
    # inputs of the training set stop at the pseudo-cutoff: no event there is younger than it
    ages = data.train.sequences.log_age[data.train.sequences.mask]
    assert ages.min().item() >= 0.0


def test_tiny_training_runs_on_cpu_and_reports_loss(tiny_data) -> None:
    _, data = tiny_data
    result = train_user_embeddings(data, device=select_device("cpu"), seed=3, config=TINY)
    assert result.embeddings.shape == (len(data.embed), 4)
    assert np.isfinite(result.embeddings).all()
    assert len(result.loss_curve) == 2 and all(np.isfinite(result.loss_curve))
    assert result.device.startswith("CPU")
    model = UserEmbeddingModel(**result.model_args)
    model.load_state_dict(load_state_dict(result.state_bytes()))  # weights_only round trip


def test_training_is_reproducible_with_a_seed(tiny_data) -> None:
    _, data = tiny_data
    cpu = select_device("cpu")
    a = train_user_embeddings(data, device=cpu, seed=5, config=TINY)
    b = train_user_embeddings(data, device=cpu, seed=5, config=TINY)
    c = train_user_embeddings(data, device=cpu, seed=6, config=TINY)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert a.loss_curve == b.loss_curve
    assert not np.allclose(a.embeddings, c.embeddings)
