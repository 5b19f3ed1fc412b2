"""Deep user embeddings: a dense vector per user from their event sequence and their features.

Segments should group customers who behave alike and will be worth alike, so the network learns a
self-supervised task inside the known history: from the features and the last N events up to a
pseudo-cutoff ``cutoff - horizon`` it predicts what the user does in the horizon after it, while
rebuilding its masked features (denoising) and predicting the category mix from the first three
quarters of the vector (taste) and the next-window numbers from the last quarter (value).
Clustering weighs the two parts (``SegmentSpec.value_weight``). The trade-offs behind this shape
are in ``docs/decisions.md`` (segments). ``nn.Module``s hold only the forward pass;
``train_user_embeddings`` takes the device, the seed and a config and returns an
``EmbeddingResult`` with every user embedded as of the real cutoff.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn
from torch.nn import functional as F

from analytics.core.device import autocast_context, device_label, seed_everything
from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    ORDER_ID,
    REVENUE,
    USER_ID,
    EventType,
)
from analytics.features.activity import first_event_time, span_share
from analytics.features.sequences import (
    N_EVENT_TYPE_IDS,
    OTHER_ID,
    SequenceSpec,
    UserSequences,
    Vocabulary,
    build_sequences,
    build_vocabulary,
)
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    default_cutoff,
    to_utc,
)

__all__ = [
    "MIN_TRAIN_USERS",
    "EmbeddingConfig",
    "EmbeddingData",
    "EmbeddingInputs",
    "EmbeddingResult",
    "FeatureScaler",
    "UserEmbeddingModel",
    "UserEncoder",
    "load_state_dict",
    "prepare_embedding_data",
    "train_user_embeddings",
]

MIN_TRAIN_USERS = 20  # below this the future-prediction task is noise; fall back to denoising


# --- configuration and data ---------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingConfig:
    """Model size and training schedule.

    ``max_seconds`` (if set) stops after the epoch that crosses it; leave it ``None`` for runs that
    must be exactly reproducible. ``cpu_threads`` caps torch's CPU threads while training: the
    layers are small, so a second thread gains little on a quiet laptop but costs up to 10x when
    the cores are shared (threads spin at every op's barrier); ``None`` keeps torch's setting.
    """

    dims: int = 32
    hidden: int = 64
    token_dim: int = 32
    epochs: int = 12
    batch_size: int = 512
    learning_rate: float = 4e-3
    weight_decay: float = 1e-5
    feature_mask_rate: float = 0.25
    event_drop_rate: float = 0.15
    future_weight: float = 1.0
    max_train_users: int = 40_000
    cpu_threads: int | None = 1
    max_seconds: float | None = None


@dataclass(frozen=True)
class FeatureScaler:
    """Signed log1p, then standardise with the training set's mean and std, then clip to ±6."""

    columns: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @staticmethod
    def fit(features: pl.DataFrame) -> FeatureScaler:
        columns = tuple(c for c in features.columns if c != USER_ID)
        x = _signed_log(features.select(columns).to_numpy().astype(np.float64))
        std = x.std(axis=0)
        return FeatureScaler(columns, x.mean(axis=0), np.where(std > 1e-9, std, 1.0))

    def transform(self, features: pl.DataFrame) -> torch.Tensor:
        x = _signed_log(features.select(self.columns).to_numpy().astype(np.float64))
        z = np.clip((x - self.mean) / self.std, -6.0, 6.0)
        return torch.from_numpy(np.nan_to_num(z).astype(np.float32))


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass(frozen=True)
class EmbeddingInputs:
    """Model-ready tensors for a set of users (rows aligned with ``user_ids``)."""

    user_ids: tuple[str, ...]
    features: torch.Tensor  # float32 (n, F), standardised
    sequences: UserSequences

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass(frozen=True)
class EmbeddingData:
    """What training needs: a training set as of the pseudo-cutoff, and every user as of the cutoff.

    ``targets`` (n_train, T) are standardised next-window numbers, ``target_categories``
    (n_train, C) the category mix of all events up to the cutoff (rows sum to 1, or 0 if none).
    Without enough history for a pseudo-cutoff, ``train`` is ``embed`` and the targets are empty.
    """

    train: EmbeddingInputs
    targets: torch.Tensor
    target_categories: torch.Tensor
    embed: EmbeddingInputs
    horizon_days: int
    target_names: tuple[str, ...]


# --- preparing the data -------------------------------------------------------------------------
def _horizon_days(events: pl.LazyFrame | pl.DataFrame, cutoff: datetime) -> int:
    """A quarter of the history's span, between 1 and 91 days."""
    return span_share(first_event_time(events), cutoff, 4)


def _next_window_targets(
    events: pl.LazyFrame | pl.DataFrame,
    start: datetime,
    end: datetime,
    user_ids: tuple[str, ...],
    vocab: Vocabulary,
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """What each user did in ``(start, end]`` (standardised numbers) and their category mix."""
    window = events.lazy().filter((pl.col(EVENT_TIME) > start) & (pl.col(EVENT_TIME) <= end))
    is_buy = pl.col(EVENT_TYPE) == EventType.PURCHASE.value
    numbers = (
        window.group_by(USER_ID)
        .agg(
            pl.col(REVENUE).filter(is_buy).sum().alias("revenue"),
            pl.col(ORDER_ID).filter(is_buy).n_unique().alias("orders"),
            is_buy.sum().alias("purchase_events"),
            pl.col(EVENT_TIME).dt.date().n_unique().alias("active_days"),
            pl.len().alias("events"),
        )
        .collect()
    )
    index = pl.DataFrame({USER_ID: list(user_ids)}, schema={USER_ID: pl.String})
    numbers = index.join(numbers, on=USER_ID, how="left").fill_null(0)
    names = ("revenue", "orders", "purchase_events", "active_days", "events")
    x = np.log1p(numbers.select(names).to_numpy().astype(np.float64).clip(min=0))
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)
    # taste: the category mix of everything the user did up to ``end`` (history + next window)
    known = events.lazy().filter(pl.col(EVENT_TIME) <= end)
    mix = _category_mix(known, index, vocab)
    return torch.from_numpy(x.astype(np.float32)), mix, names


def _category_mix(window: pl.LazyFrame, index: pl.DataFrame, vocab: Vocabulary) -> torch.Tensor:
    n_classes = vocab.n_category_ids - 1  # every id but padding
    codes = {c: i + 2 for i, c in enumerate(vocab.categories)}
    counts = (
        window.select(USER_ID, pl.col(CATEGORY).cast(pl.String))
        .collect()
        .join(index.with_row_index("row"), on=USER_ID, how="inner")
        .with_columns(
            pl.col(CATEGORY)
            .replace_strict(codes, default=OTHER_ID, return_dtype=pl.Int64)
            .alias("cls")
        )
        .group_by("row", "cls")
        .agg(pl.len().alias("n"))
    )
    mix = np.zeros((len(index), n_classes), dtype=np.float32)
    mix[counts["row"].to_numpy(), counts["cls"].to_numpy() - 1] = counts["n"].to_numpy()
    totals = mix.sum(axis=1, keepdims=True)
    return torch.from_numpy(np.divide(mix, totals, out=np.zeros_like(mix), where=totals > 0))


def _inputs(
    features: pl.DataFrame,
    scaler: FeatureScaler,
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime,
    vocab: Vocabulary,
) -> EmbeddingInputs:
    ids = features[USER_ID]
    return EmbeddingInputs(
        user_ids=tuple(ids.to_list()),
        features=scaler.transform(features),
        sequences=build_sequences(events, cutoff, vocab, user_ids=ids),
    )


def prepare_embedding_data(
    events: pl.LazyFrame | pl.DataFrame,
    features: pl.DataFrame,
    *,
    cutoff: datetime | date | None = None,
    feature_spec: FeatureSpec | None = None,
    sequence_spec: SequenceSpec | None = None,
    horizon_days: int | None = None,
) -> EmbeddingData:
    """Tensors for ``train_user_embeddings``.

    ``features`` is the user table as of ``cutoff`` (every user to embed; built with the *resolved*
    ``feature_spec`` so that the pseudo-cutoff table has the same columns). Users of a customer
    table without events get empty sequences and no future task.
    """
    cutoff_at = to_utc(cutoff) if cutoff is not None else default_cutoff(events)
    feature_spec = feature_spec or FeatureSpec()
    vocab = build_vocabulary(events, cutoff_at, sequence_spec or SequenceSpec())
    horizon = horizon_days or _horizon_days(events, cutoff_at)
    pseudo = cutoff_at - timedelta(days=horizon)
    try:
        past = build_user_features(events, pseudo, feature_spec)
    except NotEnoughData:
        past = features.clear()
    past = past.select(features.columns) if len(past) else past
    if len(past) < MIN_TRAIN_USERS:
        scaler = FeatureScaler.fit(features)
        now = _inputs(features, scaler, events, cutoff_at, vocab)
        empty = torch.zeros((len(now), 0))
        return EmbeddingData(now, empty, empty, now, horizon, ())
    scaler = FeatureScaler.fit(past)
    train = _inputs(past, scaler, events, pseudo, vocab)
    targets, mix, names = _next_window_targets(events, pseudo, cutoff_at, train.user_ids, vocab)
    now = _inputs(features, scaler, events, cutoff_at, vocab)
    return EmbeddingData(train, targets, mix, now, horizon, names)


# --- the model ----------------------------------------------------------------------------------
class UserEncoder(nn.Module):
    """Features (MLP) + events (deep sets with attention pooling) → a ``dims``-vector per user."""

    def __init__(
        self, n_features: int, n_category_ids: int, *, dims: int, hidden: int, token_dim: int
    ) -> None:
        super().__init__()
        self.type_embedding = nn.Embedding(N_EVENT_TYPE_IDS, token_dim, padding_idx=0)
        self.category_embedding = nn.Embedding(n_category_ids, token_dim, padding_idx=0)
        self.continuous = nn.Linear(3, token_dim)
        self.token = nn.Sequential(nn.GELU(), nn.Linear(token_dim, token_dim), nn.GELU())
        self.attention = nn.Linear(token_dim, 1)
        self.feature_mlp = nn.Sequential(
            nn.Linear(max(n_features, 1), hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        self.bottleneck = nn.Sequential(
            nn.Linear(hidden + 2 * token_dim, hidden), nn.GELU(), nn.Linear(hidden, dims)
        )

    def forward(
        self,
        features: torch.Tensor,
        event_type: torch.Tensor,
        category: torch.Tensor,
        continuous: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        tokens = self.token(
            self.type_embedding(event_type)
            + self.category_embedding(category)
            + self.continuous(continuous)
        )
        weight = mask.unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        scores = self.attention(tokens).squeeze(-1).float().masked_fill(~mask, -1e4)
        attn = torch.softmax(scores, dim=1).to(tokens.dtype).unsqueeze(-1) * weight
        pooled = (tokens * attn).sum(1)
        return self.bottleneck(torch.cat([self.feature_mlp(features), mean, pooled], dim=1))


class UserEmbeddingModel(nn.Module):
    """The encoder plus three self-supervised heads: features, next-window numbers, taste."""

    def __init__(
        self,
        n_features: int,
        n_category_ids: int,
        n_targets: int,
        *,
        dims: int = 32,
        hidden: int = 96,
        token_dim: int = 32,
    ) -> None:
        super().__init__()
        self.encoder = UserEncoder(
            n_features, n_category_ids, dims=dims, hidden=hidden, token_dim=token_dim
        )

        def head(out: int, inputs: int) -> nn.Module:
            return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, out))

        # the first ``taste`` numbers carry the category taste, the rest value and activity, so
        # neither can crowd the other out of the embedding
        self.taste = self.taste_dims(dims)
        self.reconstruct = head(max(n_features, 1), dims)
        self.future = head(max(n_targets, 1), dims - self.taste)
        self.categories = head(n_category_ids - 1, self.taste)

    @staticmethod
    def taste_dims(dims: int) -> int:
        """How many leading embedding numbers carry taste (the rest carry value and activity)."""
        return dims - max(1, dims // 4)

    def forward(
        self,
        features: torch.Tensor,
        event_type: torch.Tensor,
        category: torch.Tensor,
        continuous: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(features, event_type, category, continuous, mask)
        taste, value = z[:, : self.taste], z[:, self.taste :]
        return z, self.reconstruct(z), self.future(value), self.categories(taste)


# --- training -----------------------------------------------------------------------------------
@dataclass
class EmbeddingResult:
    """Embeddings of every user as of the cutoff, with how they were learned."""

    user_ids: tuple[str, ...]
    embeddings: np.ndarray  # float32 (n_users, dims)
    loss_curve: list[float]  # mean training loss per epoch
    device: str  # e.g. "CPU (2 threads)" or "NVIDIA H200"
    seconds: float
    epochs: int
    train_users: int
    horizon_days: int
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    model_args: dict[str, Any] = field(default_factory=dict)

    def state_bytes(self) -> bytes:
        """The model's ``state_dict`` as bytes for ``Workspace.write_bytes``."""
        buffer = io.BytesIO()
        torch.save(self.state_dict, buffer)
        return buffer.getvalue()


def load_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """A ``state_dict`` saved by ``EmbeddingResult.state_bytes`` (``weights_only=True``: safe)."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _batch(inputs: EmbeddingInputs, idx: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    seq = inputs.sequences
    parts = [
        inputs.features[idx],
        seq.event_type[idx],
        seq.category[idx],
        _continuous(seq, idx),
        seq.mask[idx],
    ]
    return [p.to(device, non_blocking=True) for p in parts]


def _continuous(seq: UserSequences, idx: torch.Tensor) -> torch.Tensor:
    return torch.stack([seq.log_gap[idx], seq.log_age[idx], seq.log_value[idx]], dim=-1)


def _corrupt(
    batch: list[torch.Tensor], config: EmbeddingConfig, generator: torch.Generator
) -> list[torch.Tensor]:
    """Mask a share of the features (set to the mean, 0) and drop a share of the events."""
    features, event_type, category, continuous, mask = batch
    keep_f = torch.rand(features.shape, generator=generator) >= config.feature_mask_rate
    keep_e = torch.rand(mask.shape, generator=generator) >= config.event_drop_rate
    keep_f, keep_e = keep_f.to(features.device), keep_e.to(mask.device)
    return [features * keep_f, event_type, category, continuous, mask & keep_e]


def _loss(
    outputs: tuple[torch.Tensor, ...],
    clean_features: torch.Tensor,
    targets: torch.Tensor | None,
    mix: torch.Tensor | None,
    config: EmbeddingConfig,
) -> torch.Tensor:
    _, recon, future, next_cat = (o.float() for o in outputs)
    loss = F.mse_loss(recon[:, : clean_features.shape[1]], clean_features)
    if targets is not None and targets.shape[1]:
        loss = loss + config.future_weight * F.mse_loss(future[:, : targets.shape[1]], targets)
    if mix is not None and mix.shape[1]:
        has = (mix.sum(1) > 0).float()
        ce = -(mix * torch.log_softmax(next_cat, dim=1)).sum(1)
        loss = loss + config.future_weight * (ce * has).sum() / has.sum().clamp(min=1.0)
    return loss


def _subsample(data: EmbeddingData, limit: int, generator: torch.Generator) -> torch.Tensor:
    n = len(data.train)
    if n <= limit:
        return torch.arange(n)
    return torch.randperm(n, generator=generator)[:limit].sort().values


class _AdamW:
    """AdamW with a warm-up then cosine learning rate, in a few lines of tensor maths.

    ``torch.optim`` imports ``torch._dynamo`` when the first optimizer is built, which takes 3-40 s
    on a laptop CPU (longer than training the demo store); this avoids that import entirely.
    """

    def __init__(self, params: list[nn.Parameter], config: EmbeddingConfig, total: int) -> None:
        self.params = params
        self.lr, self.wd, self.total = config.learning_rate, config.weight_decay, max(total, 1)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def rate(self) -> float:
        warm = max(1, self.total // 5)
        if self.t <= warm:
            return self.lr * self.t / warm
        done = (self.t - warm) / max(1, self.total - warm)
        return self.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))

    @torch.no_grad()
    def step(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.t += 1
        lr = self.rate()
        c1, c2 = 1 - beta1**self.t, 1 - beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            p.mul_(1 - lr * self.wd)
            p.addcdiv_(m / c1, (v / c2).sqrt_().add_(eps), value=-lr)


def train_user_embeddings(
    data: EmbeddingData,
    *,
    device: torch.device,
    seed: int = 7,
    config: EmbeddingConfig = EmbeddingConfig(),
    progress: Progress = no_progress,
) -> EmbeddingResult:
    """Train the encoder self-supervised on ``data.train``, then embed every user of ``data.embed``.

    Reproducible for a given seed and device (with ``config.max_seconds=None``).
    """
    started = time.perf_counter()
    generator = seed_everything(seed)
    model_args = {
        "n_features": int(data.train.features.shape[1]),
        "n_category_ids": data.train.sequences.vocabulary.n_category_ids,
        "n_targets": int(data.targets.shape[1]),
        "dims": config.dims,
        "hidden": config.hidden,
        "token_dim": config.token_dim,
    }
    model = UserEmbeddingModel(**model_args).to(device)
    rows = _subsample(data, config.max_train_users, generator)
    steps_per_epoch = max(1, -(-len(rows) // config.batch_size))
    optimizer = _AdamW(list(model.parameters()), config, steps_per_epoch * config.epochs)
    curve: list[float] = []
    threads = torch.get_num_threads()
    if device.type == "cpu" and config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    label = device_label(device)  # while the training thread cap holds, so the UI tells the truth
    try:
        for epoch in range(config.epochs):
            curve.append(_train_epoch(model, optimizer, data, rows, device, config, generator))
            progress((epoch + 1) / config.epochs, f"Learning user embeddings (epoch {epoch + 1})")
            if config.max_seconds and time.perf_counter() - started > config.max_seconds:
                break
    finally:
        torch.set_num_threads(threads)
    embeddings = embed_users(model.encoder, data.embed, device)
    return EmbeddingResult(
        user_ids=data.embed.user_ids,
        embeddings=embeddings,
        loss_curve=curve,
        device=label,
        seconds=time.perf_counter() - started,
        epochs=len(curve),
        train_users=len(rows),
        horizon_days=data.horizon_days,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        model_args=model_args,
    )


def _train_epoch(
    model: UserEmbeddingModel,
    optimizer: _AdamW,
    data: EmbeddingData,
    rows: torch.Tensor,
    device: torch.device,
    config: EmbeddingConfig,
    generator: torch.Generator,
) -> float:
    model.train()
    order = rows[torch.randperm(len(rows), generator=generator)]
    total, batches = 0.0, 0
    for start in range(0, len(order), config.batch_size):
        idx = order[start : start + config.batch_size]
        batch = _batch(data.train, idx, device)
        targets = data.targets[idx].to(device) if data.targets.shape[1] else None
        mix = data.target_categories[idx].to(device) if data.target_categories.shape[1] else None
        with autocast_context(device):
            outputs = model(*_corrupt(batch, config, generator))
        loss = _loss(outputs, batch[0], targets, mix, config)
        model.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, batches = total + float(loss.detach()), batches + 1
    return total / max(batches, 1)


@torch.no_grad()
def embed_users(
    encoder: UserEncoder, inputs: EmbeddingInputs, device: torch.device, batch_size: int = 4096
) -> np.ndarray:
    """The embedding of every user in ``inputs`` (float32, rows in ``inputs.user_ids`` order)."""
    encoder.eval()
    out = []
    for start in range(0, len(inputs), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(inputs)))
        with autocast_context(device):
            out.append(encoder(*_batch(inputs, idx, device)).float().cpu())
    return torch.cat(out).numpy().astype(np.float32)


def config_dict(config: EmbeddingConfig) -> dict[str, Any]:
    """The config as plain JSON-able values (for run records)."""
    return asdict(config)
