"""Campaigns: learn uplift, build audiences, simulate, export with a control group, measure.

Pages and the CLI call these; each loads from the workspace, calls the core and persists.

Artifacts: ``uplift`` (``user_id, arm, uplift, uplift_raw, baseline``: the newest uplift model's
scores for this dataset), ``<model_id>`` (JSON card) and ``<model_id>.<part>`` (LightGBM text),
``audience_<name>`` (``user_id``), ``campaign_<name>`` (``user_id, group``: the exported list).
Records: ``model`` (payload ``kind == "uplift"``), ``audience``, ``campaign``, ``export``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import (
    ARM,
    CAMPAIGN_ID,
    CONSENT_EMAIL,
    EMAIL,
    EVENT_TIME,
    EVENT_TYPE,
    REVENUE,
    SENT_TIME,
    USER_ID,
)
from analytics.core.workspace import Workspace
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    customer_table_features,
    default_cutoff,
    resolve_feature_spec,
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
from models.campaigns.export import ExportSpec, consenting, export_bytes
from models.campaigns.measurement import (
    GROUP,
    HoldoutAdvice,
    LiftResult,
    assign_holdout,
    campaign_outcomes,
    holdout_advice,
    measure_lift,
)
from models.campaigns.simulation import (
    CampaignSpec,
    EffectModel,
    Simulation,
    compare_strategies,
    depth_curve,
    simulate_campaign,
)
from models.campaigns.uplift import (
    UpliftConfig,
    UpliftFit,
    card_parts,
    fit_uplift,
    from_artifacts,
    to_artifacts,
)

__all__ = [
    "CampaignResult",
    "ExportResult",
    "UpliftResult",
    "UpliftSpec",
    "audience_inputs",
    "campaign_frame",
    "export_campaign",
    "latest_uplift_model",
    "list_campaigns",
    "measure_campaign",
    "preview_audience",
    "save_audience",
    "save_campaign",
    "saved_campaign_spec",
    "score_uplift_model",
    "simulate",
    "train_uplift",
    "uplift_card",
]

_CONTROL_RE = re.compile(
    r"^(control|ctrl|holdout|hold-out|none|no[ _-]?e-?mail|no[ _-]?mail)$", re.I
)
# names that are outcomes of a test, never features (a customer table holds them side by side)
_OUTCOME_NAMES = {
    "visit", "visits", "conversion", "conversions", "converted", "spend", "spent", "response",
    "responded", "clicked", "click", "opened", "open", "redeemed", "outcome", "treatment",
}  # fmt: skip
_BALANCE_Z = 5.0  # a covariate this unbalanced between randomised arms was measured after the send
_AOV_PRIOR_ORDERS = 2.0  # shrink a user's average order value towards the store's
_ENGAGEMENT = "_engagement"  # active days in the outcome window (event data only): not a feature


# --- uplift ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpliftSpec:
    """A past campaign or test to learn from.

    Event data with an exposures table: ``treatment`` is the exposures column holding the arm
    (``arm``), ``outcome`` an event type (``purchase``) or ``revenue``, measured in the
    ``window_days`` after each user's ``sent_time``; features are built as of the send.
    A customer table: ``treatment`` and ``outcome`` are its columns; every other column that was
    fixed before the test is a feature. ``control``: the control arm's value (default: guessed from
    names like control / No E-Mail).
    """

    treatment: str = ARM
    outcome: str = "purchase"
    control: str | None = None
    window_days: int = 14
    campaign: str | None = None
    config: UpliftConfig = field(default_factory=UpliftConfig)


@dataclass(frozen=True)
class UpliftResult:
    """What ``train_uplift`` stored and how good it is."""

    model: str
    dataset: str
    arms: list[str]
    control: str
    outcome: str
    binary: bool
    metrics: dict[str, dict[str, Any]]
    excluded: dict[str, str]
    warnings: list[str]
    seconds: float

    def summary(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", str(text)).strip("_.-") or "x"


def _guess_control(values: list[str], control: str | None) -> str:
    if control is not None:
        return control
    hits = [v for v in values if _CONTROL_RE.match(str(v).strip())]
    if len(hits) != 1:
        raise SpecError(
            f"Which arm is the control group? Name it with --control (arms: {', '.join(values)})."
        )
    return hits[0]


def _feature_frame_events(
    ws: Workspace, dataset: str, cutoff: datetime, fspec: FeatureSpec
) -> pl.DataFrame:
    """Event features as of ``cutoff`` joined with the users table's own attributes."""
    feats = build_user_features(ws.events(dataset), cutoff, fspec)
    users = ws.read_frame(dataset, "users")
    if users is not None:
        attrs = customer_table_features(users, exclude=[CONSENT_EMAIL])
        attrs = attrs.rename({c: f"attr_{c}" for c in attrs.columns if c != USER_ID})
        feats = attrs.join(feats, on=USER_ID, how="left")
    return feats


