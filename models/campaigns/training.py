"""What an uplift model learns from, and what its fit says: pure frames in, frames and dicts out.

The control arm's name, the columns of a customer-table test that may be features (no outcome of
the test, nothing measured after the send), the event features as of the send, and the summaries
of a fit that the model record and the Campaigns page show (metrics, harm warnings, SHAP).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import SpecError
from analytics.core.schema import ARM, CONSENT_EMAIL, USER_ID
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    customer_table_features,
)
from models.campaigns.uplift import UpliftFit

__all__ = [
    "OUTCOME_NAMES",
    "balance_excluded",
    "customers_training",
    "event_features",
    "guess_control",
    "harm_warnings",
    "metrics_summary",
    "shap_summary",
]

_CONTROL_RE = re.compile(
    r"^(control|ctrl|holdout|hold-out|none|no[ _-]?e-?mail|no[ _-]?mail)$", re.I
)
# names that are outcomes of a test, never features (a customer table holds them side by side)
OUTCOME_NAMES = {
    "visit", "visits", "conversion", "conversions", "converted", "spend", "spent", "response",
    "responded", "clicked", "click", "opened", "open", "redeemed", "outcome", "treatment",
}  # fmt: skip
_BALANCE_Z = 5.0  # a covariate this unbalanced between randomised arms was measured after the send


def guess_control(values: list[str], control: str | None) -> str:
    """The control arm: ``control`` when given, else the one value named like a control group."""
    if control is not None:
        return control
    hits = [v for v in values if _CONTROL_RE.match(str(v).strip())]
    if len(hits) != 1:
        raise SpecError(
            f"Which arm is the control group? Name it with --control (arms: {', '.join(values)})."
        )
    return hits[0]


def event_features(
    events: pl.LazyFrame, users: pl.DataFrame | None, cutoff: datetime, fspec: FeatureSpec
) -> pl.DataFrame:
    """Event features as of ``cutoff`` joined with the users table's own attributes."""
    feats = build_user_features(events, cutoff, fspec)
    if users is not None:
        attrs = customer_table_features(users, exclude=[CONSENT_EMAIL])
        attrs = attrs.rename({c: f"attr_{c}" for c in attrs.columns if c != USER_ID})
        feats = attrs.join(feats, on=USER_ID, how="left")
    return feats


def _num(value: Any) -> float:
    """A Polars aggregate (``mean``, ``var`` ...) as a float; None (no rows) is 0."""
    return float(value) if value is not None else 0.0


def balance_excluded(
    users: pl.DataFrame, feats: pl.DataFrame, arm: str, control: str
) -> dict[str, str]:
    """Feature columns whose mean differs between randomised arms beyond chance (|z| > 5)."""
    frame = feats.join(users.select(USER_ID, pl.col(arm).cast(pl.String).alias("_arm")), on=USER_ID)
    out: dict[str, str] = {}
    ctrl = frame.filter(pl.col("_arm") == control)
    for value in frame["_arm"].unique().drop_nulls().to_list():
        if value == control:
            continue
        treat = frame.filter(pl.col("_arm") == value)
        for col in feats.columns[1:]:
            a, b = treat[col].cast(pl.Float64), ctrl[col].cast(pl.Float64)
            se = (_num(a.var()) / max(a.len(), 1) + _num(b.var()) / max(b.len(), 1)) ** 0.5
            z = abs(_num(a.mean()) - _num(b.mean())) / se if se > 0 else 0.0
            if z > _BALANCE_Z and col not in out:
                out[col] = f"differs between arms (z = {z:.1f}): measured after the send"
    return out


def customers_training(
    users: pl.DataFrame, treatment: str, outcome: str, control: str
) -> tuple[pl.DataFrame, dict[str, str]]:
    """``user_id, arm, outcome`` + the table's pre-test columns, and the columns left out (why)."""
    for col in (treatment, outcome):
        if col not in users.columns:
            raise SpecError(f"The customer table has no column '{col}'.")
    named = [c for c in users.columns if c.lower() in OUTCOME_NAMES]
    excluded = {c: "an outcome of the test" for c in named}
    excluded |= {treatment: "the treatment", outcome: "the outcome"}
    feats = customer_table_features(users, exclude=list(excluded))
    unbalanced = balance_excluded(users, feats, treatment, control)
    feats = feats.drop(list(unbalanced))
    excluded |= unbalanced
    y = pl.col(outcome)
    if users.schema[outcome] == pl.Boolean:
        y = y.cast(pl.Float64)
    frame = users.select(
        pl.col(USER_ID).cast(pl.String),
        pl.col(treatment).cast(pl.String).alias(ARM),
        y.cast(pl.Float64).alias("outcome"),
    ).join(feats, on=USER_ID, how="left")
    return frame, excluded


def metrics_summary(fit: UpliftFit) -> dict[str, dict[str, Any]]:
    """Per arm: the chosen learner, its Qini and uplift@30%, every learner's, the calibration."""
    out = {}
    for a, m in fit.arms.items():
        chosen = m.metrics[m.learner]
        out[a] = {
            "learner": m.learner,
            "qini": chosen["qini"],
            "uplift_at_30": chosen["uplift_at_30"],
            "learners": {k: v for k, v in m.metrics.items() if k != "truth"},
            "calibration": list(m.calibration),
        }
        if "truth" in m.metrics:
            out[a]["truth_qini"] = m.metrics["truth"]["qini"]
    return out


def harm_warnings(fit: UpliftFit) -> list[str]:
    """A warning per arm when some groups of customers buy less when contacted."""
    out = []
    for a, m in fit.arms.items():
        hurt = [h for h in m.harm if h["harmed"] or (h["predicted"] < 0 and h["measured"] < 0)]
        if hurt:
            share = sum(h["users"] for h in hurt) / max(sum(h["users"] for h in m.harm), 1)
            out.append(
                f"{a}: about {share:.0%} of customers buy less when contacted (negative uplift); "
                "leave them out of the campaign."
            )
    return out


def shap_summary(fit: UpliftFit, arm: str, X: pl.DataFrame, rows: int = 2000) -> list[dict]:
    """Mean |SHAP| per feature on a sample, with the direction (does more of it raise uplift?)."""
    sample = X.sample(min(rows, X.height), seed=0)
    values = sample.to_numpy().astype(float)
    contrib = fit.arms[arm].contributions(values)[:, :-1]
    out: list[dict[str, Any]] = []
    for j, name in enumerate(X.columns):
        x, c = values[:, j], contrib[:, j]
        ok = np.isfinite(x)
        corr = (
            float(np.corrcoef(x[ok], c[ok])[0, 1])
            if ok.sum() > 2 and x[ok].std() > 0 and c[ok].std() > 0
            else 0.0
        )
        out.append({"feature": name, "importance": float(np.abs(c).mean()), "direction": corr})
    out.sort(key=lambda r: -r["importance"])
    return out[:15]
