"""Uplift models: who buys *because* they were contacted, learned from a past randomised campaign.

Learners on LightGBM for binary and continuous outcomes (numbers in outcome units): a two-model
(T-learner), an X-learner, a transformed outcome, and an engagement learner (the contact as a rate
multiplier on visits); the ensembles blend them. Every learner is cross-fitted; the best per arm by
out-of-fold Qini is calibrated and stored as the mean of its fold models, so its tree SHAP is
exact. docs/decisions.md ("Uplift learners") says why each learner has the form it has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress, scaled
from models.campaigns.uplift_metrics import (
    calibrate,
    harm_report,
    qini_coefficient,
    qini_points,
    uplift_at_k,
)

__all__ = [
    "LEARNERS",
    "ArmModel",
    "CrossFit",
    "UpliftConfig",
    "UpliftFit",
    "cross_fit",
    "fit_uplift",
    "fold_ids",
]

LEARNERS = ("two_model", "x_learner", "transformed_outcome", "engagement")
Components = list[tuple[lgb.Booster, float]]
# an engagement term (components, outcome model, weight, side): with g = sum(w * b(x)) the log
# multiplier, uplift += weight * (exp(g) - 1) * mu0(x) (side +1, mu0 = no-contact outcome) or
# weight * (1 - exp(-g)) * mu1(x) (side -1, mu1 = outcome with contact)
Term = tuple[Components, lgb.Booster, float, int]
_MAX_LOG_LIFT = 3.0  # |log m(x)| cap: a contact at most multiplies engagement by e^3
_MIN_PER_ARM = 30


@dataclass(frozen=True)
class UpliftConfig:
    """Training settings. Small defaults: uplift signals are weak and overfit easily."""

    learners: tuple[str, ...] = LEARNERS
    folds: int = 8  # out-of-fold models see 7/8 of the rows; chosen on demo seeds 1-2, not 7-9
    num_boost_round: int = 150
    learning_rate: float = 0.08
    num_leaves: int = 6
    min_data_in_leaf: int = 200
    early_stopping_rounds: int = 20
    # effect-stage trees (X-learner's imputed effects, transformed outcome): None = as above
    effect_num_leaves: int | None = None
    effect_min_data_in_leaf: int | None = None
    # engagement learner: engagement offsets are floored at this share of the control mean; its
    # multiplier trees are smaller and need more rows per leaf (a smooth, relative target)
    engagement_floor: float = 0.05
    engagement_num_leaves: int = 4
    engagement_min_data_in_leaf: int = 400
    engagement_learning_rate: float | None = 0.04  # None = learning_rate (0.04: demo seeds 1-5)
    engagement_link: str = "auto"  # "auto": power link for 0/1 outcomes; "linear": (m - 1) mu0
    # the engagement learner's calibration factor ~ N(1, sd^2): about the spread of its own
    # uncalibrated top-30% level over demo seeds 1-5 (0.075 and 0.05 tie there; the wider kept)
    engagement_slope_prior_sd: float = 0.075
    random_state: int = 0
    n_jobs: int = 1  # one thread: OpenMP spin-waits badly on a shared machine (6x slower)


# --- learners -------------------------------------------------------------------------------------
@dataclass
class ArmModel:
    """One treatment arm's uplift model: ``uplift(x) = sum(w * booster(x)) * b + a``.

    ``components`` are (booster, weight); ``scaled`` the engagement terms ``(components, outcome
    model, weight, side)`` (see ``Term``);
    ``calibration`` = (a, b) maps raw to calibrated uplift and ``calibration_cov`` is its 2x2
    covariance (model uncertainty); ``metrics`` per learner tried.
    """

    arm: str
    learner: str
    components: Components
    calibration: tuple[float, float] = (0.0, 1.0)
    calibration_cov: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0], [0.0, 0.0]])
    treated_share: float = 0.5
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    harm: list[dict[str, Any]] = field(default_factory=list)
    scaled: list[Term] = field(default_factory=list)

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """Uplift as the learner outputs it (outcome units per user); ranks users."""
        return _predict((self.components, self.scaled), X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated uplift: the expected change in the outcome if this user is contacted."""
        a, b = self.calibration
        return a + b * self.predict_raw(X)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Tree SHAP of the raw uplift: (n, n_features + 1), last column the expected value.

        Engagement terms contribute their weighted sum's SHAP values times the row's scale."""
        out = np.zeros((len(X), X.shape[1] + 1))
        for booster, weight in self.components:
            out += weight * np.asarray(booster.predict(X, pred_contrib=True))
        shap: dict[tuple, np.ndarray] = {}  # both sides of a term share its multiplier trees
        for term_spec in self.scaled:
            key = _key(term_spec[0])
            if key not in shap:
                shap[key] = np.zeros_like(out)
                for b, w in term_spec[0]:
                    shap[key] += w * np.asarray(b.predict(X, pred_contrib=True))
            part = shap[key]
            log_lift = part.sum(axis=1)  # SHAP values add up to the raw output
            term = _term(term_spec, X, log_lift)
            ratio = np.divide(term, log_lift, out=np.zeros_like(term), where=log_lift != 0)
            out += ratio[:, None] * part
        return out


@dataclass
class UpliftFit:
    """What ``fit_uplift`` learned: a model per treatment arm plus the shared baseline model."""

    arms: dict[str, ArmModel]
    baseline: lgb.Booster
    control: str
    binary: bool
    feature_names: list[str]
    fold: np.ndarray  # cross-fitting fold per training row (empty when loaded from artifacts)

    def predict_baseline(self, X: np.ndarray) -> np.ndarray:
        """Expected outcome without contact (clipped to [0, 1] for a binary outcome)."""
        base = np.asarray(self.baseline.predict(X, raw_score=True), dtype=float)
        return np.clip(base, 0.0, 1.0) if self.binary else base


def _params(config: UpliftConfig) -> dict[str, Any]:
    return {
        "objective": "regression",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": config.random_state,
        "num_threads": config.n_jobs,
        "verbose": -1,
        "deterministic": True,
    }


def _train(
    X: np.ndarray, y: np.ndarray, config: UpliftConfig, names: list[str], seed: int
) -> lgb.Booster:
    """A regressor with early stopping on a 20% slice of its own training rows."""
    rng = np.random.default_rng(seed)
    valid = rng.random(len(y)) < 0.2
    params = _params(config)
    params["min_data_in_leaf"] = min(config.min_data_in_leaf, max(5, len(y) // 20))
    if valid.sum() < 20 or (~valid).sum() < 20:
        return lgb.train(params, lgb.Dataset(X, y, feature_name=names), num_boost_round=50)
    train_set = lgb.Dataset(X[~valid], y[~valid], feature_name=names)
    valid_set = lgb.Dataset(X[valid], y[valid], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    return booster


def _effect_config(config: UpliftConfig) -> UpliftConfig:
    """Settings for trees that learn the effect itself (a weaker signal than the outcome)."""
    return dataclasses.replace(
        config,
        num_leaves=config.effect_num_leaves or config.num_leaves,
        min_data_in_leaf=config.effect_min_data_in_leaf or config.min_data_in_leaf,
    )


def _learn(
    learner: str,
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    mu0: lgb.Booster,
    config: UpliftConfig,
    names: list[str],
    seed: int | None = None,
    mu1: lgb.Booster | None = None,
) -> list[tuple[lgb.Booster, float]]:
    """Fit one learner on one arm's training rows (``t`` True = treated); ``mu1``, the treated
    outcome model, is trained here unless given (the two-model and X-learner share it)."""
    seed = config.random_state if seed is None else seed
    e = float(t.mean())
    if learner in ("two_model", "x_learner") and mu1 is None:
        mu1 = _train(X[t], y[t], config, names, seed + 1)
    if learner == "two_model":
        assert mu1 is not None
        return [(mu1, 1.0), (mu0, -1.0)]
    if learner == "x_learner":
        assert mu1 is not None
        d1 = y[t] - mu0.predict(X[t], raw_score=True)
        d0 = mu1.predict(X[~t], raw_score=True) - y[~t]
        tau1 = _train(X[t], d1, _effect_config(config), names, seed + 2)
        tau0 = _train(X[~t], d0, _effect_config(config), names, seed + 3)
        return [(tau0, e), (tau1, 1.0 - e)]
    if learner == "transformed_outcome":
        y_star = y * (t - e) / (e * (1.0 - e))
        return [(_train(X, y_star, _effect_config(config), names, seed + 4), 1.0)]
    raise SpecError(f"Unknown uplift learner '{learner}': choose from {', '.join(LEARNERS)}.")


def _raw(components: Components, X: np.ndarray) -> np.ndarray:
    """The uplift as a weighted sum of the boosters' raw outputs."""
    out = np.zeros(len(X))
    for booster, weight in components:
        out += weight * np.asarray(booster.predict(X, raw_score=True), dtype=float)
    return out


