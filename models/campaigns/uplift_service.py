"""The uplift half of the campaigns service: learn from a past campaign, store, score, show.

``train_uplift`` stores the model (``<model_id>`` card, ``<model_id>.<part>`` LightGBM text, a
``model`` record with ``kind == "uplift"``) and scores every customer into ``UPLIFT``
(``user_id, arm, uplift, uplift_raw, baseline``). Pages reach these through
``models.campaigns.service``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from analytics.core.artifacts import (
    EXPOSURES,
    TRUTH,
    UPLIFT,
    USERS,
    slug,
)
from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress, scaled
from analytics.core.schema import (
    ARM,
    CAMPAIGN_ID,
    SENT_TIME,
    USER_ID,
)
from analytics.core.timing import Stopwatch
from analytics.core.workspace import Workspace
from analytics.features.user_features import (
    FeatureSpec,
    customer_table_features,
    default_cutoff,
    resolve_feature_spec,
)
from models.campaigns.audience import (
    spec_from_dict,
    spec_to_dict,
)
from models.campaigns.measurement import (
    campaign_outcomes,
)
from models.campaigns.training import (
    OUTCOME_NAMES,
    customers_training,
    event_features,
    guess_control,
    harm_warnings,
    metrics_summary,
    shap_summary,
)
from models.campaigns.uplift import UpliftConfig, UpliftFit, fit_uplift
from models.campaigns.uplift_store import card_parts, from_artifacts, to_artifacts

__all__ = [
    "UpliftResult",
    "UpliftSpec",
    "UpliftView",
    "latest_uplift_model",
    "score_uplift_model",
    "train_uplift",
    "treatment_values",
    "uplift_card",
    "uplift_view",
]

_TREATMENT_NAMES = {"treatment", "treated", "arm", "group", "segment", "variant", "offer"}
_ENGAGEMENT = "_engagement"  # active days in the outcome window (event data only): not a feature


# --- training -------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class _Training:
    """The rows an uplift model learns from and where they came from."""

    frame: pl.DataFrame  # user_id, arm, outcome[, _engagement], features...
    source: dict[str, Any]
    control: str

    @property
    def names(self) -> list[str]:
        """The feature columns."""
        return [c for c in self.frame.columns if c not in (USER_ID, ARM, "outcome", _ENGAGEMENT)]


def _events_training(ws: Workspace, dataset: str, spec: UpliftSpec) -> tuple[pl.DataFrame, dict]:
    """``user_id, arm, outcome`` + features as of the send, for event data with exposures."""
    exposures = ws.read_frame(dataset, EXPOSURES)
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
    feats = event_features(ws.events(dataset), ws.read_frame(dataset, USERS), cutoff, fspec)
    keep = [USER_ID, ARM, "outcome", *([_ENGAGEMENT] if _ENGAGEMENT in outcomes.columns else [])]
    frame = outcomes.select(keep).join(feats, on=USER_ID, how="left")
    source = {"kind": "events", "campaign": campaign, "sent_time": str(sent)}
    source["feature_spec"] = spec_to_dict(fspec)
    return frame, source


def _training(ws: Workspace, dataset: str, spec: UpliftSpec) -> _Training:
    """The past campaign (exposures) or test (customer table) to learn from, with its control."""
    exposures = ws.read_frame(dataset, EXPOSURES)
    users = ws.read_frame(dataset, USERS)
    if exposures is not None and exposures.height and spec.treatment in exposures.columns:
        arms = exposures[spec.treatment].cast(pl.String).unique().drop_nulls().sort().to_list()
        control = guess_control(arms, spec.control)
        frame, source = _events_training(ws, dataset, spec)
    elif users is not None and spec.treatment in users.columns:
        arms = users[spec.treatment].cast(pl.String).unique().drop_nulls().sort().to_list()
        control = guess_control(arms, spec.control)
        frame, excluded = customers_training(users, spec.treatment, spec.outcome, control)
        source = {"kind": "customers", "excluded": excluded}
    else:
        raise SpecError(
            f"'{dataset}' has no past campaign with a '{spec.treatment}' column: add an exposures "
            "table (user_id, campaign_id, arm, sent_time) or name the treatment column of the "
            "customer table."
        )
    frame = frame.filter(pl.col(ARM).is_not_null() & pl.col("outcome").is_not_null())
    return _Training(frame, source, control)


def train_uplift(
    ws: Workspace, dataset: str, spec: UpliftSpec, progress: Progress = no_progress
) -> UpliftResult:
    """Learn uplift from the dataset's past campaign or test; store the model and its scores."""
    watch = Stopwatch()
    ws.dataset(dataset)
    progress(0.02, "Gathering the past campaign")
    data = _training(ws, dataset, spec)
    frame, names = data.frame, data.names
    if not names:
        raise NotEnoughData("There are no columns to learn from besides treatment and outcome.")
    truth = ws.read_frame(dataset, TRUTH)
    true_u = None
    if truth is not None and data.source["kind"] == "events" and "true_uplift" in truth.columns:
        true_u = frame.select(USER_ID).join(truth, on=USER_ID, how="left")["true_uplift"].to_numpy()
    fit = fit_uplift(
        frame.select(names).to_numpy().astype(float), frame[ARM].to_numpy(),
        frame["outcome"].to_numpy(), control=data.control, feature_names=names,
        config=spec.config, true_uplift=true_u, progress=scaled(progress, 0.1, 0.85),
        aux=frame[_ENGAGEMENT].fill_null(0.0).to_numpy() if _ENGAGEMENT in frame.columns else None,
    )  # fmt: skip
    model_id = slug(f"uplift-{dataset}-{spec.outcome}")[:80]
    metrics, warnings, seconds = metrics_summary(fit), harm_warnings(fit), watch.seconds
    _store_uplift(ws, dataset, model_id, spec, fit, data, seconds)
    progress(0.9, "Scoring every customer")
    score_uplift_model(ws, model_id, dataset)
    progress(1.0, "Uplift model ready")
    excluded = data.source.get("excluded", {})
    return UpliftResult(
        model_id, dataset, list(fit.arms), data.control, spec.outcome, fit.binary, metrics,
        excluded, warnings, seconds,
    )  # fmt: skip


