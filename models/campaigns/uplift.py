"""Uplift models: who buys *because* they were contacted, learned from a past randomised campaign.

Four learners on LightGBM, for binary and continuous outcomes (all numbers in outcome units, e.g.
probability points or currency):

- ``two_model`` (T-learner): one outcome model on the treated, one on the controls; uplift is the
  difference.
- ``x_learner`` (Künzel et al. 2019): imputed individual effects regressed in each arm, blended by
  the treated share.
- ``transformed_outcome`` (class transformation generalised to any outcome and any treated share):
  ``Y* = Y (T - e) / (e (1 - e))`` has ``E[Y* | x] = uplift(x)``, so one regressor learns uplift.
- ``engagement`` (only with an engagement count ``aux`` measured in the same window, e.g. active
  days after the send): the contact's effect as a *rate multiplier* on engagement, a dense signal
  (a visit count varies far less between alike customers than a single purchase does). Poisson
  trees with the other arm's engagement model as offset learn ``log m(x)`` on the treated
  (offset ``log nu0(x)``) and ``-log m(x)`` on the controls (offset ``log nu1(x)``), blended like
  the X-learner; the extra visits convert like the customer's usual ones, so ``uplift = (m(x) - 1)
  * mu0(x) = (1 - 1 / m(x)) * mu1(x)`` with ``mu0``, ``mu1`` the outcome without and with contact
  (the mean of both forms: each outcome model sees only its own arm). For a 0/1 outcome ("bought
  at least once in the window") the chance of *no* conversion is raised to the power ``m``
  instead, ``uplift = (1 - mu0) - (1 - mu0)^m = (1 - mu1)^(1/m) - (1 - mu1)``: each visit is
  another chance to buy, so a customer who buys anyway gains little (the linear form overstated
  the demo's top-30% uplift by 1.2-1.4x before calibration; this form is within about 10%).
  A multiplier is a smooth, low-variance target (alike customers respond alike in relative terms,
  whatever their activity); the outcome models carry the activity. Being structural (0 where the
  contact changes nothing), it is calibrated by a factor only, shrunk towards 1: its level comes
  from the dense engagement outcome, and the sparse outcome of one campaign only corrects it.
  ``engagement_ensemble`` is its mean with the X-learner.

Every other learner's uplift is a weighted sum of raw LightGBM outputs (outcome models are L2
regressors, also for 0/1 outcomes), so tree SHAP of the uplift is the same weighted sum of each
tree's SHAP values: exact, no surrogate. An engagement term, ``expm1`` of a weighted sum times
``mu0``, reports the sum's SHAP values scaled row by row so that they add up to the term. An
``ensemble`` (the mean of the two-model and X-learner uplift) competes too, at no extra training
cost. More than two arms: one uplift model per treatment arm against the shared control. Every
learner is cross-fitted (``cross_fit``: K folds, each fold's rows predicted by models trained on
the other folds), so every row gets an out-of-fold prediction; the best learner per arm is the one
with the highest out-of-fold Qini over all rows, its out-of-fold uplift is calibrated on all rows
(``calibrate``), which also gives the model uncertainty the campaign simulator draws from, and the
stored model is the mean of its fold models.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.progress import Progress, no_progress, scaled

__all__ = [
    "LEARNERS",
    "ArmModel",
    "CrossFit",
    "UpliftConfig",
    "UpliftFit",
    "calibrate",
    "card_parts",
    "cross_fit",
    "fit_uplift",
    "fold_ids",
    "from_artifacts",
    "harm_report",
    "qini_coefficient",
    "qini_curve",
    "to_artifacts",
    "uplift_at_k",
    "uplift_curve",
]

LEARNERS = ("two_model", "x_learner", "transformed_outcome", "engagement")
Components = list[tuple[lgb.Booster, float]]
# an engagement term (components, outcome model, weight, side): with g = sum(w * b(x)) the log
# multiplier, uplift += weight * (exp(g) - 1) * mu0(x) (side +1, mu0 = no-contact outcome) or
# weight * (1 - exp(-g)) * mu1(x) (side -1, mu1 = outcome with contact)
Term = tuple[Components, lgb.Booster, float, int]
_MAX_LOG_LIFT = 3.0  # |log m(x)| cap: a contact at most multiplies engagement by e^3
_MIN_PER_ARM = 30
_SLOPE_PRIOR_SD = 0.25


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


# --- metrics --------------------------------------------------------------------------------------
def _ranked(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    yy = np.asarray(y, dtype=float)[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * ~t)
    return n_t.astype(float), n_c.astype(float), y_t, y_c


def qini_curve(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Qini curve: ``(share, qini)`` after targeting the top ``k`` users by ``score``, k = 0..N.

    ``qini[k] = Y_t(k) - Y_c(k) * N_t(k) / N_c(k)`` (Radcliffe): incremental outcomes among the
    treated in the top k, with 0 while the top k holds no control. Both arrays start at 0.
    """
    n_t, n_c, y_t, y_c = _ranked(score, treated, y)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    q = np.concatenate([[0.0], y_t - y_c * ratio])
    share = np.arange(len(q)) / max(len(q) - 1, 1)
    return share, q