def _key(components: Components) -> tuple[tuple[int, float], ...]:
    """Identifies a weighted sum of boosters (the two sides of an engagement term share one)."""
    return tuple((id(booster), weight) for booster, weight in components)


def _term(term: Term, X: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
    """An engagement term (``Term``), log m the sum: ``(m - 1) * mu0`` or ``(1 - 1/m) * mu1``
    (side +-1); for a 0/1 outcome (side +-2) the chance of no conversion is raised to the power
    of the multiplier, ``(1 - mu0) - (1 - mu0)^m`` or ``(1 - mu1)^(1/m) - (1 - mu1)``.
    ``raw``: the components' weighted sum on ``X`` when the caller already has it."""
    comps, outcome, weight, side = term
    log_lift = np.clip(_raw(comps, X) if raw is None else raw, -_MAX_LOG_LIFT, _MAX_LOG_LIFT)
    base = np.maximum(np.asarray(outcome.predict(X, raw_score=True), dtype=float), 0.0)
    if abs(side) == 2:
        none = np.clip(1.0 - base, 1e-6, 1.0)
        power = np.exp(log_lift) if side > 0 else np.exp(-log_lift)
        lift = none - none**power
        return weight * (lift if side > 0 else -lift)
    lift = np.expm1(log_lift) if side > 0 else -np.expm1(-log_lift)
    return weight * lift * base


def _predict(parts: tuple[Components, list[Term]], X: np.ndarray) -> np.ndarray:
    """Raw uplift of a learner: its weighted sum plus its engagement terms."""
    components, terms = parts
    out = _raw(components, X)
    raws: dict[tuple, np.ndarray] = {}  # both sides of a term share its multiplier trees
    for term in terms:
        key = _key(term[0])
        if key not in raws:
            raws[key] = _raw(term[0], X)
        out += _term(term, X, raws[key])
    return out


def _train_rate(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    config: UpliftConfig,
    names: list[str],
    seed: int,
) -> lgb.Booster:
    """Poisson trees for ``log(E[y] / exp(offset))``: a log rate multiplier over the offset."""
    rng = np.random.default_rng(seed)
    valid = rng.random(len(y)) < 0.2
    params = _params(config)
    params |= {
        "objective": "poisson",
        "num_leaves": config.engagement_num_leaves,
        "min_data_in_leaf": min(config.engagement_min_data_in_leaf, max(5, len(y) // 20)),
        "learning_rate": config.engagement_learning_rate or config.learning_rate,
    }
    y = np.maximum(y, 0.0)
    if valid.sum() < 20 or (~valid).sum() < 20:
        data = lgb.Dataset(X, y, init_score=offset, feature_name=names)
        return lgb.train(params, data, num_boost_round=50)
    train_set = lgb.Dataset(X[~valid], y[~valid], init_score=offset[~valid], feature_name=names)
    valid_set = lgb.Dataset(X[valid], y[valid], init_score=offset[valid], reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=4 * config.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )


def _learn_engagement(
    X: np.ndarray,
    t: np.ndarray,
    aux: np.ndarray,
    nu0: lgb.Booster,
    floor: float,
    config: UpliftConfig,
    names: list[str],
    seed: int,
) -> Components:
    """The engagement learner's log multiplier ``log m(x)`` as weighted Poisson trees."""
    e = float(t.mean())
    nu1 = _train(X[t], aux[t], config, names, seed + 6)

    def offset(model: lgb.Booster, rows: np.ndarray) -> np.ndarray:
        pred = np.asarray(model.predict(X[rows], raw_score=True), dtype=float)
        return np.log(np.maximum(pred, floor))

    g1 = _train_rate(X[t], aux[t], offset(nu0, t), config, names, seed + 7)
    g0 = _train_rate(X[~t], aux[~t], offset(nu1, ~t), config, names, seed + 8)
    return [(g1, 1.0 - e), (g0, -e)]


def fold_ids(arm: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number ``0..folds-1`` per row, stratified by arm (each arm spread evenly)."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(arm), dtype=np.int64)
    for value in np.unique(arm):
        idx = np.flatnonzero(arm == value)
        out[idx] = rng.permutation(np.arange(len(idx)) % folds)
    return out


@dataclass
class CrossFit:
    """Out-of-fold predictions: every row scored by models that never saw it.

    ``oof[arm][learner]`` is the raw uplift per row (NaN outside that arm and the control);
    ``base`` the no-contact prediction per row; ``models[arm][learner]`` each fold's components
    and engagement terms.
    """

    fold: np.ndarray
    base: np.ndarray
    oof: dict[str, dict[str, np.ndarray]]
    models: dict[str, dict[str, list[tuple[Components, list[Term]]]]]


@dataclass(frozen=True)
class _Plan:
    """What cross-fitting trains in every fold, fixed for the whole fit."""

    learners: list[str]
    config: UpliftConfig
    feature_names: list[str]
    floor: float  # engagement offsets are floored here (a share of the control mean)
    binary: bool  # engagement terms use the power link (a 0/1 outcome)

    @property
    def names(self) -> list[str]:
        """Every learner with out-of-fold predictions: the trained ones, then the blends."""
        blends = [n for n, parts in _BLENDS.items() if set(parts) <= set(self.learners)]
        return [*self.learners, *blends]


# blends of two trained learners at no extra training: name -> the learners averaged
_BLENDS = {
    "ensemble": ("two_model", "x_learner"),
    "engagement_ensemble": ("x_learner", "engagement"),
}


def _plan(
    config: UpliftConfig,
    feature_names: list[str],
    arm: np.ndarray,
    y: np.ndarray,
    control: str,
    aux: np.ndarray | None,
) -> _Plan:
    learners = [n for n in config.learners if n != "engagement" or aux is not None]
    floor = 0.0
    if aux is not None:
        floor = config.engagement_floor * max(float(aux[arm == control].mean()), 1e-9)
    binary = bool(np.isin(np.unique(y), [0.0, 1.0]).all()) and config.engagement_link == "auto"
    return _Plan(learners, config, feature_names, floor, binary)


def _fit_arm(
    plan: _Plan,
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    aux: np.ndarray | None,
    outcome_models: tuple[lgb.Booster, lgb.Booster | None],
    seed: int,
) -> dict[str, tuple[Components, list[Term]]]:
    """Every learner of one arm on one fold's training rows (``t`` True = treated), then the
    blends. ``outcome_models``: the fold's no-contact outcome and engagement (or None) models."""
    mu0, nu0 = outcome_models
    config, names = plan.config, plan.feature_names
    mu1 = None  # one treated outcome model per fold, shared by every learner
    if {"two_model", "x_learner", "engagement"} & set(plan.learners):
        mu1 = _train(X[t], y[t], config, names, seed + 1)
    fitted: dict[str, tuple[Components, list[Term]]] = {}
    for learner in plan.learners:
        if learner == "engagement":
            assert aux is not None and nu0 is not None and mu1 is not None
            comps = _learn_engagement(X, t, aux, nu0, plan.floor, config, names, seed)
            side = 2 if plan.binary else 1
            fitted[learner] = ([], [(comps, mu0, 0.5, side), (comps, mu1, 0.5, -side)])
        else:
            fitted[learner] = (_learn(learner, X, t, y, mu0, config, names, seed=seed, mu1=mu1), [])
    if "ensemble" in plan.names:  # mean of the two-model and X-learner
        fitted["ensemble"] = (
            [(b, w / 2) for n in ("two_model", "x_learner") for b, w in fitted[n][0]],
            [],
        )
    if "engagement_ensemble" in plan.names:  # mean of the X-learner and the engagement learner
        fitted["engagement_ensemble"] = (
            [(b, w / 2) for b, w in fitted["x_learner"][0]],
            [(c, o, w / 2, side) for c, o, w, side in fitted["engagement"][1]],
        )
    return fitted


def cross_fit(
    X: np.ndarray,
    arm: np.ndarray,
    y: np.ndarray,
    *,
    control: str,
    arms: list[str],
    feature_names: list[str],
    config: UpliftConfig = UpliftConfig(),
    aux: np.ndarray | None = None,
    progress: Progress = no_progress,
) -> CrossFit:
    """Fit every learner for every arm on ``config.folds`` folds; predict each fold's rows from
    the models trained on the other folds (model choice and calibration then use every row).
    ``aux``: an engagement outcome in the same window (enables the ``engagement`` learners)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    arm = np.asarray(arm).astype(str)
    aux = None if aux is None else np.asarray(aux, dtype=float)
    k = max(int(config.folds), 2)
    fold = fold_ids(arm, k, config.random_state)
    plan = _plan(config, feature_names, arm, y, control, aux)
    base = np.full(len(y), np.nan)
    oof = {a: {n: np.full(len(y), np.nan) for n in plan.names} for a in arms}
    models: dict[str, dict[str, list]] = {a: {n: [] for n in plan.names} for a in arms}
    ctrl = arm == control
    for f in range(k):
        tr, te = fold != f, fold == f
        progress(f / k, f"Cross-fitting: fold {f + 1} of {k}")
        mu0 = _train(X[ctrl & tr], y[ctrl & tr], config, feature_names, config.random_state + f)
        base[te] = mu0.predict(X[te], raw_score=True)
        nu0 = None  # no-contact engagement
        if aux is not None and "engagement" in plan.learners:
            nu0 = _train(X[ctrl & tr], aux[ctrl & tr], config, feature_names, 7919 + f)
        for a in arms:
            rows = (arm == a) | ctrl
            r_tr, r_te = rows & tr, rows & te
            fitted = _fit_arm(
                plan, X[r_tr], arm[r_tr] == a, y[r_tr], None if aux is None else aux[r_tr],
                (mu0, nu0), config.random_state + 10 * f,
            )  # fmt: skip
            for n, parts in fitted.items():
                oof[a][n][r_te] = _predict(parts, X[r_te])
                models[a][n].append(parts)
    return CrossFit(fold, base, oof, models)


def _check_arms(arm: np.ndarray, control: str) -> list[str]:
    values, counts = np.unique(arm, return_counts=True)
    sizes = dict(zip(values.tolist(), counts.tolist(), strict=True))
    if control not in sizes:
        raise SpecError(
            f"No row has the control value '{control}' "
            f"(values seen: {', '.join(map(str, values))})."
        )
    arms = [v for v in values.tolist() if v != control]
    if not arms:
        raise SpecError("Every row is in the control arm; uplift needs a treated group too.")
    small = [f"{k} ({n})" for k, n in sizes.items() if n < _MIN_PER_ARM]
    if small:
        raise NotEnoughData(
            f"Too few rows to learn uplift in: {', '.join(small)}; each arm needs at least "
            f"{_MIN_PER_ARM}."
        )
    return arms


def fit_uplift(
    X: np.ndarray,
    arm: np.ndarray,
    y: np.ndarray,
    *,
    control: str,
    feature_names: list[str],
    config: UpliftConfig = UpliftConfig(),
    true_uplift: np.ndarray | None = None,
    aux: np.ndarray | None = None,
    progress: Progress = no_progress,
) -> UpliftFit:
    """Cross-fit every learner for every arm, keep the best by out-of-fold Qini, calibrate it.

    Model choice, calibration, curves and the harm report all use the out-of-fold predictions of
    every row (not one held-out split, whose Qini and slope are too noisy to choose by). The
    stored model averages the chosen learner's fold models (``weight / folds`` each), so scoring
    needs no refit and SHAP stays exact. ``X`` is (n, p) float (NaN allowed), ``arm`` the arm
    label per row, ``y`` the outcome. With ``true_uplift`` (demo ground truth) the metrics also
    hold the Qini of the planted truth on the same rows. ``aux``: an engagement outcome per row
    measured in the same window (e.g. active days after the send), for the engagement learners.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    arm = np.asarray(arm).astype(str)
    arms = _check_arms(arm, control)
    binary = bool(np.isin(np.unique(y), [0.0, 1.0]).all())
    cf = cross_fit(
        X, arm, y, control=control, arms=arms, feature_names=feature_names, config=config,
        aux=aux, progress=scaled(progress, 0.02, 0.85),
    )  # fmt: skip
    progress(0.88, "Learning what customers do without contact")
    ctrl = arm == control
    mu0 = _train(X[ctrl], y[ctrl], config, feature_names, config.random_state)
    truth = None if true_uplift is None else np.asarray(true_uplift, dtype=float)
    models = {a: _arm_model(a, cf, (arm == a) | ctrl, arm == a, y, config, truth) for a in arms}
    progress(0.95, "Uplift models ready")
    return UpliftFit(models, mu0, control, binary, list(feature_names), cf.fold)


def _ranking_metrics(score: np.ndarray, t: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"qini": qini_coefficient(score, t, y), "uplift_at_30": uplift_at_k(score, t, y, 0.3)}


def _arm_model(
    a: str,
    cf: CrossFit,
    rows: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    config: UpliftConfig,
    truth: np.ndarray | None,
) -> ArmModel:
    """Arm ``a``'s best learner by out-of-fold Qini on its ``rows`` (the arm and the control),
    calibrated, with its fold models averaged into one model."""
    t, yy = treated[rows], y[rows]
    metrics = {learner: _ranking_metrics(pred[rows], t, yy) for learner, pred in cf.oof[a].items()}
    learner = max(metrics, key=lambda n: metrics[n]["qini"])
    s = cf.oof[a][learner][rows]
    if learner == "engagement":  # structural: only a factor, shrunk towards 1
        calibration, cov = calibrate(s, t, yy, cf.base[rows], scale_only=True,
                                     slope_sd=config.engagement_slope_prior_sd)  # fmt: skip
    else:
        calibration, cov = calibrate(s, t, yy, cf.base[rows])
    curves = {"model": qini_points(s, t, yy)}
    if truth is not None:
        metrics["truth"] = _ranking_metrics(truth[rows], t, yy)
        curves["truth"] = qini_points(truth[rows], t, yy)
    k = max(int(config.folds), 2)
    folds = cf.models[a][learner]
    return ArmModel(
        arm=a,
        learner=learner,
        components=[(b, w / k) for fold_comps, _ in folds for b, w in fold_comps],
        calibration=calibration,
        calibration_cov=cov,
        treated_share=float(t.mean()),
        metrics=metrics,
        curves=curves,
        harm=harm_report(calibration[0] + calibration[1] * s, t, yy),
        scaled=[(c, out, w / k, side) for _, terms in folds for c, out, w, side in terms],
    )