def _part(model_id: str, part: str) -> str:
    """The artifact holding one booster of an uplift model (LightGBM text)."""
    return f"{model_id}.{part}"


def _store_uplift(
    ws: Workspace,
    dataset: str,
    model_id: str,
    spec: UpliftSpec,
    fit: UpliftFit,
    data: _Training,
    seconds: float,
) -> None:
    """The model's card, its boosters' text and its ``model`` record."""
    card, texts = to_artifacts(fit)
    card |= {"source": data.source, "spec": spec_to_dict(spec), "model_id": model_id}
    card["shap"] = {a: shap_summary(fit, a, data.frame.select(data.names)) for a in fit.arms}
    for part, text in texts.items():
        ws.write_bytes(dataset, _part(model_id, part), text.encode())
    ws.write_json(dataset, model_id, card)
    ws.put_record(
        "model",
        dataset,
        model_id,
        {
            "kind": "uplift",
            "target": "uplift",
            "outcome": spec.outcome,
            "treatment": spec.treatment,
            "control": data.control,
            "arms": list(fit.arms),
            "metrics": metrics_summary(fit),
            "baseline": "random targeting (Qini 0)",
            "device": "cpu",
            "seconds": seconds,
            "artifacts": [model_id, *(_part(model_id, p) for p in texts)],
            "warnings": harm_warnings(fit),
            "binary": fit.binary,
        },
    )


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
        data = ws.read_bytes(home, _part(card["model_id"], part))
        if data is None:
            raise SpecError(f"Part '{part}' of uplift model {card['model_id']} is missing.")
        texts[part] = data.decode()
    return from_artifacts(card, texts)


def _scoring_features(ws: Workspace, dataset: str, card: dict[str, Any]) -> pl.DataFrame:
    source = card["source"]
    if source["kind"] == "events":
        fspec = spec_from_dict(FeatureSpec, source["feature_spec"])
        events = ws.events(dataset)
        return event_features(events, ws.read_frame(dataset, USERS), default_cutoff(events), fspec)
    users = ws.read_frame(dataset, USERS)
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
    ws.write_frame(dataset, UPLIFT, scores, meta={"model": model_id})
    return scores.select(USER_ID, ARM, "uplift")


@dataclass(frozen=True)
class UpliftView:
    """The Campaigns page's uplift section: the newest model, if any, and what to train one on.

    ``record``: the model's metrics and warnings; ``arms``: the exposures' arms (None without an
    exposures table); ``columns``: the customer table's columns (a test held there), with the
    suggested treatment and outcome columns first."""

    model: str | None
    card: dict[str, Any] | None
    record: dict[str, Any]
    arms: list[str] | None
    columns: list[str]
    suggested: tuple[str | None, str | None]


def _arm_values(frame: pl.LazyFrame, column: str, limit: int = 50) -> list[str]:
    values = frame.select(pl.col(column).cast(pl.String)).unique().drop_nulls().head(limit + 1)
    return sorted(values.collect()[column].to_list())


def uplift_view(ws: Workspace, dataset: str) -> UpliftView:
    """What the page shows about uplift on ``dataset`` (see ``UpliftView``)."""
    model = latest_uplift_model(ws, dataset)
    card, record = None, {}
    if model is not None:
        card = uplift_card(ws, model)
        rec = ws.get_record("model", dataset, model)
        record = rec.payload if rec else {}
    exposures = ws.scan_frame(dataset, EXPOSURES)
    arms = None
    if exposures is not None and ARM in exposures.collect_schema().names():
        arms = _arm_values(exposures, ARM)
    users = ws.scan_frame(dataset, USERS)
    columns = [] if users is None else users.collect_schema().names()[1:]
    treatment = next((c for c in columns if c.lower() in _TREATMENT_NAMES), None)
    outcome = next((c for c in columns if c.lower() in OUTCOME_NAMES - {"treatment"}), None)
    return UpliftView(model, card, record, arms, columns, (treatment, outcome))


def treatment_values(ws: Workspace, dataset: str, column: str) -> tuple[list[str], str | None]:
    """The values of a treatment column (exposures or customer table) and the guessed control."""
    for table in (EXPOSURES, USERS):
        frame = ws.scan_frame(dataset, table)
        if frame is not None and column in frame.collect_schema().names():
            values = _arm_values(frame, column)
            try:
                return values, guess_control(values, None)
            except SpecError:  # no value is named like a control group: the user picks one
                return values, None
    raise SpecError(f"'{dataset}' has no column '{column}' to learn uplift from.")
