"""Widgets of the Campaigns page: ``show_x(...)`` draws one section and returns its input.

Session state of this page lives under keys starting with the ``key`` argument, which the page
makes with ``ui.state.dataset_key`` from the dataset and its fingerprint: the audience and
campaign widgets, the last simulation and the last export's bytes (so the download button serves
them without rerunning anything). Another dataset, or the same one re-ingested, starts from a
clean page: one dataset's result can never be shown or exported on another.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from analytics.core.workspace import Workspace
from models.campaigns import service as svc
from models.campaigns.service import (
    AttributeFilter,
    AudienceInputs,
    AudienceSpec,
    CampaignResult,
    CampaignSpec,
    ExportSpec,
    Offer,
    ScoreBand,
)
from ui import cache
from ui import charts_campaigns as charts
from ui.progress import progress_bar
from ui.widgets import noted_metric

__all__ = [
    "reopen",
    "show_audience_builder",
    "show_campaign_form",
    "show_control_group",
    "show_export",
    "show_missing_inputs",
    "show_saved_campaigns",
    "show_simulation",
    "show_uplift",
]

_BANDS = {"purchase": "purchase probability", "revenue": "predicted revenue", "uplift": "uplift"}
_STRATEGIES = {
    "uplift": "Top uplift",
    "propensity": "Top purchase probability",
    "random": "Random",
    "segment": "Best segments first",
}


def _link(page: str, label: str, icon: str) -> None:
    """A link to another page; plain text where the page is not routed (a page run on its own)."""
    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitPageNotFoundError:
        st.caption(f"{label}: see the {page.split('/')[-1].removesuffix('.py').title()} page.")


def show_missing_inputs(inputs: AudienceInputs) -> None:
    """Say which optional inputs are missing and where they are made."""
    if inputs.segments is None:
        st.caption("No learned segments yet: targeting by segment is off.")
        _link("pages/segments.py", "Make segments", ":material/bubble_chart:")
    if not {"purchase", "revenue"} & set(inputs.scores):
        st.caption("No purchase or revenue predictions yet: value comes from order history.")
        _link("pages/predictions.py", "Train predictors", ":material/insights:")


# --- audience -------------------------------------------------------------------------------------
def _band_widgets(inputs: AudienceInputs, t: AudienceSpec, key: str) -> list[ScoreBand]:
    bands = []
    start = {b.target: b for b in t.score_bands}
    for target, label in _BANDS.items():
        if target in inputs.scores:
            top0 = int(100 - start[target].low) if target in start else 100
            top = st.slider(f"Top % by {label}", 1, 100, top0, key=_k(key, f"band_{target}"))
            if top < 100:
                bands.append(ScoreBand(target, 100 - top, 100))
    if "churn" in inputs.scores:
        above0 = int(start["churn"].low) if "churn" in start else 0
        above = st.slider("Churn risk above", 0, 100, above0, key=_k(key, "churn_above"))
        if above > 0:
            bands.append(ScoreBand("churn", above, 100, on="score_100"))
    return bands


def _filter_widgets(inputs: AudienceInputs, key: str) -> list[AttributeFilter]:
    users = inputs.users
    columns = [
        c
        for c, t in users.schema.items()
        if t == pl.String and c not in ("user_id", "email") and 1 < users[c].n_unique() <= 50
    ]
    if not columns:
        return []
    column = st.selectbox("Attribute", ["(none)", *columns], key=_k(key, "filter_col"))
    if column == "(none)":
        return []
    values = users[column].drop_nulls().unique().sort().to_list()
    chosen = st.multiselect(f"{column} is one of", values, key=_k(key, "filter_values"), wrap=True)
    return [AttributeFilter(column, "in", chosen)] if chosen else []


def show_audience_builder(
    ws: Workspace, dataset: str, inputs: AudienceInputs, key: str
) -> AudienceSpec:
    """Rules on the left, live size / value / overlap on the right; a save box below."""
    left, right = st.columns([3, 2])
    with left:
        spec = _rule_widgets(inputs, _template(key).audience, key)
    with right:
        _show_audience_numbers(ws, dataset, spec, key)
    return spec


def _rule_widgets(inputs: AudienceInputs, t: AudienceSpec, key: str) -> AudienceSpec:
    seg_names: dict[int, str] = {}
    if inputs.segments is not None:
        seg_names = dict(inputs.segments.select("segment", "segment_name").unique().iter_rows())
    segments = st.multiselect(
        "Segments", sorted(seg_names), [s for s in t.segments if s in seg_names],
        format_func=lambda s: seg_names[s], key=_k(key, "segments"), disabled=not seg_names,
        wrap=True,  # in a column the chips would scroll in one row, cutting off the first
    )  # fmt: skip
    groups = [] if inputs.rfm is None else sorted(inputs.rfm["rfm_group"].unique().drop_nulls())
    rfm = st.multiselect(
        "RFM groups", groups, [g for g in t.rfm_groups if g in groups], key=_k(key, "rfm"),
        disabled=not groups, wrap=True,
    )  # fmt: skip
    lists = sorted(inputs.audiences)
    kinds = inputs.audience_kinds
    saved = st.multiselect(
        "In saved audiences", lists, [a for a in t.audiences if a in lists],
        format_func=lambda a: f"{a} ({kinds.get(a, 'fixed')})", key=_k(key, "lists"), wrap=True,
    )  # fmt: skip
    bands = _band_widgets(inputs, t, key)
    filters = _filter_widgets(inputs, key)
    days = st.number_input(
        "Leave out who bought in the last N days (0 = nobody)", 0, 365,
        t.exclude_purchased_within_days or 0, key=_k(key, "recent_days"),
    )  # fmt: skip
    running = st.multiselect(
        "Leave out running campaigns", sorted(inputs.campaigns), key=_k(key, "running"), wrap=True
    )
    consent = st.checkbox(
        "Only customers who opted in to e-mail", t.exclude_no_consent, key=_k(key, "consent")
    )
    return AudienceSpec(
        segments=tuple(segments), rfm_groups=tuple(rfm), audiences=tuple(saved),
        score_bands=tuple(bands), filters=tuple(filters),
        exclude_purchased_within_days=int(days) or None, exclude_no_consent=consent,
        exclude_campaigns=tuple(running),
    )  # fmt: skip


def _show_audience_numbers(ws: Workspace, dataset: str, spec: AudienceSpec, key: str) -> None:
    _, summary = cache.audience_preview(ws, dataset, svc.spec_key(spec), spec)
    noted_metric(
        st, "Audience", f"{summary.size:,}", f"{summary.share:.0%} of {summary.base:,} customers"
    )
    if summary.value is not None:
        st.metric(f"Value ({summary.value_label})", f"{summary.value:,.0f}")
    if summary.overlaps:
        st.dataframe(
            pl.DataFrame(summary.overlaps).select("kind", "name", "users", "share"),
            hide_index=True,
            column_config={"share": st.column_config.NumberColumn(format="percent")},
        )
    name = st.text_input(
        "Save this audience as", key=f"{key}_audience_name", placeholder="e.g. winback"
    )
    dynamic = st.radio(
        "Keep it", [True, False], horizontal=True, key=f"{key}_audience_dynamic",
        format_func=lambda d: "up to date (rules re-run on new data)" if d else "as a fixed list",
    )  # fmt: skip
    if st.button("Save audience", key=f"{key}_save_audience", disabled=not name):
        saved = svc.save_audience(ws, dataset, name, rules=spec, dynamic=bool(dynamic))
        kind = "kept up to date" if saved.dynamic else "a fixed list"
        st.success(f"Saved '{saved.name}' ({saved.size:,} customers, {kind}).")


# --- uplift ---------------------------------------------------------------------------------------
_LEARNER_NAMES = {
    "two_model": "two outcome models (contacted / not)",
    "x_learner": "X-learner",
    "transformed_outcome": "transformed outcome",
    "ensemble": "two-model and X-learner blend",
    "engagement": "visit lift (extra active days, converted at the usual rate)",
    "engagement_ensemble": "visit lift and X-learner blend",
}


def show_uplift(ws: Workspace, dataset: str, key: str) -> None:
    """The uplift model: its quality, who it hurts, what makes people persuadable; or train one."""
    view = svc.uplift_view(ws, dataset)
    if view.card is not None:
        _show_uplift_model(view, key)
    with st.expander(
        "Learn uplift from a past campaign" if view.model is None else "Retrain",
        expanded=view.model is None,
    ):
        _show_uplift_form(ws, dataset, view, key)


def _show_uplift_model(view: svc.UpliftView, key: str) -> None:
    card = view.card or {}
    cols = st.columns(max(len(card["arms"]), 1))
    for col, (arm, info) in zip(cols, card["arms"].items(), strict=False):
        m = view.record.get("metrics", {}).get(arm, {})
        truth = f" (planted truth {m['truth_qini']:.4f})" if "truth_qini" in m else ""
        noted_metric(
            col, f"Qini, {arm}", f"{m.get('qini', 0):.4f}",
            f"learner: {_LEARNER_NAMES.get(info['learner'], info['learner'])}{truth}",
        )  # fmt: skip
    st.caption(f"Control group of the past campaign: {card.get('control', '?')}.")
    for warning in view.record.get("warnings", []):
        st.warning(warning, icon=":material/warning:")
    arm = st.selectbox("Arm", list(card["arms"]), key=f"{key}_shap_arm")
    left, right = st.columns(2)
    left.plotly_chart(charts.persuadable_chart(card["shap"][arm]), key=f"{key}_shap")
    truth_curves = {a: i["curves"].get("truth", []) for a, i in card["arms"].items()}
    model_curves = {a: i["curves"]["model"] for a, i in card["arms"].items()}
    right.plotly_chart(charts.qini_chart(model_curves, truth_curves), key=f"{key}_qini")


def _default_index(options: list[str], value: str | None) -> int:
    return options.index(value) if value in options else 0


def _show_uplift_form(ws: Workspace, dataset: str, view: svc.UpliftView, key: str) -> None:
    if view.arms is not None:
        treatment = "arm"
        outcome = st.selectbox("Outcome", ["purchase", "revenue"], key=f"{key}_outcome")
    elif view.columns:
        treated, measured = view.suggested
        treatment = st.selectbox(
            "Treatment column (who got what)", view.columns,
            _default_index(view.columns, treated), key=f"{key}_treatment",
        )  # fmt: skip
        outcomes = [c for c in view.columns if c != treatment]
        outcome = st.selectbox(
            "Outcome column (what they did)", outcomes, _default_index(outcomes, measured),
            key=f"{key}_outcome_col",
        )  # fmt: skip
    else:
        st.info("This dataset has no past campaign: add an exposures table on the Data page.")
        return
    values, guessed = svc.treatment_values(ws, dataset, treatment)
    control = st.selectbox(
        "Control group (who was not contacted)", values, _default_index(values, guessed),
        key=f"{key}_control_{treatment}",
    )  # fmt: skip
    if guessed is None:
        st.caption("No value is named like a control group: check the one chosen above.")
    if st.button("Learn uplift", key=f"{key}_train", disabled=not values):
        spec = svc.UpliftSpec(treatment, outcome, control=control)
        with progress_bar("Learning who is persuadable") as progress:
            result = svc.train_uplift(ws, dataset, spec, progress)
        st.success(f"Uplift model {result.model} ready (control group: {result.control}).")
        st.rerun()


# --- campaign form and simulation -----------------------------------------------------------------
def _template(key: str) -> CampaignSpec:
    """The spec the form starts from: a reopened campaign, else the defaults."""
    return st.session_state.get(f"{key}_template") or CampaignSpec()


def _k(key: str, name: str) -> str:
    """A widget key; reopening bumps the version so widgets start from the reopened values."""
    return f"{key}_{name}_{st.session_state.get(f'{key}_version', 0)}"


def reopen(spec: CampaignSpec, key: str) -> None:
    """Start the builder and the form from a saved campaign's spec."""
    st.session_state[f"{key}_template"] = spec
    st.session_state[f"{key}_version"] = st.session_state.get(f"{key}_version", 0) + 1
    st.session_state.pop(f"{key}_result", None)


