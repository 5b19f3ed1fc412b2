"""Canonical events → padded per-user tensors: the last N events of every user as of a cutoff.

Shared by every sequence model (user embeddings, the next-category predictor, the recommender).

Usage::

    vocab = build_vocabulary(events, cutoff, SequenceSpec(max_len=64))   # once, on training data
    seqs = build_sequences(events, cutoff, vocab, user_ids=features["user_id"])
    seqs.event_type      # LongTensor (n_users, max_len)
    seqs.mask            # BoolTensor (n_users, max_len), True where an event is

Layout of one row (one user), oldest kept event first, padding at the end::

    position      0      1      2     ...   length-1   length ... max_len-1
    event_type    3      1      4            1          0 (pad)
    mask          True   True   True         True       False

Ids: 0 is padding everywhere; for categories and items 1 means "another one" (outside the
vocabulary, or missing); known values start at 2. Event-type ids are ``1 + index`` in
``analytics.core.schema.EventType`` order (view=1, cart=2, fav=3, purchase=4, refund=5, other=6).

Continuous channels (float32, 0 at padding):

- ``log_gap``: ``log1p`` of hours since the user's previous kept event (0 for the first one);
- ``log_age``: ``log1p`` of days between the event and the cutoff;
- ``log_value``: ``log1p`` of the event's revenue (purchases) or price (other events), ≥ 0.

History is every event with ``event_time <= cutoff`` (UTC, inclusive), as in
``analytics.features.user_features.history``.
Users asked for in ``user_ids`` without any event get an all-padding
row (``length == 0``), so rows always line up with a feature table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl
import torch

from analytics.core.errors import NotEnoughData
from analytics.core.schema import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    REVENUE,
    USER_ID,
    EventType,
)
from analytics.features.user_features import history, to_utc

__all__ = [
    "EVENT_TYPE_IDS",
    "OTHER_ID",
    "PAD_ID",
    "SequenceSpec",
    "UserSequences",
    "Vocabulary",
    "build_sequences",
    "build_vocabulary",
]

PAD_ID = 0
OTHER_ID = 1
EVENT_TYPE_IDS: dict[str, int] = {e.value: i + 1 for i, e in enumerate(EventType)}
N_EVENT_TYPE_IDS = len(EVENT_TYPE_IDS) + 1  # with padding


@dataclass(frozen=True)
class SequenceSpec:
    """How much of each history to keep and how large the vocabularies are.

    max_len: the last ``max_len`` events per user are kept (older ones dropped).
    max_categories: the most frequent categories get their own id; the rest share ``OTHER_ID``.
    max_items: the same for items; 0 skips items (every item id is then ``OTHER_ID``).
    """

    max_len: int = 64
    max_categories: int = 50
    max_items: int = 0


@dataclass(frozen=True)
class Vocabulary:
    """Category and item vocabularies; id of ``categories[i]`` is ``i + 2``."""

    categories: tuple[str, ...]
    items: tuple[str, ...]
    max_len: int

    @property
    def n_category_ids(self) -> int:
        """Embedding-table size for categories (padding and "other" included)."""
        return len(self.categories) + 2

    @property
    def n_item_ids(self) -> int:
        return len(self.items) + 2


@dataclass(frozen=True)
class UserSequences:
    """Padded tensors, one row per user in ``user_ids`` order (see the module docstring)."""

    user_ids: tuple[str, ...]
    event_type: torch.Tensor  # int64 (n, L)
    category: torch.Tensor  # int64 (n, L)
    item: torch.Tensor  # int64 (n, L)
    log_gap: torch.Tensor  # float32 (n, L)
    log_age: torch.Tensor  # float32 (n, L)
    log_value: torch.Tensor  # float32 (n, L)
    mask: torch.Tensor  # bool (n, L)
    lengths: torch.Tensor  # int64 (n,)
    vocabulary: Vocabulary
    cutoff: datetime

    def __len__(self) -> int:
        return len(self.user_ids)

    def continuous(self) -> torch.Tensor:
        """The three continuous channels stacked: float32 (n, L, 3)."""
        return torch.stack([self.log_gap, self.log_age, self.log_value], dim=-1)


def _top_values(lf: pl.LazyFrame, column: str, n: int) -> tuple[str, ...]:
    if n <= 0:
        return ()
    top = (
        lf.filter(pl.col(column).is_not_null())
        .group_by(column)
        .agg(pl.len().alias("n"))
        .sort(["n", column], descending=[True, False])
        .head(n)
        .collect()
    )
    return tuple(str(v) for v in top[column].to_list())


def build_vocabulary(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime | date,
    spec: SequenceSpec = SequenceSpec(),
) -> Vocabulary:
    """The most frequent categories and items in the history up to ``cutoff``."""
    lf = history(events, cutoff)
    return Vocabulary(
        categories=_top_values(lf, CATEGORY, spec.max_categories),
        items=_top_values(lf, ITEM_ID, spec.max_items),
        max_len=spec.max_len,
    )


def _id_expr(column: str, values: tuple[str, ...]) -> pl.Expr:
    if not values:
        return pl.lit(OTHER_ID, dtype=pl.Int64)
    mapping = pl.DataFrame({"key": list(values), "id": np.arange(2, len(values) + 2)})
    return (
        pl.col(column)
        .cast(pl.String)
        .replace_strict(mapping["key"], mapping["id"], default=OTHER_ID, return_dtype=pl.Int64)
    )


def _last_events(
    events: pl.LazyFrame | pl.DataFrame, cutoff: datetime, vocab: Vocabulary
) -> pl.DataFrame:
    """The kept events, one row each, with their ids, channels and position within the user."""
    is_buy = pl.col(EVENT_TYPE) == EventType.PURCHASE.value
    value = pl.when(is_buy).then(pl.col(REVENUE)).otherwise(pl.col(PRICE))
    type_ids = pl.DataFrame(
        {"t": list(EVENT_TYPE_IDS), "id": list(EVENT_TYPE_IDS.values())},
    )
    return (
        history(events, cutoff)
        .select(
            pl.col(USER_ID).cast(pl.String),
            pl.col(EVENT_TIME),
            pl.col(EVENT_TYPE)
            .cast(pl.String)
            .replace_strict(type_ids["t"], type_ids["id"], default=EVENT_TYPE_IDS["other"])
            .cast(pl.Int64)
            .alias("type_id"),
            _id_expr(CATEGORY, vocab.categories).alias("cat_id"),
            _id_expr(ITEM_ID, vocab.items).alias("item_id"),
            value.fill_null(0.0).clip(lower_bound=0.0).log1p().cast(pl.Float32).alias("value"),
        )
        .sort([USER_ID, EVENT_TIME], maintain_order=True)
        .with_columns(pl.int_range(pl.len()).reverse().over(USER_ID).alias("from_end"))
        .filter(pl.col("from_end") < vocab.max_len)
        .with_columns(
            pl.int_range(pl.len()).over(USER_ID).alias("pos"),
            (pl.col(EVENT_TIME).diff().over(USER_ID).dt.total_seconds(fractional=True) / 3600.0)
            .fill_null(0.0)
            .clip(lower_bound=0.0)
            .log1p()
            .cast(pl.Float32)
            .alias("gap"),
            ((pl.lit(cutoff) - pl.col(EVENT_TIME)).dt.total_seconds(fractional=True) / 86400.0)
            .clip(lower_bound=0.0)
            .log1p()
            .cast(pl.Float32)
            .alias("age"),
        )
        .collect()
    )


def build_sequences(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime | date,
    vocab: Vocabulary,
    user_ids: pl.Series | list[str] | None = None,
) -> UserSequences:
    """Padded tensors of the last ``vocab.max_len`` events per user, as of ``cutoff`` (UTC).

    ``user_ids`` fixes the rows (e.g. a feature table's ``user_id`` column); by default every user
    with history, sorted. ``NotEnoughData`` when there is no user at all.
    """
    cutoff_at = to_utc(cutoff)
    kept = _last_events(events, cutoff_at, vocab)
    if user_ids is None:
        ids = kept[USER_ID].unique().sort()
    else:
        ids = pl.Series(USER_ID, list(user_ids), dtype=pl.String)
    if len(ids) == 0:
        raise NotEnoughData("There are no customers with activity before the cutoff.")
    index = pl.DataFrame({USER_ID: ids, "row": np.arange(len(ids))})
    kept = kept.join(index, on=USER_ID, how="inner")
    rows = kept["row"].to_numpy()
    cols = kept["pos"].to_numpy()
    shape = (len(ids), vocab.max_len)

    def dense(column: str, dtype: type) -> torch.Tensor:
        out: np.ndarray = np.zeros(shape, dtype=dtype)
        out[rows, cols] = kept[column].to_numpy()
        return torch.from_numpy(out)

    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return UserSequences(
        user_ids=tuple(ids.to_list()),
        event_type=dense("type_id", np.int64),
        category=dense("cat_id", np.int64),
        item=dense("item_id", np.int64),
        log_gap=dense("gap", np.float32),
        log_age=dense("age", np.float32),
        log_value=dense("value", np.float32),
        mask=torch.from_numpy(mask),
        lengths=torch.from_numpy(mask.sum(axis=1).astype(np.int64)),
        vocabulary=vocab,
        cutoff=cutoff_at,
    )