def uplift_curve(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Uplift curve: ``(share, gain)`` with ``gain[k] = (mean_t(k) - mean_c(k)) * k``.

    The incremental outcomes if the top k were all contacted; 0 until both arms are present.
    """
    n_t, n_c, y_t, y_c = _ranked(score, treated, y)
    both = (n_t > 0) & (n_c > 0)
    diff = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=both) - np.divide(
        y_c, n_c, out=np.zeros_like(y_c), where=both
    )
    gain = np.concatenate([[0.0], diff * np.arange(1, len(n_t) + 1)])
    share = np.arange(len(gain)) / max(len(gain) - 1, 1)
    return share, gain


def qini_coefficient(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line, per user and per user targeted.

    ``mean_{k=1..N} (qini[k] - k/N * qini[N]) / N``: 0 for random ranking, positive when the ranking
    finds the persuadable first. Same units as the outcome (e.g. probability points).
    """
    _, q = qini_curve(score, treated, y)
    n = len(q) - 1
    if n == 0:
        return 0.0
    k = np.arange(1, n + 1)
    return float(np.mean(q[1:] - k / n * q[-1]) / n)


def uplift_at_k(score: np.ndarray, treated: np.ndarray, y: np.ndarray, k: float = 0.3) -> float:
    """Measured uplift (treated mean minus control mean) among the top ``k`` share by ``score``."""
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[
        : max(math.ceil(k * len(y)), 1)
    ]
    t, c = top[treated[top]], top[~treated[top]]
    if len(t) == 0 or len(c) == 0:
        return float("nan")
    return float(y[t].mean() - y[c].mean())


def harm_report(
    score: np.ndarray, treated: np.ndarray, y: np.ndarray, groups: int = 10
) -> list[dict[str, Any]]:
    """Measured uplift per group of predicted uplift (group 1 = highest), with a 95% interval.

    ``harmed`` is True when the whole interval is below 0: contacting that group loses outcomes.
    """
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    rows = []
    for g, idx in enumerate(np.array_split(order, groups), start=1):
        yt, yc = y[idx[treated[idx]]], y[idx[~treated[idx]]]
        if len(yt) < 2 or len(yc) < 2:
            continue
        diff = yt.mean() - yc.mean()
        se = math.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc))
        rows.append(
            {
                "group": g,
                "users": len(idx),
                "predicted": float(np.mean(score[idx])),
                "measured": float(diff),
                "lower": float(diff - 1.96 * se),
                "upper": float(diff + 1.96 * se),
                "harmed": bool(diff + 1.96 * se < 0),
            }
        )
    return rows


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