def show_campaign_form(audience: AudienceSpec, has_history: bool, key: str) -> CampaignSpec | None:
    """Offer, budget, effect and targeting; returns the spec when "Simulate" is pressed."""
    t = _template(key)
    with st.form(f"{key}_form"):
        name = st.text_input("Campaign name", t.name, key=_k(key, "name"))
        columns = st.columns(3)
        offer = _offer_widgets(columns, t, has_history, key)
        targeting = _targeting_widgets(columns, t, key)
        if not st.form_submit_button("Simulate", type="primary"):
            return None
    return CampaignSpec(name=name or "campaign", audience=audience, **offer, **targeting).validate()


def _offer_widgets(columns: list, t: CampaignSpec, has_history: bool, key: str) -> dict[str, Any]:
    """The offer, budget, margin and (without order history) the value of a sale."""
    c1, c2, c3 = columns
    discount = c1.number_input(
        "Discount %", 0.0, 90.0, t.offer.discount_pct, 1.0, key=_k(key, "discount")
    )
    cpc = c2.number_input(
        "Cost per contact", 0.0, 100.0, t.offer.cost_per_contact, 0.01, key=_k(key, "cpc")
    )
    channels = ["email", "sms", "push", "mail"]
    channel = c3.selectbox(
        "Channel", channels, _default_index(channels, t.offer.channel), key=_k(key, "channel")
    )
    budget = c1.number_input(
        "Budget (0 = no limit)", 0.0, None, t.budget or 0.0, 100.0, key=_k(key, "budget")
    )
    margin = c2.number_input("Gross margin %", 1.0, 100.0, t.margin_pct, 5.0, key=_k(key, "margin"))
    order_value = (
        None
        if has_history
        else c3.number_input(
            "Value of a sale", 0.0, None, t.order_value or 50.0, key=_k(key, "order_value")
        )
    )
    return {
        "offer": Offer(discount_pct=discount, cost_per_contact=cpc, channel=channel),
        "budget": budget or None, "margin_pct": margin, "order_value": order_value,
    }  # fmt: skip