def _events_training(
    ws: Workspace, dataset: str, spec: UpliftSpec
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``user_id, arm, outcome`` + features as of the send, for event data with exposures."""
    exposures = ws.read_frame(dataset, "exposures")
    assert exposures is not None
    if spec.treatment not in exposures.columns:
        raise SpecError(f"The exposures table has no column '{spec.treatment}'.")
    campaign = spec.campaign or exposures.sort(SENT_TIME)[CAMPAIGN_ID][-1]
    exp = exposures.filter(pl.col(CAMPAIGN_ID) == campaign).with_columns(
        pl.col(spec.treatment).cast(pl.String).alias(ARM)
    )
    if exp.height == 0:
        raise SpecError(f"No exposures for campaign '{campaign}'.")
    sent: datetime = exp[SENT_TIME].min()  # type: ignore[assignment]  # a Datetime column
    # engagement in the same window, for the engagement learner
    engagement = {_ENGAGEMENT: "active_days"} if spec.outcome != "active_days" else None
    outcomes = campaign_outcomes(
        ws.events(dataset), exp, spec.outcome, spec.window_days, extra=engagement
    )
    cutoff = sent - timedelta(microseconds=1)  # nothing from the send onwards reaches a feature
    fspec = resolve_feature_spec(ws.events(dataset), cutoff)
    feats = _feature_frame_events(ws, dataset, cutoff, fspec)
    keep = [USER_ID, ARM, "outcome", *([_ENGAGEMENT] if _ENGAGEMENT in outcomes.columns else [])]
    frame = outcomes.select(keep).join(feats, on=USER_ID, how="left")
    source = {"kind": "events", "campaign": campaign, "sent_time": str(sent)}
    source["feature_spec"] = spec_to_dict(fspec)
    return frame, source


def _balance_excluded(
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


def _customers_training(
    ws: Workspace, dataset: str, spec: UpliftSpec, control: str
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``user_id, arm, outcome`` + the table's pre-test columns, for a customer table."""
    users = ws.read_frame(dataset, "users")
    assert users is not None
    for col in (spec.treatment, spec.outcome):
        if col not in users.columns:
            raise SpecError(f"The customer table has no column '{col}'.")
    named = [c for c in users.columns if c.lower() in _OUTCOME_NAMES]
    excluded = {c: "an outcome of the test" for c in named}
    excluded |= {spec.treatment: "the treatment", spec.outcome: "the outcome"}
    feats = customer_table_features(users, exclude=list(excluded))
    unbalanced = _balance_excluded(users, feats, spec.treatment, control)
    feats = feats.drop(list(unbalanced))
    excluded |= unbalanced
    outcome = pl.col(spec.outcome)
    if users.schema[spec.outcome] == pl.Boolean:
        outcome = outcome.cast(pl.Float64)
    frame = users.select(
        pl.col(USER_ID).cast(pl.String),
        pl.col(spec.treatment).cast(pl.String).alias(ARM),
        outcome.cast(pl.Float64).alias("outcome"),
    ).join(feats, on=USER_ID, how="left")
    return frame, {"kind": "customers", "excluded": excluded}


def train_uplift(
    ws: Workspace, dataset: str, spec: UpliftSpec, progress: Progress = no_progress
) -> UpliftResult:
    """Learn uplift from the dataset's past campaign or test; store the model and its scores."""
    started = time.perf_counter()
    ws.dataset(dataset)
    progress(0.02, "Gathering the past campaign")
    exposures = ws.read_frame(dataset, "exposures")
    users = ws.read_frame(dataset, "users")
    if exposures is not None and exposures.height and spec.treatment in exposures.columns:
        arms = exposures[spec.treatment].cast(pl.String).unique().drop_nulls().sort().to_list()
        control = _guess_control(arms, spec.control)
        frame, source = _events_training(ws, dataset, spec)
    elif users is not None and spec.treatment in users.columns:
        arms = users[spec.treatment].cast(pl.String).unique().drop_nulls().sort().to_list()
        control = _guess_control(arms, spec.control)
        frame, source = _customers_training(ws, dataset, spec, control)
    else:
        raise SpecError(
            f"'{dataset}' has no past campaign with a '{spec.treatment}' column: add an exposures "
            "table (user_id, campaign_id, arm, sent_time) or name the treatment column of the "
            "customer table."
        )
    frame = frame.filter(pl.col(ARM).is_not_null() & pl.col("outcome").is_not_null())
    names = [c for c in frame.columns if c not in (USER_ID, ARM, "outcome", _ENGAGEMENT)]
    if not names:
        raise NotEnoughData("There are no columns to learn from besides treatment and outcome.")
    truth = ws.read_frame(dataset, "truth")
    true_u = None
    if truth is not None and source["kind"] == "events" and "true_uplift" in truth.columns:
        true_u = frame.select(USER_ID).join(truth, on=USER_ID, how="left")["true_uplift"].to_numpy()
    fit = fit_uplift(
        frame.select(names).to_numpy().astype(float), frame[ARM].to_numpy(),
        frame["outcome"].to_numpy(), control=control, feature_names=names, config=spec.config,
        true_uplift=true_u, progress=scaled(progress, 0.1, 0.85),
        aux=frame[_ENGAGEMENT].fill_null(0.0).to_numpy() if _ENGAGEMENT in frame.columns else None,
    )  # fmt: skip
    model_id = _slug(f"uplift-{dataset}-{spec.outcome}")[:80]
    card, texts = to_artifacts(fit)
    card |= {"source": source, "spec": spec_to_dict(spec), "model_id": model_id}
    card["shap"] = {a: _shap_summary(fit, a, frame.select(names)) for a in fit.arms}
    for part, text in texts.items():
        ws.write_bytes(dataset, f"{model_id}.{part}", text.encode())
    ws.write_json(dataset, model_id, card)
    metrics = _metrics_summary(fit)
    warnings = _harm_warnings(fit)
    seconds = time.perf_counter() - started
    ws.put_record(
        "model",
        dataset,
        model_id,
        {
            "kind": "uplift",
            "target": "uplift",
            "outcome": spec.outcome,
            "treatment": spec.treatment,
            "control": control,
            "arms": list(fit.arms),
            "metrics": metrics,
            "baseline": "random targeting (Qini 0)",
            "device": "cpu",
            "seconds": seconds,
            "artifacts": [model_id, *(f"{model_id}.{p}" for p in texts)],
            "warnings": warnings,
            "binary": fit.binary,
        },
    )
    progress(0.9, "Scoring every customer")
    score_uplift_model(ws, model_id, dataset)
    progress(1.0, "Uplift model ready")
    excluded = source.get("excluded", {})
    return UpliftResult(
        model_id, dataset, list(fit.arms), control, spec.outcome, fit.binary, metrics, excluded,
        warnings, seconds,
    )  # fmt: skip


def _metrics_summary(fit: UpliftFit) -> dict[str, dict[str, Any]]:
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


def _harm_warnings(fit: UpliftFit) -> list[str]:
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


def _shap_summary(fit: UpliftFit, arm: str, X: pl.DataFrame, rows: int = 2000) -> list[dict]:
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


def _find_model(ws: Workspace, model_id: str) -> tuple[str, dict[str, Any]]:
    for rec in ws.list_records("model"):
        if rec.key == model_id and rec.payload.get("kind") == "uplift":
            card = ws.read_json(rec.dataset, model_id)
            if card is not None:
                return rec.dataset, card
    raise SpecError(f"There is no uplift model '{model_id}'; train one with the uplift command.")


def uplift_card(ws: Workspace, model_id: str) -> dict[str, Any]:
    """The stored card of an uplift model (metrics, curves, SHAP, harm)."""
    return _find_model(ws, model_id)[1]


def latest_uplift_model(ws: Workspace, dataset: str) -> str | None:
    """The id of the newest uplift model trained on ``dataset``, if any."""
    for rec in ws.list_records("model", dataset):
        if rec.payload.get("kind") == "uplift":
            return rec.key
    return None


def _load_fit(ws: Workspace, home: str, card: dict[str, Any]) -> UpliftFit:
    texts = {}
    for part in card_parts(card):
        data = ws.read_bytes(home, f"{card['model_id']}.{part}")
        if data is None:
            raise SpecError(f"Part '{part}' of uplift model {card['model_id']} is missing.")
        texts[part] = data.decode()
    return from_artifacts(card, texts)


def _scoring_features(ws: Workspace, dataset: str, card: dict[str, Any]) -> pl.DataFrame:
    source = card["source"]
    if source["kind"] == "events":
        fspec = spec_from_dict(FeatureSpec, source["feature_spec"])
        return _feature_frame_events(ws, dataset, default_cutoff(ws.events(dataset)), fspec)
    users = ws.read_frame(dataset, "users")
    if users is None:
        raise SpecError(f"'{dataset}' has no customer table to score.")
    return customer_table_features(users, exclude=list(source.get("excluded", {})))


def score_uplift_model(ws: Workspace, model_id: str, dataset: str) -> pl.DataFrame:
    """``user_id, arm, uplift`` (one row per user and treatment arm) for every user of ``dataset``.

    ``uplift`` is the calibrated expected change in the outcome if the user is contacted with that
    arm (e.g. +0.03 = three more purchases per hundred users). Also stores the ``uplift`` artifact
    of ``dataset`` (with ``uplift_raw`` for ranking and ``baseline`` = outcome without contact).
    """
    home, card = _find_model(ws, model_id)
    fit = _load_fit(ws, home, card)
    feats = _scoring_features(ws, dataset, card)
    missing = [c for c in fit.feature_names if c not in feats.columns]
    # a one-hot level or window absent from this dataset is 0 / unknown, never an error
    feats = feats.with_columns([pl.lit(None, pl.Float64).alias(c) for c in missing])
    X = feats.select(fit.feature_names).to_numpy().astype(float)
    base = fit.predict_baseline(X)
    parts = []
    for a, m in fit.arms.items():
        parts.append(
            pl.DataFrame({
                USER_ID: feats[USER_ID].cast(pl.String), ARM: [a] * feats.height,
                "uplift": m.predict(X), "uplift_raw": m.predict_raw(X), "baseline": base,
            })
        )  # fmt: skip
    scores = pl.concat(parts).sort(USER_ID, ARM)
    ws.write_frame(dataset, "uplift", scores, meta={"model": model_id})
    return scores.select(USER_ID, ARM, "uplift")


# --- audiences ------------------------------------------------------------------------------------
def _last_purchase(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    lf = ws.scan_frame(dataset, "events")
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
    users = ws.read_frame(dataset, "users")
    lf = ws.scan_frame(dataset, "events")
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
        n.removeprefix("scores_"): ws.read_frame(dataset, n)
        for n in names
        if n.startswith("scores_")
    }
    uplift = ws.read_frame(dataset, "uplift")
    if uplift is not None:
        best = _best_arm_uplift(uplift)
        scores["uplift"] = best.select(
            USER_ID, pl.col("uplift").alias("score"),
            (pl.col("uplift").rank("average") / pl.len() * 100).alias("percentile"),
            (pl.col("uplift").rank("average") / pl.len() * 100).round().alias("score_100"),
        )  # fmt: skip
    audiences = {
        n.removeprefix("audience_"): ws.read_frame(dataset, n)
        for n in names
        if n.startswith("audience_")
    }
    running = {r.key: r for r in ws.list_records("campaign", dataset) if r.payload.get("exported")}
    campaigns = {k: ws.read_frame(dataset, f"campaign_{k}") for k in running}
    last = _last_purchase(ws, dataset)
    now = None
    lf = ws.scan_frame(dataset, "events")
    if lf is not None:
        now = lf.select(pl.col(EVENT_TIME).max()).collect().item()
    return AudienceInputs(
        users=_base_users(ws, dataset),
        segments=ws.read_frame(dataset, "segments"),
        rfm=ws.read_frame(dataset, "rfm") if "rfm" in names else _rfm(ws, dataset),
        scores={k: v for k, v in scores.items() if v is not None},
        audiences={k: v for k, v in audiences.items() if v is not None},
        campaigns={k: v for k, v in campaigns.items() if v is not None},
        last_purchase=last if last is not None and last.height else None,
        now=now,
    )  # fmt: skip


def _rfm(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    lf = ws.scan_frame(dataset, "events")
    if lf is None or lf.select(pl.len()).collect().item() == 0:
        return None
    from analytics.features.rfm import rfm_table

    return rfm_table(lf, default_cutoff(lf))


def _best_arm_uplift(uplift: pl.DataFrame, arm: str | None = None) -> pl.DataFrame:
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
    lf = ws.scan_frame(dataset, "events")
    if lf is None:
        return None, ""
    hist = lf.group_by(USER_ID).agg(pl.col(REVENUE).fill_null(0).sum().alias("value")).collect()
    return hist, "revenue to date"


def save_audience(ws: Workspace, dataset: str, name: str, spec: AudienceSpec) -> dict[str, Any]:
    """Store the audience's users as ``audience_<name>`` and its spec as a record."""
    selected, summary = preview_audience(ws, dataset, spec)
    ws.write_frame(dataset, f"audience_{_slug(name)}", selected)
    ws.put_record(
        "audience", dataset, _slug(name), {"spec": spec_to_dict(spec), "size": summary.size}
    )
    return {"audience": _slug(name), "size": summary.size}


# --- simulation -----------------------------------------------------------------------------------
def _audience_for(
    ws: Workspace, dataset: str, spec: CampaignSpec, inputs: AudienceInputs
) -> pl.DataFrame:
    audience = spec.audience
    if spec.audience_name:
        audience = dataclasses.replace(
            audience, audiences=(*audience.audiences, spec.audience_name)
        )
    selected = select_audience(inputs, audience)
    if selected.height == 0:
        raise NotEnoughData("The audience is empty: loosen its rules to simulate a campaign.")
    return selected


def _order_values(
    ws: Workspace, dataset: str, spec: CampaignSpec, inputs: AudienceInputs
) -> tuple[pl.DataFrame | None, float, str]:
    """Per-user value of one conversion (currency), the store's average, and what was used."""
    lf = ws.scan_frame(dataset, "events")
    orders = None
    if lf is not None:
        orders = (
            lf.filter(pl.col(EVENT_TYPE).cast(pl.String) == "purchase")
            .group_by(USER_ID)
            .agg(pl.col(REVENUE).fill_null(0).sum().alias("rev"), pl.len().alias("n"))
            .collect()
        )
    if spec.order_value is not None:
        return None, float(spec.order_value), "the stated order value"
    if orders is None or orders.height == 0 or orders["n"].sum() == 0:
        raise SpecError(
            "This dataset has no order history to value a conversion: state an order value."
        )
    store = _num(orders["rev"].sum()) / _num(orders["n"].sum())
    revenue = inputs.scores.get("revenue")
    if spec.value_source in ("auto", "predicted_revenue") and revenue is not None:
        # relative value from the revenue predictor, level from the store's average order value
        pred = revenue.select(USER_ID, pl.col("score").clip(lower_bound=0.0))
        mean = _num(pred["score"].mean()) or 1.0
        return (
            pred.select(USER_ID, (pl.col("score") / mean * store).alias("value")),
            store,
            "predicted revenue",
        )
    if spec.value_source == "predicted_revenue":
        raise SpecError("There is no revenue prediction yet: train it on the Predictions page.")
    k = _AOV_PRIOR_ORDERS
    per_user = orders.select(
        USER_ID, ((pl.col("rev") + k * store) / (pl.col("n") + k)).alias("value")
    )
    return per_user, store, "average order value"


def _num(value: Any) -> float:
    """A Polars aggregate (``mean``, ``sum``, ``var`` ...) as a float; None (no rows) is 0."""
    return float(value) if value is not None else 0.0


def _historical_p0(ws: Workspace, dataset: str, window_days: int) -> pl.DataFrame | None:
    """Chance of a purchase in the next ``window_days`` from each user's last-90-day order rate."""
    lf = ws.scan_frame(dataset, "events")
    if lf is None:
        return None
    end = lf.select(pl.col(EVENT_TIME).max()).collect().item()
    if end is None:
        return None
    recent = lf.filter(
        (pl.col(EVENT_TYPE).cast(pl.String) == "purchase")
        & (pl.col(EVENT_TIME) > end - timedelta(days=90))
    )
    rate = recent.group_by(USER_ID).agg(pl.col(EVENT_TIME).dt.date().n_unique().alias("days"))
    return rate.select(
        USER_ID, (1 - (-pl.col("days").cast(pl.Float64) / 90 * window_days).exp()).alias("p0")
    ).collect()


def _effect(
    ws: Workspace, dataset: str, spec: CampaignSpec, inputs: AudienceInputs
) -> tuple[pl.DataFrame | None, EffectModel, list[str]]:
    """Per-user ``p0, uplift, uplift_raw`` from the uplift model, or ``p0`` for an assumed lift."""
    uplift = ws.read_frame(dataset, "uplift")
    meta = ws.artifact_meta(dataset, "uplift") or {}
    notes: list[str] = []
    if uplift is not None and spec.effect_source in ("auto", "model"):
        card = uplift_card(ws, meta["model"])
        if card.get("binary", True):
            scores = _best_arm_uplift(uplift, spec.arm)
            arm = scores[ARM][0]
            a, b = card["arms"][arm]["calibration"]
            cov = card["arms"][arm]["calibration_cov"]
            effect = EffectModel((float(a), float(b)), (tuple(cov[0]), tuple(cov[1])), "model")
            notes.append(f"Effect from uplift model {meta['model']} (arm {arm}).")
            frame = scores.select(USER_ID, pl.col("baseline").alias("p0"), "uplift", "uplift_raw")
            return frame, effect, notes
        notes.append(
            "The uplift model predicts an amount, not a conversion: using the assumed lift."
        )
    if spec.effect_source == "model":
        raise SpecError(
            "There is no uplift model for this dataset yet: learn one from a past campaign, or use "
            "an assumed lift."
        )
    purchase = inputs.scores.get("purchase")
    p0: pl.DataFrame | None
    if purchase is not None:
        p0 = purchase.select(USER_ID, pl.col("score").alias("p0"))
        notes.append("No-contact purchase chance from the purchase predictor (7 days).")
    else:
        p0 = _historical_p0(ws, dataset, 14)
        notes.append("No-contact purchase chance from each customer's recent order rate.")
    notes.append(
        f"Effect assumed: +{spec.assumed_lift_pct:g}% conversions (± {spec.assumed_lift_sd_pct:g})."
    )
    return p0, EffectModel.assumed(spec.assumed_lift_pct, spec.assumed_lift_sd_pct), notes


def campaign_frame(
    ws: Workspace, dataset: str, spec: CampaignSpec, inputs: AudienceInputs | None = None
) -> tuple[pl.DataFrame, EffectModel, list[str]]:
    """The audience with ``p0, value, uplift, uplift_raw[, segment]`` per user, and the effect."""
    inputs = inputs or audience_inputs(ws, dataset)
    selected = _audience_for(ws, dataset, spec, inputs)
    effect_cols, effect, notes = _effect(ws, dataset, spec, inputs)
    values, store, label = _order_values(ws, dataset, spec, inputs)
    notes.append(f"Value of a conversion: {label} (store average {store:,.2f}).")
    frame = selected
    if effect_cols is not None:
        frame = frame.join(effect_cols, on=USER_ID, how="left")
    if "p0" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("p0"))
    missing = frame["p0"].null_count()
    frame = frame.with_columns(pl.col("p0").fill_null(0.0).clip(0.0, 1.0))
    if effect.source == "assumed":
        frame = frame.with_columns((pl.col("p0") * effect.mean[0]).alias("uplift"))
        frame = frame.with_columns(pl.col("p0").alias("uplift_raw"))
    elif missing:
        notes.append(f"{missing:,} users have no uplift score (no history): counted as no effect.")
        frame = frame.with_columns(pl.col("uplift").fill_null(0.0), pl.col("uplift_raw").fill_null(
            pl.col("uplift_raw").min()))  # fmt: skip
    if values is not None:
        frame = frame.join(values, on=USER_ID, how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("value"))
    frame = frame.with_columns(pl.col("value").fill_null(store).cast(pl.Float64))
    if inputs.segments is not None:
        seg = inputs.segments.select(pl.col(USER_ID).cast(pl.String), "segment")
        frame = frame.join(seg, on=USER_ID, how="left").with_columns(
            pl.col("segment").fill_null(-1)
        )
    return frame, effect, notes


@dataclass(frozen=True)
class CampaignResult:
    """A simulated campaign: outcome, depth curve, strategies, Qini curve and holdout advice."""

    spec: CampaignSpec
    audience: int
    simulation: Simulation
    curve: pl.DataFrame
    strategies: pl.DataFrame
    holdout: HoldoutAdvice
    qini: dict[str, list] | None
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        best = self.curve.filter(pl.col("best")).row(0, named=True)
        return {
            "campaign": self.spec.name,
            "audience": self.audience,
            **self.simulation.summary(),
            "best_cut": {
                "depth": best["depth"],
                "contacts": best["contacts"],
                "profit": best["profit"],
            },
            "strategies": self.strategies.to_dicts(),
            "holdout": self.holdout.summary(),
            "notes": self.notes,
        }


def simulate(
    ws: Workspace, dataset: str, spec: CampaignSpec, progress: Progress = no_progress
) -> CampaignResult:
    """Simulate ``spec`` on ``dataset``: its outcome, depth curve, strategies and holdout."""
    spec.validate()
    progress(0.05, "Building the audience")
    frame, effect, notes = campaign_frame(ws, dataset, spec)
    progress(0.3, "Simulating the campaign")
    sim = simulate_campaign(frame, spec, effect)
    progress(0.55, "Drawing the depth curve")
    curve = depth_curve(frame, spec, effect)
    progress(0.75, "Comparing targeting strategies")
    strategies = compare_strategies(frame, spec, effect, sim.contacts)
    contacted = frame[sim.selected] if sim.contacts else frame.head(0)
    base = _num(contacted["p0"].mean()) if contacted.height else 0.0
    expected = _num(contacted["uplift"].mean()) if contacted.height else 0.0
    advice = holdout_advice(sim.contacts, base, expected, spec.holdout_pct / 100)
    qini = None
    meta = ws.artifact_meta(dataset, "uplift")
    if effect.source == "model" and meta:
        card = uplift_card(ws, meta["model"])
        qini = {a: arm["curves"].get("model", []) for a, arm in card["arms"].items()}
    progress(1.0, "Simulation ready")
    return CampaignResult(spec, frame.height, sim, curve, strategies, advice, qini, notes)


def save_campaign(ws: Workspace, dataset: str, result: CampaignResult) -> str:
    """Store the campaign's spec and simulated outcome so it can be reopened and compared."""
    key = _slug(result.spec.name)
    old = ws.get_record("campaign", dataset, key)
    keep = {k: v for k, v in (old.payload if old else {}).items() if k in ("exported", "measured")}
    ws.put_record(
        "campaign",
        dataset,
        key,
        {"spec": spec_to_dict(result.spec), "outcome": result.summary(), **keep},
    )
    return key


def list_campaigns(ws: Workspace, dataset: str) -> list[dict[str, Any]]:
    """Saved campaigns, newest first: name, spec, outcome summary, exported / measured state."""
    return [
        {"name": r.key, "created_at": r.created_at, **r.payload}
        for r in ws.list_records("campaign", dataset)
    ]


def saved_campaign_spec(ws: Workspace, dataset: str, name: str) -> CampaignSpec:
    rec = ws.get_record("campaign", dataset, _slug(name))
    if rec is None:
        raise SpecError(f"There is no saved campaign '{name}'.")
    return spec_from_dict(CampaignSpec, rec.payload["spec"])


# --- export ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportResult:
    """The exported file's bytes and what it holds."""

    data: bytes = field(repr=False)
    rows: int
    treatment: int
    control: int
    format: str
    key: str
    out: str | None
    file_name: str

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "treatment": self.treatment, "control": self.control,
            "out": self.out, "format": self.format, "export": self.key,
        }  # fmt: skip


