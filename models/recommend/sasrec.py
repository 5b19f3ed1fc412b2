"""SASRec: a small self-attentive next-item model in torch, on the GPU when present (formerly
``recommend_seq.py``). It only enters the comparison table; the served lists come from the blend.

Each user's history is the sequence of items they touched (oldest first, repeats in a row
collapsed, the last ``max_len`` kept). A causal transformer reads it and predicts the next item
at every position with a full softmax over the catalogue (item embeddings are tied to the output
layer). ``score(users)`` returns the logits after the whole history. Item code ``i`` of the
``History`` is token ``i + 1``; token 0 is padding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from analytics.core.device import autocast_context, device_label, seed_everything, select_device
from models.recommend.base import History

__all__ = ["SelfAttentiveRecommender", "user_item_sequences"]


def user_item_sequences(history: History, max_len: int) -> np.ndarray:
    """``(n_users, max_len)`` int64 tokens, right-aligned (padding first, newest item last)."""
    f = (
        history.frame.sort(["u", "age"], descending=[False, True])
        .filter(
            (pl.col("i") != pl.col("i").shift(1).over("u"))
            | pl.col("i").shift(1).over("u").is_null()
        )
        .with_columns(pl.int_range(pl.len()).reverse().over("u").alias("from_end"))
        .filter(pl.col("from_end") < max_len)
    )
    out = np.zeros((history.n_users, max_len), dtype=np.int64)
    out[f["u"].to_numpy(), max_len - 1 - f["from_end"].to_numpy()] = f["i"].to_numpy() + 1
    return out


class _SASRec(nn.Module):
    """Item + position embeddings, causal transformer blocks, tied output layer."""

    def __init__(
        self, n_tokens: int, max_len: int, dim: int, heads: int, blocks: int, dropout: float
    ):
        super().__init__()
        self.items = nn.Embedding(n_tokens, dim, padding_idx=0)
        self.positions = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim * 2, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.register_buffer(
            "causal", torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), 1)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        pos = torch.arange(length, device=tokens.device)
        h = self.items(tokens) * (self.items.embedding_dim**0.5) + self.positions(pos)
        causal: torch.Tensor = self.causal  # type: ignore[assignment]
        h = self.encoder(h, mask=causal[:length, :length])
        return self.norm(h) @ self.items.weight.T


@dataclass(frozen=True)
class TrainingReport:
    """What one training run did (for the UI): device, epochs, seconds, last loss."""

    device: str
    epochs: int
    seconds: float
    loss: float


class SelfAttentiveRecommender:
    """SASRec-like next-item recommender; ``max_seconds`` caps the training time."""

    def __init__(
        self,
        *,
        max_len: int = 50,
        dim: int = 64,
        heads: int = 2,
        blocks: int = 2,
        dropout: float = 0.2,
        epochs: int = 20,
        lr: float = 2e-3,
        max_seconds: float | None = None,
        device: str = "auto",
        seed: int = 7,
    ) -> None:
        self.max_len = max_len
        self.dim = dim
        self.heads = heads
        self.blocks = blocks
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.max_seconds = max_seconds
        self.device = device
        self.seed = seed

    def fit(self, history: History) -> SelfAttentiveRecommender:
        started = time.monotonic()
        gen = seed_everything(self.seed)
        device = select_device(self.device)
        seqs = user_item_sequences(history, self.max_len + 1)
        train = torch.from_numpy(seqs[(seqs > 0).sum(axis=1) >= 2])
        n_tokens = history.n_items + 1
        model = _SASRec(n_tokens, self.max_len, self.dim, self.heads, self.blocks, self.dropout)
        model = model.to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
        # keep each batch's logits tensor around 16M cells, whatever the catalogue size
        batch = int(np.clip(16_000_000 // (self.max_len * n_tokens), 8, 256))
        loss_value, epoch = float("nan"), 0
        for epoch in range(1, self.epochs + 1):  # noqa: B007 (epoch is reported)
            model.train()
            order = torch.randperm(len(train), generator=gen)
            for start in range(0, len(train), batch):
                rows = train[order[start : start + batch]].to(device)
                inputs, targets = rows[:, :-1], rows[:, 1:]
                with autocast_context(device):
                    logits = model(inputs)
                loss = nn.functional.cross_entropy(
                    logits.float().reshape(-1, n_tokens), targets.reshape(-1), ignore_index=0
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                loss_value = float(loss.detach())
                if self._out_of_time(started):
                    break
            if self._out_of_time(started):
                break
        self.model_ = model.eval()
        self.device_ = device
        self.sequences_ = torch.from_numpy(seqs[:, 1:])
        self.report_ = TrainingReport(
            device_label(device), epoch, time.monotonic() - started, loss_value
        )
        return self

    def _out_of_time(self, started: float) -> bool:
        limit = self.max_seconds
        return limit is not None and limit > 0 and time.monotonic() - started > limit

    @torch.no_grad()
    def score(self, users: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(users), 512):
            tokens = self.sequences_[users[start : start + 512]].to(self.device_)
            with autocast_context(self.device_):
                logits = self.model_(tokens)[:, -1, 1:]
            out.append(logits.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model_.items.num_embeddings - 1))