def _hc1(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients and their robust (HC1) covariance."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    bread = np.linalg.pinv(design.T @ design)
    meat = (design * resid[:, None] ** 2).T @ design
    n, p = design.shape
    return beta, bread @ meat @ bread * n / max(n - p, 1)


def calibrate(
    score: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    *,
    scale_only: bool = False,
    slope_sd: float = _SLOPE_PRIOR_SD,
) -> tuple[tuple[float, float], list[list[float]]]:
    """Fit ``uplift = a + b * score`` on held-out rows, shrunk towards the model's own scale.

    Least squares of ``y`` on ``[1, base, score, (T - e), (T - e) * score]`` (``base``, the
    no-contact prediction, absorbs noise) gives ``(a, b)`` with a robust (HC1) covariance; a
    weakly informative prior ``a ~ N(0, sd(score)^2)``, ``b ~ N(1, 0.25^2)`` (the learners already
    output uplift in outcome units) is combined with it by precision weighting, because a held-out
    slope from a few thousand rows is itself very noisy. ``b`` is floored at 0 so that a model no
    better than chance falls back to the average effect. Returns ``(a, b)`` and its covariance.

    ``scale_only`` (for a structural uplift that is 0 where the contact changes nothing, e.g. the
    engagement learner's): ``a = 0`` and only the factor ``b`` is fitted (the ``(T - e) * score``
    term), shrunk towards 1 with prior sd ``slope_sd``; its posterior variance is the only entry
    of the covariance.
    """
    t = np.asarray(treated, dtype=float)
    tc = t - t.mean()
    s = np.asarray(score, dtype=float)
    if scale_only:
        design = np.column_stack([np.ones_like(s), base, s, tc * s])
        beta, var = _hc1(design, y)
        prec = 1.0 / slope_sd**2 + 1.0 / max(float(var[3, 3]), 1e-18)
        b = (1.0 / slope_sd**2 + float(beta[3]) / max(float(var[3, 3]), 1e-18)) / prec
        return (0.0, max(b, 0.0)), [[0.0, 0.0], [0.0, 1.0 / prec]]
    design = np.column_stack([np.ones_like(s), base, s, tc, tc * s])
    beta, full = _hc1(design, y)
    cov = full[np.ix_([3, 4], [3, 4])]
    prior_prec = np.diag([1.0 / max(float(s.std()), 1e-9) ** 2, 1.0 / slope_sd**2])
    data_prec = np.linalg.pinv(cov)
    post_cov = np.linalg.pinv(prior_prec + data_prec)
    a, b = post_cov @ (prior_prec @ np.array([0.0, 1.0]) + data_prec @ beta[[3, 4]])
    if b < 0:  # the ranking carries no usable signal: everyone gets the average effect
        return (float(a + b * s.mean()), 0.0), [[float(post_cov[0, 0]), 0.0], [0.0, 0.0]]
    return (float(a), float(b)), post_cov.tolist()


def _curve_points(score: np.ndarray, t: np.ndarray, y: np.ndarray, points: int = 51) -> list:
    share, q = qini_curve(score, t, y)
    idx = np.unique(np.linspace(0, len(q) - 1, points).round().astype(int))
    return [[float(share[i]), float(q[i])] for i in idx]


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
    k = max(int(config.folds), 2)
    fold = fold_ids(arm, k, config.random_state)
    learners = [n for n in config.learners if n != "engagement" or aux is not None]
    with_ensemble = {"two_model", "x_learner"} <= set(learners)
    with_engagement = {"engagement", "x_learner"} <= set(learners)
    names = [*learners, *(["ensemble"] if with_ensemble else [])]
    names += ["engagement_ensemble"] if with_engagement else []
    floor = 0.0
    if aux is not None:
        aux = np.asarray(aux, dtype=float)
        floor = config.engagement_floor * max(float(aux[arm == control].mean()), 1e-9)
    base = np.full(len(y), np.nan)
    oof = {a: {n: np.full(len(y), np.nan) for n in names} for a in arms}
    models: dict[str, dict[str, list]] = {a: {n: [] for n in names} for a in arms}
    ctrl = arm == control
    binary = bool(np.isin(np.unique(y), [0.0, 1.0]).all()) and config.engagement_link == "auto"
    for f in range(k):
        tr, te = fold != f, fold == f
        progress(f / k, f"Cross-fitting: fold {f + 1} of {k}")
        mu0 = _train(X[ctrl & tr], y[ctrl & tr], config, feature_names, config.random_state + f)
        base[te] = mu0.predict(X[te], raw_score=True)
        nu0 = None  # no-contact engagement
        if "engagement" in learners:
            assert aux is not None
            nu0 = _train(X[ctrl & tr], aux[ctrl & tr], config, feature_names, 7919 + f)
        for a in arms:
            rows = (arm == a) | ctrl
            r_tr, r_te = rows & tr, rows & te
            fitted: dict[str, tuple[Components, list[Term]]] = {}
            t_tr = arm[r_tr] == a
            seed = config.random_state + 10 * f
            mu1 = None  # one treated outcome model per fold, shared by every learner
            if {"two_model", "x_learner", "engagement"} & set(learners):
                mu1 = _train(X[r_tr][t_tr], y[r_tr][t_tr], config, feature_names, seed + 1)
            for learner in learners:
                if learner == "engagement":
                    assert aux is not None and nu0 is not None
                    comps = _learn_engagement(X[r_tr], t_tr, aux[r_tr], nu0, floor, config,
                                              feature_names, seed)  # fmt: skip
                    assert mu1 is not None
                    side = 2 if binary else 1
                    fitted[learner] = ([], [(comps, mu0, 0.5, side), (comps, mu1, 0.5, -side)])
                    continue
                comps = _learn(learner, X[r_tr], t_tr, y[r_tr], mu0, config, feature_names,
                               seed=seed, mu1=mu1)  # fmt: skip
                fitted[learner] = (comps, [])
            if with_ensemble:  # mean of the two-model and X-learner: no extra training
                fitted["ensemble"] = (
                    [(b, w / 2) for n in ("two_model", "x_learner") for b, w in fitted[n][0]],
                    [],
                )
            if with_engagement:  # mean of the X-learner and the engagement learner
                fitted["engagement_ensemble"] = (
                    [(b, w / 2) for b, w in fitted["x_learner"][0]],
                    [(c, o, w / 2, side) for c, o, w, side in fitted["engagement"][1]],
                )
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
    k = max(int(config.folds), 2)
    progress(0.88, "Learning what customers do without contact")
    ctrl = arm == control
    mu0 = _train(X[ctrl], y[ctrl], config, feature_names, config.random_state)
    models: dict[str, ArmModel] = {}
    for a in arms:
        rows = (arm == a) | ctrl
        t, yy = arm[rows] == a, y[rows]
        metrics: dict[str, dict[str, float]] = {}
        for learner, pred in cf.oof[a].items():
            s = pred[rows]
            metrics[learner] = {
                "qini": qini_coefficient(s, t, yy),
                "uplift_at_30": uplift_at_k(s, t, yy, 0.3),
            }
        learner = max(metrics, key=lambda n: metrics[n]["qini"])
        s = cf.oof[a][learner][rows]
        if learner == "engagement":  # structural: only a factor, shrunk towards 1
            calibration, cov = calibrate(s, t, yy, cf.base[rows], scale_only=True,
                                         slope_sd=config.engagement_slope_prior_sd)  # fmt: skip
        else:
            calibration, cov = calibrate(s, t, yy, cf.base[rows])
        curves = {"model": _curve_points(s, t, yy)}
        if true_uplift is not None:
            truth = np.asarray(true_uplift, dtype=float)[rows]
            metrics["truth"] = {
                "qini": qini_coefficient(truth, t, yy),
                "uplift_at_30": uplift_at_k(truth, t, yy, 0.3),
            }
            curves["truth"] = _curve_points(truth, t, yy)
        comps = [(b, w / k) for fold_comps, _ in cf.models[a][learner] for b, w in fold_comps]
        terms = [
            (t_comps, t_out, t_w / k, side)
            for _, fold_terms in cf.models[a][learner]
            for t_comps, t_out, t_w, side in fold_terms
        ]
        models[a] = ArmModel(
            arm=a,
            learner=learner,
            components=comps,
            calibration=calibration,
            calibration_cov=cov,
            treated_share=float(t.mean()),
            metrics=metrics,
            curves=curves,
            harm=harm_report(calibration[0] + calibration[1] * s, t, yy),
            scaled=terms,
        )
    progress(0.95, "Uplift models ready")
    return UpliftFit(models, mu0, control, binary, list(feature_names), cf.fold)


# --- persistence (LightGBM text models + a JSON card; no pickles) ---------------------------------
def to_artifacts(fit: UpliftFit) -> tuple[dict[str, Any], dict[str, str]]:
    """A JSON-safe card and the LightGBM text of every booster, keyed by a short part name."""
    texts: dict[str, str] = {"base": fit.baseline.model_to_string()}
    names = {id(fit.baseline): "base"}
    arms: dict[str, Any] = {}
    for k, (a, model) in enumerate(fit.arms.items()):

        def name(booster: lgb.Booster, k: int = k) -> str:
            if id(booster) not in names:
                names[id(booster)] = f"arm{k}_{len(names)}"
                texts[names[id(booster)]] = booster.model_to_string()
            return names[id(booster)]

        parts = [[name(booster), weight] for booster, weight in model.components]
        scaled = [
            {"components": [[name(b), w] for b, w in comps], "outcome": name(out),
             "weight": w_term, "side": side}
            for comps, out, w_term, side in model.scaled
        ]  # fmt: skip
        arms[a] = {
            "learner": model.learner,
            "components": parts,
            "scaled": scaled,
            "calibration": list(model.calibration),
            "calibration_cov": model.calibration_cov,
            "treated_share": model.treated_share,
            "metrics": model.metrics,
            "curves": model.curves,
            "harm": model.harm,
        }
    card = {
        "control": fit.control,
        "binary": fit.binary,
        "feature_names": fit.feature_names,
        "arms": arms,
    }
    return card, texts


def card_parts(card: dict[str, Any]) -> set[str]:
    """The names of every booster part an uplift card refers to (``to_artifacts`` texts)."""
    parts = {"base"}
    for spec in card["arms"].values():
        parts |= {name for name, _ in spec["components"]}
        for term in spec.get("scaled", []):
            parts |= {name for name, _ in term["components"]} | {term["outcome"]}
    return parts


def from_artifacts(card: dict[str, Any], texts: dict[str, str]) -> UpliftFit:
    """Rebuild an ``UpliftFit`` from ``to_artifacts`` output (for scoring)."""
    boosters = {name: lgb.Booster(model_str=text) for name, text in texts.items()}
    arms = {
        a: ArmModel(
            arm=a,
            learner=spec["learner"],
            components=[(boosters[name], float(w)) for name, w in spec["components"]],
            calibration=(float(spec["calibration"][0]), float(spec["calibration"][1])),
            calibration_cov=spec["calibration_cov"],
            treated_share=float(spec["treated_share"]),
            metrics=spec.get("metrics", {}),
            curves=spec.get("curves", {}),
            harm=spec.get("harm", []),
            scaled=[
                (
                    [(boosters[n], float(w)) for n, w in term["components"]],
                    boosters[term["outcome"]],
                    float(term["weight"]),
                    int(term["side"]),
                )
                for term in spec.get("scaled", [])
            ],
        )
        for a, spec in card["arms"].items()
    }
    return UpliftFit(
        arms=arms,
        baseline=boosters["base"],
        control=card["control"],
        binary=bool(card["binary"]),
        feature_names=list(card["feature_names"]),
        fold=np.array([], dtype=int),
    )