def _targeting_widgets(columns: list, t: CampaignSpec, key: str) -> dict[str, Any]:
    """Where the effect comes from, who goes first, how deep, and the control group's share."""
    c1, c2, c3 = columns
    effects = {"auto": "Uplift model (when learned)", "assumed": "Assumed lift"}
    effect = c1.radio(
        "Effect", list(effects), 0 if t.effect_source != "assumed" else 1,
        format_func=effects.get, key=_k(key, "effect"),
    )  # fmt: skip
    lift = c2.slider("Assumed lift %", 0.0, 100.0, t.assumed_lift_pct, key=_k(key, "lift"))
    strategy = c3.selectbox(
        "Target by", list(_STRATEGIES), list(_STRATEGIES).index(t.strategy),
        format_func=_STRATEGIES.get, key=_k(key, "strategy"),
    )  # fmt: skip
    best = c1.checkbox("Go as deep as pays best", t.depth_pct is None, key=_k(key, "best"))
    depth = c2.slider("Or contact the top %", 1, 100, int(t.depth_pct or 30), key=_k(key, "depth"))
    holdout = c3.number_input(
        "Control group %", 0.0, 50.0, t.holdout_pct, 1.0, key=_k(key, "holdout")
    )
    return {
        "effect_source": effect, "assumed_lift_pct": lift, "strategy": strategy,
        "depth_pct": None if best else float(depth), "holdout_pct": holdout,
    }  # fmt: skip