def _export_columns(
    ws: Workspace, dataset: str, listed: pl.DataFrame, spec: ExportSpec, inputs: AudienceInputs
) -> pl.DataFrame:
    """Add e-mail, segment, scores, uplift, offer and recommended items to the list."""
    out = listed
    users = ws.read_frame(dataset, "users")
    if users is not None and EMAIL in users.columns:
        out = out.join(users.select(pl.col(USER_ID).cast(pl.String), EMAIL), on=USER_ID, how="left")
    if inputs.segments is not None:
        seg = inputs.segments.select(pl.col(USER_ID).cast(pl.String), "segment", "segment_name")
        out = out.drop("segment", strict=False).join(seg, on=USER_ID, how="left")
    for target, frame in sorted(inputs.scores.items()):
        col = "score" if target in ("revenue", "uplift") else "score_100"
        name = {"revenue": "predicted_revenue", "uplift": "uplift"}.get(target, f"{target}_score")
        out = out.drop(name, strict=False).join(
            frame.select(pl.col(USER_ID).cast(pl.String), pl.col(col).alias(name)),
            on=USER_ID,
            how="left",
        )
    offer = spec.campaign.offer
    out = out.with_columns(
        pl.lit(offer.describe()).alias("offer"), pl.lit(offer.channel).alias("channel")
    )
    recs = ws.read_frame(dataset, "recs")
    if recs is not None and spec.recommendations > 0:
        top = (
            recs.filter(pl.col("list") == "combined")
            .filter(pl.col("rank") <= spec.recommendations)
            .sort(USER_ID, "rank")
            .group_by(USER_ID, maintain_order=True)
            .agg(pl.col("item_id").cast(pl.String).str.join(";").alias("recommended_items"))
        )
        out = out.join(top.with_columns(pl.col(USER_ID).cast(pl.String)), on=USER_ID, how="left")
    first = [c for c in (USER_ID, EMAIL, GROUP) if c in out.columns]
    return out.select(*first, *[c for c in out.columns if c not in first])


