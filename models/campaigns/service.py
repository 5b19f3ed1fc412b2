"""Campaigns: learn uplift, save audiences, simulate, export with a control group, measure.

The one module pages and the CLI call for campaigns: it simulates, exports and measures here and
re-exports the uplift half (``uplift_service``), the audience half (``audience_service``) and the
spec and result types the pages need. Each call loads from the workspace, calls the domain code
and persists.

Artifacts: ``UPLIFT`` (``user_id, arm, uplift, uplift_raw, baseline``: the newest uplift model's
scores for this dataset), ``<model_id>`` (JSON card) and ``<model_id>.<part>`` (LightGBM text),
``audience_artifact(slug)`` (``user_id``), ``campaign_artifact(slug)`` (``user_id, group``: the
exported list). Records: ``model`` (payload ``kind == "uplift"``), ``audience``, ``campaign``,
``export``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analytics.core.artifacts import (
    EVENTS,
    RECS,
    UPLIFT,
    USERS,
    campaign_artifact,
    slug,
)
from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import (
    ARM,
    EVENT_TIME,
    EVENT_TYPE,
    REVENUE,
    USER_ID,
)
from analytics.core.workspace import Workspace
from models.campaigns.audience import (
    AttributeFilter,
    AudienceInputs,
    AudienceSpec,
    AudienceSummary,
    ScoreBand,
    select_audience,
    spec_from_dict,
    spec_to_dict,
)
from models.campaigns.audience_service import (
    SavedAudience,
    audience_inputs,
    best_arm_uplift,
    list_audiences,
    preview_audience,
    save_audience,
)
from models.campaigns.export import (
    ExportSpec,
    consenting,
    export_bytes,
    export_from_json,
    export_table,
)
from models.campaigns.measurement import (
    GROUP,
    HoldoutAdvice,
    LiftResult,
    assign_holdout,
    holdout_advice,
    measure_lift,
    outcome_column,
)
from models.campaigns.simulation import (
    CampaignSpec,
    EffectModel,
    Offer,
    Simulation,
    campaign_from_json,
    compare_strategies,
    depth_curve,
    simulate_campaign,
)
from models.campaigns.uplift import UpliftConfig
from models.campaigns.uplift_service import (
    UpliftResult,
    UpliftSpec,
    UpliftView,
    latest_uplift_model,
    score_uplift_model,
    train_uplift,
    treatment_values,
    uplift_card,
    uplift_view,
)

__all__ = [
    "AttributeFilter",
    "AudienceInputs",
    "AudienceSpec",
    "AudienceSummary",
    "CampaignResult",
    "CampaignSpec",
    "ExportResult",
    "ExportSpec",
    "Offer",
    "SavedAudience",
    "ScoreBand",
    "UpliftConfig",
    "UpliftResult",
    "UpliftSpec",
    "UpliftView",
    "audience_inputs",
    "campaign_frame",
    "campaign_from_json",
    "campaign_stamp",
    "export_campaign",
    "export_from_json",
    "has_recommendations",
    "latest_uplift_model",
    "list_audiences",
    "list_campaigns",
    "measure_campaign",
    "preview_audience",
    "save_audience",
    "save_campaign",
    "saved_campaign_spec",
    "score_uplift_model",
    "simulate",
    "spec_key",
    "train_uplift",
    "treatment_values",
    "uplift_card",
    "uplift_view",
]

_AOV_PRIOR_ORDERS = 2.0  # shrink a user's average order value towards the store's


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
    lf = ws.scan_frame(dataset, EVENTS)
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
    lf = ws.scan_frame(dataset, EVENTS)
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
    uplift = ws.read_frame(dataset, UPLIFT)
    meta = ws.artifact_meta(dataset, UPLIFT) or {}
    notes: list[str] = []
    if uplift is not None and spec.effect_source in ("auto", "model"):
        card = uplift_card(ws, meta["model"])
        if card.get("binary", True):
            scores = best_arm_uplift(uplift, spec.arm)
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
    meta = ws.artifact_meta(dataset, UPLIFT)
    if effect.source == "model" and meta:
        card = uplift_card(ws, meta["model"])
        qini = {a: arm["curves"].get("model", []) for a, arm in card["arms"].items()}
    progress(1.0, "Simulation ready")
    return CampaignResult(spec, frame.height, sim, curve, strategies, advice, qini, notes)


def save_campaign(ws: Workspace, dataset: str, result: CampaignResult) -> str:
    """Store the campaign's spec and simulated outcome so it can be reopened and compared."""
    key = slug(result.spec.name)
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
    rec = ws.get_record("campaign", dataset, slug(name))
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
    table = export_table(
        listed, spec, users=ws.read_frame(dataset, USERS), segments=inputs.segments,
        scores=inputs.scores, recs=ws.read_frame(dataset, RECS),
    )  # fmt: skip
    data = export_bytes(table, spec.format, spec.strict)
    key = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = slug(campaign.name)
    n_control = int((table[GROUP] == "control").sum())
    if out is not None:
        _write_file(Path(out), data)
    ws.write_frame(dataset, campaign_artifact(name), table.select(USER_ID, GROUP))
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


def has_recommendations(ws: Workspace, dataset: str) -> bool:
    """Whether ``dataset`` has recommendations to add to an exported list."""
    return ws.scan_frame(dataset, RECS) is not None


# --- measurement ----------------------------------------------------------------------------------
def measure_campaign(
    ws: Workspace, dataset: str, name: str, outcomes: pl.DataFrame, outcome: str | None = None
) -> LiftResult:
    """Measured lift of an exported campaign from later outcomes (see ``outcome_column``)."""
    key = slug(name)
    listed = ws.read_frame(dataset, campaign_artifact(key))
    if listed is None:
        raise SpecError(f"Campaign '{name}' has not been exported, so there is no control group.")
    outcomes, outcome = outcome_column(outcomes, outcome)
    result = measure_lift(listed, outcomes, outcome=outcome)
    rec = ws.get_record("campaign", dataset, key)
    payload = rec.payload if rec else {}
    ws.put_record("campaign", dataset, key, {**payload, "measured": result.summary()})
    return result


# --- page state -----------------------------------------------------------------------------------
def campaign_stamp(ws: Workspace, dataset: str) -> str:
    """Changes whenever the data, an artifact or a campaign record of ``dataset`` changes."""
    files = sorted((p.name, p.stat().st_mtime_ns) for p in ws.dataset_dir(dataset).glob("*"))
    records = [(r.kind, r.key, str(r.created_at)) for r in ws.list_records("campaign", dataset)]
    records += [(r.kind, r.key, str(r.created_at)) for r in ws.list_records("audience", dataset)]
    return json.dumps([ws.dataset(dataset).fingerprint, files, records])


def spec_key(spec: Any) -> str:
    """A spec as canonical JSON: a hashable cache key."""
    return json.dumps(spec_to_dict(spec), sort_keys=True)
