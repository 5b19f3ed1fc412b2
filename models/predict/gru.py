"""Deep sequence predictor: a GRU over each user's last events, for purchase or next category.

(Formerly ``models/sequence.py``; the tensor builder it reads from, once ``models/sequences.py``,
is now ``analytics.features.sequences``: padded event type, category, time gaps, age, value.)
The module holds only the forward pass; ``train_sequence_model`` is a plain function taking the
device, the seed and a config, returning a result with the trained weights. On CUDA the forward
passes run under bf16 autocast (``analytics.core.device``); results differ across devices only by
floating-point noise. Attribution for single users: gradient × input on the embeddings
(``event_attribution``), since TreeSHAP does not apply to a network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from analytics.core.device import autocast_context, device_label, seed_everything
from analytics.core.errors import NotEnoughData
from analytics.core.timing import Stopwatch
from analytics.features.sequences import N_EVENT_TYPE_IDS, UserSequences

__all__ = [
    "EventGRU",
    "SequenceConfig",
    "SequenceResult",
    "predict_sequence",
    "train_sequence_model",
]


@dataclass(frozen=True)
class SequenceConfig:
    """Model size and training budget (small: it must train in seconds on a laptop CPU)."""

    embed_dim: int = 16
    hidden: int = 32
    epochs: int = 4
    batch_size: int = 256
    learning_rate: float = 3e-3
    valid_fraction: float = 0.2
    max_train_users: int = 20_000  # CPU budget; every user is still scored


class EventGRU(nn.Module):
    """Embeddings of event type and category + 3 continuous channels → GRU → output logits."""

    def __init__(self, n_categories: int, n_out: int, embed_dim: int = 16, hidden: int = 32):
        super().__init__()
        self.type_embedding = nn.Embedding(N_EVENT_TYPE_IDS, embed_dim, padding_idx=0)
        self.category_embedding = nn.Embedding(n_categories, embed_dim, padding_idx=0)
        self.continuous = nn.Linear(3, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def embed(self, event_type, category, continuous) -> torch.Tensor:
        return (
            self.type_embedding(event_type)
            + self.category_embedding(category)
            + self.continuous(continuous)
        )

    def forward_embedded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, h = self.gru(packed)
        return self.head(h[-1])

    def forward(self, event_type, category, continuous, lengths) -> torch.Tensor:
        return self.forward_embedded(self.embed(event_type, category, continuous), lengths)


@dataclass
class SequenceResult:
    """A trained sequence model, where and how fast it trained."""

    model: EventGRU
    n_out: int
    device: str
    seconds: float
    epochs: int
    best_valid_loss: float

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}


def _tensors(seqs: UserSequences, rows: np.ndarray, device: torch.device):
    idx = torch.from_numpy(rows)
    return (
        seqs.event_type[idx].to(device),
        seqs.category[idx].to(device),
        seqs.continuous()[idx].to(device),
        seqs.lengths[idx].to(device),
    )


def _loss_fn(n_out: int):
    return nn.BCEWithLogitsLoss() if n_out == 1 else nn.CrossEntropyLoss()


def _target(y: np.ndarray, n_out: int, device: torch.device) -> torch.Tensor:
    if n_out == 1:
        return torch.as_tensor(y, dtype=torch.float32, device=device).unsqueeze(1)
    return torch.as_tensor(y, dtype=torch.long, device=device)


def train_sequence_model(
    seqs: UserSequences,
    y: np.ndarray,
    *,
    n_out: int,
    device: torch.device,
    seed: int = 7,
    config: SequenceConfig = SequenceConfig(),
) -> SequenceResult:
    """Train on ``seqs`` rows with labels ``y`` (0/1 when ``n_out == 1``, else class codes).

    Keeps the epoch with the lowest validation loss (a random ``valid_fraction`` of users).
    """
    y = np.asarray(y)
    if len(y) < 20 or len(np.unique(y)) < 2:
        raise NotEnoughData("The sequence model needs at least 20 users and both outcomes.")
    clock = Stopwatch()
    gen = seed_everything(seed)
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(y))[: config.max_train_users]
    n_val = max(1, int(len(rows) * config.valid_fraction))
    val_rows, fit_rows = rows[:n_val], rows[n_val:]
    model = EventGRU(seqs.vocabulary.n_category_ids, n_out, config.embed_dim, config.hidden)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = _loss_fn(n_out)
    best, best_state = float("inf"), None
    for _ in range(config.epochs):
        model.train()
        order = fit_rows[torch.randperm(len(fit_rows), generator=gen).numpy()]
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            with autocast_context(device):
                out = model(*_tensors(seqs, batch, device))
            loss = loss_fn(out.float(), _target(y[batch], n_out, device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        val_loss = _evaluate(model, seqs, val_rows, y, n_out, device)
        if val_loss < best:
            best = val_loss
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    return SequenceResult(
        model.eval(),
        n_out,
        device_label(device),
        clock.seconds,
        config.epochs,
        best,
    )


@torch.no_grad()
def _evaluate(model, seqs, rows, y, n_out, device) -> float:
    model.eval()
    logits = _logits(model, seqs, rows, device)
    return float(_loss_fn(n_out)(logits, _target(y[rows], n_out, device)))


@torch.no_grad()
def _logits(model, seqs, rows, device, batch_size: int = 2048) -> torch.Tensor:
    parts = []
    for start in range(0, len(rows), batch_size):
        with autocast_context(device):
            parts.append(model(*_tensors(seqs, rows[start : start + batch_size], device)).float())
    return torch.cat(parts)


def predict_sequence(
    result: SequenceResult, seqs: UserSequences, device: torch.device
) -> np.ndarray:
    """Probabilities per user: ``(n,)`` for a binary model, ``(n, k)`` for categories."""
    model = result.model.to(device).eval()
    logits = _logits(model, seqs, np.arange(len(seqs)), device)
    if result.n_out == 1:
        return torch.sigmoid(logits[:, 0]).cpu().numpy()
    return torch.softmax(logits, dim=1).cpu().numpy()


def event_attribution(result: SequenceResult, seqs: UserSequences, row: int) -> np.ndarray:
    """Gradient × input per kept event of one user (summed over the embedding): which events
    pushed the score up or down. ``(length,)`` in the user's event order."""
    model = result.model.cpu().eval()
    et, cat, cont, lengths = _tensors(seqs, np.array([row]), torch.device("cpu"))
    x = model.embed(et, cat, cont).detach().requires_grad_(True)
    out = model.forward_embedded(x, lengths)[0, 0]
    out.backward()
    n = int(lengths[0])
    assert x.grad is not None  # backward() above filled it
    return (x.grad * x).sum(dim=-1)[0, :n].detach().numpy()