def export_campaign(
    ws: Workspace, dataset: str, spec: ExportSpec, out: Path | None = None
) -> ExportResult:
    """The campaign list with its randomised control group; recorded; written to ``out`` if given.

    Only opted-in users are exported; the control group (``holdout_pct`` of the contacted,
    stratified by segment) is in the file with ``group = control`` so the tool can suppress them.
    """
    if spec.campaign_name:
        spec = dataclasses.replace(
            spec, campaign=saved_campaign_spec(ws, dataset, spec.campaign_name)
        )
    spec.validate()
    campaign = spec.campaign
    inputs = audience_inputs(ws, dataset)
    frame, effect, _ = campaign_frame(ws, dataset, campaign, inputs)
    frame = consenting(frame, inputs.users)
    if frame.height == 0:
        raise NotEnoughData(
            "Nobody in this audience has opted in to e-mail, so nobody can be exported."
        )
    sim = simulate_campaign(frame, dataclasses.replace(campaign, draws=1), effect)
    listed = frame[sim.selected].select(
        USER_ID, *(["segment"] if "segment" in frame.columns else [])
    )
    listed = assign_holdout(listed, campaign.holdout_pct / 100, seed=campaign.seed)
    table = _export_columns(ws, dataset, listed, spec, inputs)
    data = export_bytes(table, spec.format, spec.strict)
    key = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = _slug(campaign.name)
    n_control = int((table[GROUP] == "control").sum())
    if out is not None:
        _write_file(Path(out), data)
    ws.write_frame(dataset, f"campaign_{name}", table.select(USER_ID, GROUP))
    ws.put_record(
        "export",
        dataset,
        key,
        {
            "spec": spec_to_dict(spec),
            "campaign": name,
            "rows": table.height,
            "treatment": table.height - n_control,
            "control": n_control,
            "path": str(out) if out else None,
            "format": spec.format,
        },
    )
    rec = ws.get_record("campaign", dataset, name)
    payload = rec.payload if rec else {"spec": spec_to_dict(campaign)}
    ws.put_record(
        "campaign", dataset, name, {**payload, "exported": key, "exported_rows": table.height}
    )
    return ExportResult(
        data, table.height, table.height - n_control, n_control, spec.format, key,
        str(out) if out else None, f"{name}.{spec.format}",
    )  # fmt: skip