def show_simulation(
    ws: Workspace, dataset: str, spec: CampaignSpec | None, key: str
) -> CampaignResult | None:
    """Run a submitted spec (kept in session state) and draw its outcome and charts."""
    if spec is not None:
        with progress_bar("Simulating the campaign") as progress:
            st.session_state[f"{key}_result"] = svc.simulate(ws, dataset, spec, progress)
        st.session_state.pop(f"{key}_export", None)
    result = st.session_state.get(f"{key}_result")
    if result is None:
        st.caption("Set the offer and press Simulate.")
        return None
    m, lvl = result.simulation.metrics, f"{result.simulation.interval:.0%}"
    cols = st.columns(5)
    for col, (metric, label) in zip(
        cols,
        [
            ("contacts", "To contact"),
            ("incremental_conversions", "Extra sales"),
            ("incremental_revenue", "Extra revenue"),
            ("profit", "Profit"),
            ("roi", "ROI"),
        ],
        strict=True,
    ):
        v = m[metric]
        fmt = "{:.0%}" if metric == "roi" else "{:,.0f}"
        if metric == "contacts":  # the control group is selected but never contacted
            advice = result.holdout
            held = f"of {advice.audience:,} selected; {advice.control:,} held out as control"
            noted_metric(col, label, f"{advice.treatment:,}", held)
            continue
        spread = f"{lvl}: {fmt.format(v['lower'])} to {fmt.format(v['upper'])}"
        noted_metric(col, label, fmt.format(v["mean"]), spread)
    if result.simulation.contacts == 0:
        st.warning(
            "At these numbers no depth pays off: lower the discount or the cost, or pick a "
            "fixed share to contact.",
            icon=":material/warning:",
        )
    for note in result.notes:
        st.caption(note)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.depth_curve_chart(result.curve, result.simulation.contacts), key=f"{key}_depth_chart"
    )
    right.plotly_chart(charts.strategy_chart(result.strategies), key=f"{key}_strategy_chart")
    if result.qini:
        st.plotly_chart(charts.qini_chart(result.qini), key=f"{key}_sim_qini")
    if st.button("Save campaign", key=f"{key}_save"):
        st.success(f"Saved campaign '{svc.save_campaign(ws, dataset, result)}'.")
    return result


