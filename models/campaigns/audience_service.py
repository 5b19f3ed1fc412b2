"""The audience half of the campaigns service: what an audience can use, previews, saved lists.

A saved audience is ``audience_artifact(slug)`` (``user_id``) plus an ``audience`` record saying
whether it is dynamic (its rules re-run on the current data wherever it is used) or a fixed list.
Pages reach these through ``models.campaigns.service``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from analytics.core.artifacts import (
    EVENTS,
    RFM,
    SEGMENTS,
    UPLIFT,
    USERS,
    audience_artifact,
    campaign_artifact,
    scores_artifact,
    slug,
)
from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import (
    ARM,
    EVENT_TIME,
    EVENT_TYPE,
    REVENUE,
    USER_ID,
)
from analytics.core.workspace import Workspace
from analytics.features.user_features import (
    default_cutoff,
)
from models.campaigns.audience import (
    AudienceInputs,
    AudienceSpec,
    AudienceSummary,
    select_audience,
    spec_from_dict,
    spec_to_dict,
    summarize_audience,
)

__all__ = [
    "SavedAudience",
    "audience_inputs",
    "best_arm_uplift",
    "list_audiences",
    "preview_audience",
    "save_audience",
]

_SCORES = scores_artifact("")  # every predictor's scores artifact starts so
_AUDIENCES = audience_artifact("")


# --- inputs ---------------------------------------------------------------------------------------
def _last_purchase(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    lf = ws.scan_frame(dataset, EVENTS)
    if lf is None:
        return None
    return (
        lf.filter(pl.col(EVENT_TYPE).cast(pl.String) == "purchase")
        .group_by(USER_ID)
        .agg(pl.col(EVENT_TIME).max().alias("last_purchase"))
        .collect()
    )


def _base_users(ws: Workspace, dataset: str) -> pl.DataFrame:
    """Every known user: the users table, plus users seen only in events."""
    users = ws.read_frame(dataset, USERS)
    lf = ws.scan_frame(dataset, EVENTS)
    seen = None if lf is None else lf.select(pl.col(USER_ID).cast(pl.String)).unique().collect()
    if users is None:
        if seen is None or seen.height == 0:
            raise NotEnoughData(f"'{dataset}' has no users.")
        return seen.sort(USER_ID)
    users = users.with_columns(pl.col(USER_ID).cast(pl.String))
    if seen is not None:
        extra = seen.join(users.select(USER_ID), on=USER_ID, how="anti")
        users = pl.concat([users, extra], how="diagonal_relaxed")
    return users


def audience_inputs(ws: Workspace, dataset: str) -> AudienceInputs:
    """Everything an audience can refer to in ``dataset`` (missing pieces are ``None``/empty)."""
    ws.dataset(dataset)
    names = ws.list_artifacts(dataset)
    scores = {
        n.removeprefix(_SCORES): ws.read_frame(dataset, n) for n in names if n.startswith(_SCORES)
    }
    uplift = ws.read_frame(dataset, UPLIFT)
    if uplift is not None:
        best = best_arm_uplift(uplift)
        scores["uplift"] = best.select(
            USER_ID, pl.col("uplift").alias("score"),
            (pl.col("uplift").rank("average") / pl.len() * 100).alias("percentile"),
            (pl.col("uplift").rank("average") / pl.len() * 100).round().alias("score_100"),
        )  # fmt: skip
    running = {r.key: r for r in ws.list_records("campaign", dataset) if r.payload.get("exported")}
    campaigns = {k: ws.read_frame(dataset, campaign_artifact(k)) for k in running}
    last = _last_purchase(ws, dataset)
    now = None
    lf = ws.scan_frame(dataset, EVENTS)
    if lf is not None:
        now = lf.select(pl.col(EVENT_TIME).max()).collect().item()
    inputs = AudienceInputs(
        users=_base_users(ws, dataset),
        segments=ws.read_frame(dataset, SEGMENTS),
        rfm=ws.read_frame(dataset, RFM) if RFM in names else _rfm(ws, dataset),
        scores={k: v for k, v in scores.items() if v is not None},
        campaigns={k: v for k, v in campaigns.items() if v is not None},
        last_purchase=last if last is not None and last.height else None,
        now=now,
    )  # fmt: skip
    return _with_audiences(ws, dataset, inputs)


def _rfm(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    lf = ws.scan_frame(dataset, EVENTS)
    if lf is None or lf.select(pl.len()).collect().item() == 0:
        return None
    from analytics.features.rfm import rfm_table

    return rfm_table(lf, default_cutoff(lf))


def best_arm_uplift(uplift: pl.DataFrame, arm: str | None = None) -> pl.DataFrame:
    """One row per user: the given arm, or the arm with the highest mean uplift."""
    if arm is None:
        arm = uplift.group_by(ARM).agg(pl.col("uplift").mean()).sort("uplift")[ARM][-1]
    elif arm not in uplift[ARM].unique().to_list():
        raise SpecError(f"The uplift model has no arm '{arm}'.")
    return uplift.filter(pl.col(ARM) == arm)


def preview_audience(
    ws: Workspace, dataset: str, spec: AudienceSpec, inputs: AudienceInputs | None = None
) -> tuple[pl.DataFrame, AudienceSummary]:
    """The selected users and their live size, value and overlap."""
    inputs = inputs or audience_inputs(ws, dataset)
    selected = select_audience(inputs, spec)
    value, label = _value_frame(ws, dataset, inputs)
    return selected, summarize_audience(selected, inputs, value, label)


def _value_frame(
    ws: Workspace, dataset: str, inputs: AudienceInputs
) -> tuple[pl.DataFrame | None, str]:
    revenue = inputs.scores.get("revenue")
    if revenue is not None:
        return revenue.select(USER_ID, pl.col("score").alias("value")), "predicted revenue, 28 days"
    lf = ws.scan_frame(dataset, EVENTS)
    if lf is None:
        return None, ""
    hist = lf.group_by(USER_ID).agg(pl.col(REVENUE).fill_null(0).sum().alias("value")).collect()
    return hist, "revenue to date"


@dataclass(frozen=True)
class SavedAudience:
    """A saved audience: ``dynamic`` re-runs its rules on the current data wherever it is used;
    a fixed one is the list of customers it held when saved (a map selection, a snapshot)."""

    name: str
    size: int
    dynamic: bool
    source: str
    spec: AudienceSpec | None = None

    def summary(self) -> dict[str, Any]:
        kind = "dynamic" if self.dynamic else "fixed"
        rules = None if self.spec is None else spec_to_dict(self.spec)
        return {"audience": self.name, "size": self.size, "kind": kind, "source": self.source,
                "rules": rules}  # fmt: skip


def _saved(record_key: str, payload: dict[str, Any]) -> SavedAudience:
    """A saved audience from its record (records from before ``kind`` are fixed lists)."""
    spec = payload.get("rules")
    return SavedAudience(
        record_key,
        int(payload.get("size", 0)),
        payload.get("kind") == "dynamic",
        str(payload.get("source", "audience builder")),
        spec_from_dict(AudienceSpec, spec) if isinstance(spec, dict) else None,
    )


def save_audience(
    ws: Workspace,
    dataset: str,
    name: str,
    *,
    rules: AudienceSpec | None = None,
    user_ids: Sequence[str] | pl.Series | None = None,
    dynamic: bool = True,
    source: str | None = None,
) -> SavedAudience:
    """Save ``rules`` (dynamic, or a fixed snapshot with ``dynamic=False``) or ``user_ids`` (a
    fixed list) as ``audience_artifact(slug(name))`` plus an ``audience`` record."""
    key = slug(name)
    if not any(ch.isascii() and ch.isalnum() for ch in str(name)):
        raise SpecError("Give the audience a name (letters, digits, '_', '-' or '.').")
    if (rules is None) == (user_ids is None):
        raise SpecError("Save an audience from rules or from a list of customers, not both.")
    ws.dataset(dataset)
    if rules is not None:
        ids = preview_audience(ws, dataset, rules)[0][USER_ID]
        saved = SavedAudience(key, ids.len(), dynamic, source or "audience builder", rules)
    else:
        ids = pl.Series(USER_ID, list(user_ids or []), dtype=pl.String).unique(maintain_order=True)
        if ids.len() == 0:
            raise SpecError("The selection is empty: draw a lasso or a box around some customers.")
        saved = SavedAudience(key, ids.len(), False, source or "a list of customers")
    ws.write_frame(dataset, audience_artifact(key), ids.cast(pl.String).to_frame())
    summary = saved.summary()
    ws.put_record("audience", dataset, key, {k: v for k, v in summary.items() if k != "audience"})
    return saved


def list_audiences(ws: Workspace, dataset: str) -> list[SavedAudience]:
    """The saved audiences of ``dataset``, newest first, each saying whether it is dynamic."""
    return [_saved(r.key, r.payload) for r in ws.list_records("audience", dataset)]


def _with_audiences(ws: Workspace, dataset: str, inputs: AudienceInputs) -> AudienceInputs:
    """``inputs`` with every saved audience: fixed ones as stored, dynamic ones re-run on the
    current data (oldest first, so one may build on an older one)."""
    lists: dict[str, pl.DataFrame] = {}
    saved = {a.name: a for a in list_audiences(ws, dataset)}
    for name in ws.list_artifacts(dataset):
        if name.startswith(_AUDIENCES):
            frame = ws.read_frame(dataset, name)
            if frame is not None:
                lists[name.removeprefix(_AUDIENCES)] = frame
    kinds = {n: ("dynamic" if n in saved and saved[n].dynamic else "fixed") for n in lists}
    inputs = dataclasses.replace(inputs, audiences=lists, audience_kinds=kinds)
    for audience in reversed(list(saved.values())):
        if audience.dynamic and audience.spec is not None and audience.name in lists:
            try:
                lists[audience.name] = select_audience(inputs, audience.spec)
            except SpecError:  # its rules no longer apply (e.g. segments deleted): the snapshot
                kinds[audience.name] = "fixed (its rules no longer apply)"
    return inputs