def _write_file(path: Path, data: bytes) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# --- measurement ----------------------------------------------------------------------------------
def measure_campaign(
    ws: Workspace, dataset: str, name: str, outcomes: pl.DataFrame, outcome: str | None = None
) -> LiftResult:
    """Measured lift of an exported campaign from later outcomes.

    ``outcomes``: ``user_id`` plus an outcome column (``outcome`` or the first numeric / true-false
    column: 1 = converted, or an amount), or later events (a user with a purchase counts as 1).
    """
    key = _slug(name)
    listed = ws.read_frame(dataset, f"campaign_{key}")
    if listed is None:
        raise SpecError(f"Campaign '{name}' has not been exported, so there is no control group.")
    if USER_ID not in outcomes.columns:
        raise SpecError("The outcomes file needs a user_id column.")
    outcomes = outcomes.with_columns(pl.col(USER_ID).cast(pl.String))
    if outcome is None and EVENT_TYPE in outcomes.columns:
        outcomes = (
            outcomes.filter(pl.col(EVENT_TYPE).cast(pl.String) == "purchase")
            .group_by(USER_ID)
            .agg(pl.lit(1.0).alias("outcome"))
        )
        outcome = "outcome"
    if outcome is None:
        candidates = [
            c
            for c, t in outcomes.schema.items()
            if c != USER_ID and (t.is_numeric() or t == pl.Boolean)
        ]
        if not candidates:
            raise SpecError("The outcomes file has no numeric or true/false column to measure.")
        outcome = candidates[0]
    result = measure_lift(
        listed, outcomes.with_columns(pl.col(outcome).cast(pl.Float64)), outcome=outcome
    )
    rec = ws.get_record("campaign", dataset, key)
    payload = rec.payload if rec else {}
    ws.put_record("campaign", dataset, key, {**payload, "measured": result.summary()})
    return result