def show_control_group(result: CampaignResult) -> None:
    """The holdout advice of the last simulation."""
    advice = result.holdout
    c1, c2, c3 = st.columns(3)
    noted_metric(c1, "Control group", f"{advice.control:,}", f"{advice.holdout_share:.0%} held out")
    detectable = advice.detectable_effect
    c2.metric(
        "Smallest effect it can detect",
        "none (no control group)" if detectable is None else f"{detectable * 100:.2f} pts",
    )
    c3.metric("Expected effect", f"{advice.expected_effect * 100:.2f} pts")
    (st.success if advice.enough else st.warning)(advice.message)


# --- export ---------------------------------------------------------------------------------------
def show_export(ws: Workspace, dataset: str, result: CampaignResult, key: str) -> None:
    """Prepare the list once; the download button then serves the kept bytes (no rerun)."""
    c1, c2, c3 = st.columns(3)
    fmt = c1.radio("Format", ["csv", "parquet"], horizontal=True, key=f"{key}_format")
    strict = c2.checkbox("Strict (for CRM importers)", False, key=f"{key}_strict")
    recs = c3.number_input("Recommended items per customer", 0, 20, 5, key=f"{key}_recs")
    if not svc.has_recommendations(ws, dataset):
        c3.caption("No recommendations yet.")
        with c3:
            _link("pages/recommendations.py", "Make recommendations", ":material/recommend:")
    if st.button("Prepare the list", key=f"{key}_prepare", type="primary"):
        spec = ExportSpec(
            campaign=result.spec, format=fmt, strict=strict, recommendations=int(recs)
        )
        st.session_state[f"{key}_export"] = svc.export_campaign(ws, dataset, spec)
    done = st.session_state.get(f"{key}_export")
    if done is None:
        st.caption(
            "Only customers who opted in to e-mail are exported; the control group is marked."
        )
        return
    st.success(
        f"{done.rows:,} customers: {done.treatment:,} to contact, "
        f"{done.control:,} held out as control."
    )
    mime = "text/csv" if done.format == "csv" else "application/octet-stream"
    st.download_button(
        f"Download {done.file_name}",
        done.data,
        done.file_name,
        mime,
        key=f"{key}_download",
        on_click="ignore",
        icon=":material/download:",
    )


# --- saved campaigns ------------------------------------------------------------------------------
def show_saved_campaigns(ws: Workspace, dataset: str, key: str) -> None:
    """Saved campaigns side by side; reopen one into the form; measure an exported one."""
    saved = svc.list_campaigns(ws, dataset)
    if not saved:
        st.caption("No saved campaigns yet.")
        return
    simulated = [c for c in saved if "outcome" in c]
    if simulated:
        st.plotly_chart(charts.campaigns_chart(simulated), key=f"{key}_compare")
    rows = [
        {
            "campaign": c["name"],
            # a campaign exported without saving its simulation: the list's size is known
            "selected": c.get("outcome", {}).get("contacts", c.get("exported_rows")),
            "expected profit": c.get("outcome", {}).get("profit", {}).get("mean"),
            "exported": bool(c.get("exported")),
            "measured lift": (c.get("measured") or {}).get("lift"),
        }
        for c in saved
    ]
    st.dataframe(pl.DataFrame(rows), hide_index=True)
    names = [c["name"] for c in saved]
    pick = st.selectbox("Campaign", names, key=f"{key}_pick")
    if st.button("Reopen in the form", key=f"{key}_reopen"):
        reopen(svc.saved_campaign_spec(ws, dataset, pick), key)
        st.rerun()
    chosen = next(c for c in saved if c["name"] == pick)
    if chosen.get("exported"):
        upload = st.file_uploader(
            "Outcomes after the campaign (user_id + outcome, CSV or Parquet)",
            type=["csv", "parquet"],
            key=f"{key}_outcomes",
        )
        if upload is not None:
            raw = upload.getvalue()
            frame = (
                pl.read_parquet(io.BytesIO(raw))
                if upload.name.endswith(".parquet")
                else pl.read_csv(raw)
            )
            lift = svc.measure_campaign(ws, dataset, pick, frame)
            noted_metric(
                st,
                "Measured lift",
                f"{lift.lift * 100:+.2f} pts",
                f"{lift.confidence:.0%} CI {lift.lower * 100:+.2f} to {lift.upper * 100:+.2f}",
            )
