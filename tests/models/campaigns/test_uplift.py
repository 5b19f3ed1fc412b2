"""Uplift learners recover planted effects; cross-fitting is honest; a fit survives its store."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.core.errors import NotEnoughData, SpecError
from models.campaigns.uplift import UpliftConfig, cross_fit, fit_uplift, fold_ids
from models.campaigns.uplift_metrics import calibrate, qini_coefficient
from models.campaigns.uplift_store import card_parts, from_artifacts, to_artifacts

TINY = UpliftConfig(num_boost_round=60, learning_rate=0.1, min_data_in_leaf=40, folds=4)


def _planted(n: int, seed: int, arms: tuple[str, ...] = ("mail",)) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    arm = rng.choice(["none", *arms], n)
    effects = {"mail": 0.30 * (X[:, 0] > 0), "sms": 0.25 * (X[:, 1] > 0)}
    tau = np.zeros(n)
    for a in arms:
        tau = np.where(arm == a, effects[a], tau)
    p0 = 0.15 + 0.05 * (X[:, 2] > 0)
    y = (rng.random(n) < p0 + tau).astype(float)
    return X, arm, y, effects


def test_learners_recover_a_planted_binary_effect() -> None:
    X, arm, y, effects = _planted(4000, 1)
    fit = fit_uplift(
        X,
        arm,
        y,
        control="none",
        feature_names=list("abcd"),
        config=TINY,
        true_uplift=effects["mail"],
    )
    model = fit.arms["mail"]
    pred = model.predict(X)
    gap = pred[X[:, 0] > 0].mean() - pred[X[:, 0] <= 0].mean()
    assert gap == pytest.approx(0.30, abs=0.08)  # persuadable half vs the rest
    assert pred.mean() == pytest.approx(0.15, abs=0.04)  # calibrated level: half at +0.30
    assert model.metrics[model.learner]["qini"] > 0.5 * model.metrics["truth"]["qini"] > 0
    assert set(model.metrics) == {
        "two_model",
        "x_learner",
        "transformed_outcome",
        "ensemble",
        "truth",
    }
    shap = np.abs(model.contributions(X[:200])[:, :-1]).mean(axis=0)
    assert shap.argmax() == 0  # what makes a customer persuadable: feature a
    # the raw uplift is exactly the SHAP sum (additive learners)
    contrib = model.contributions(X[:50])
    assert np.allclose(contrib.sum(axis=1), model.predict_raw(X[:50]))


def planted_visits(seed: int, n: int, rate, convert, m):
    """Customers whose visits ~ Poisson(rate(x) * m(x) if contacted), each visit buying with
    chance convert(x). P(no purchase) = exp(-rate c m), so the planted uplift of "bought at least
    once" is exp(-rate c) - exp(-rate c m). Returns X, arm, visits, y and that uplift."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    arm = rng.choice(["none", "mail"], n)
    r, c, mult = rate(X), convert(X), m(X)
    visits = rng.poisson(r * np.where(arm == "mail", mult, 1.0))
    y = (rng.binomial(visits, c) > 0).astype(float)
    return X, arm, visits.astype(float), y, np.exp(-r * c) - np.exp(-r * mult * c)


def test_engagement_learner_recovers_a_planted_rate_multiplier() -> None:
    # each visit converts with a customer's own chance; the contact multiplies visits by 1.8
    # where a > 0 and by 0.7 where a < -1 (harm): uplift from that
    X, arm, visits, y, truth = planted_visits(
        11,
        6000,
        rate=lambda X: np.exp(0.3 + 0.5 * X[:, 1]),
        convert=lambda X: 0.08 + 0.08 * (X[:, 2] > 0),
        m=lambda X: np.where(X[:, 0] > 0, 1.8, np.where(X[:, 0] < -1, 0.7, 1.0)),
    )
    config = UpliftConfig(num_boost_round=60, learning_rate=0.1, min_data_in_leaf=40, folds=4,
                          learners=("x_learner", "engagement"))  # fmt: skip
    fit = fit_uplift(X, arm, y, control="none", feature_names=list("abcd"), config=config,
                     true_uplift=truth, aux=visits)  # fmt: skip
    model = fit.arms["mail"]
    assert {"engagement", "engagement_ensemble"} <= set(model.metrics)
    engagement = model.metrics["engagement"]["qini"]
    assert engagement > 0.7 * model.metrics["truth"]["qini"]
    assert engagement > model.metrics["x_learner"]["qini"]  # the dense signal ranks better
    pred = model.predict(X)
    assert np.corrcoef(pred, truth)[0, 1] > 0.8
    assert pred[X[:, 0] < -1].mean() < 0 < pred[X[:, 0] > 0].mean()
    # SHAP adds up to the raw uplift and names the multiplier's feature
    contrib = model.contributions(X[:300])
    assert np.allclose(contrib.sum(axis=1), model.predict_raw(X[:300]))
    assert np.abs(contrib[:, :-1]).mean(axis=0).argmax() == 0
    card, texts = to_artifacts(fit)
    again = from_artifacts(card, texts)
    assert card_parts(card) == set(texts)
    assert np.allclose(again.arms["mail"].predict(X[:100]), pred[:100])


def test_engagement_power_link_recovers_the_planted_level_of_a_binary_outcome() -> None:
    # the planted uplift is (1 - p0) - (1 - p0)^m. Active buyers saturate: the power link
    # recovers the level without calibration, the linear (m - 1) * p0 overstates it
    X, arm, visits, y, truth = planted_visits(
        12,
        8000,
        rate=lambda X: np.exp(0.5 + 0.6 * X[:, 1]),
        convert=lambda X: 0.3 + 0.3 * (X[:, 2] > 0),
        m=lambda X: np.where(X[:, 0] > 0, 1.6, 1.1),
    )
    level, corr = {}, {}
    for link in ("auto", "linear"):
        config = UpliftConfig(num_boost_round=60, learning_rate=0.1, min_data_in_leaf=40, folds=4,
                              learners=("engagement",), engagement_link=link)  # fmt: skip
        fit = fit_uplift(X, arm, y, control="none", feature_names=list("abcd"), config=config,
                         aux=visits)  # fmt: skip
        model = fit.arms["mail"]
        level[link] = model.predict_raw(X).mean() / truth.mean()
        corr[link] = np.corrcoef(model.predict_raw(X), truth)[0, 1]
        if link == "auto":  # scale-only calibration: a factor near 1, no intercept
            assert model.calibration[0] == 0.0
            assert model.calibration[1] == pytest.approx(1.0, abs=0.2)
            assert model.predict(X).mean() == pytest.approx(truth.mean(), rel=0.15)
    assert level["auto"] == pytest.approx(1.0, abs=0.12)
    assert level["linear"] > level["auto"] + 0.3
    assert corr["auto"] > 0.85 and corr["auto"] > corr["linear"]  # it ranks better too


def test_scale_only_calibration_recovers_a_factor_and_shrinks_it_towards_one() -> None:
    rng = np.random.default_rng(13)
    n = 40_000
    score = rng.uniform(0, 0.2, n)
    t = rng.random(n) < 0.5
    y = (rng.random(n) < 0.2 + t * 0.6 * score).astype(float)  # true factor 0.6
    (a, b), cov = calibrate(score, t, y, np.full(n, 0.2), scale_only=True, slope_sd=10.0)
    assert a == 0.0 and b == pytest.approx(0.6, abs=0.12)
    assert cov[0] == [0.0, 0.0] and cov[1][1] > 0
    (_, tight), tight_cov = calibrate(score, t, y, np.full(n, 0.2), scale_only=True, slope_sd=0.05)
    assert b < tight < 1.0 and tight_cov[1][1] < cov[1][1]  # pulled towards 1, more certain


def test_two_treatment_arms_each_get_their_own_model_and_persist() -> None:
    X, arm, y, _ = _planted(4500, 2, arms=("mail", "sms"))
    fit = fit_uplift(X, arm, y, control="none", feature_names=list("abcd"), config=TINY)
    assert set(fit.arms) == {"mail", "sms"}
    sms = fit.arms["sms"].predict(X)
    assert sms[X[:, 1] > 0].mean() - sms[X[:, 1] <= 0].mean() > 0.12
    card, texts = to_artifacts(fit)
    again = from_artifacts(card, texts)
    assert np.allclose(again.arms["sms"].predict(X[:100]), sms[:100])
    assert np.allclose(again.predict_baseline(X[:10]), fit.predict_baseline(X[:10]))


def test_continuous_outcome_uplift() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    X = rng.normal(size=(n, 3))
    arm = rng.choice(["A", "B"], n)
    y = 20 + 3 * X[:, 1] + np.where(arm == "B", 8.0 * (X[:, 0] > 0), 0.0) + rng.normal(0, 2, n)
    fit = fit_uplift(X, arm, y, control="A", feature_names=list("xyz"), config=TINY)
    assert not fit.binary
    pred = fit.arms["B"].predict(X)
    assert pred[X[:, 0] > 0].mean() == pytest.approx(8.0, abs=1.5)
    assert pred[X[:, 0] <= 0].mean() == pytest.approx(0.0, abs=1.5)


def test_errors_name_the_problem() -> None:
    X, arm, y, _ = _planted(400, 6)
    with pytest.raises(SpecError, match="control value 'holdout'"):
        fit_uplift(X, arm, y, control="holdout", feature_names=list("abcd"), config=TINY)
    with pytest.raises(SpecError, match="treated group"):
        fit_uplift(X, np.full(400, "none"), y, control="none", feature_names=list("abcd"))
    with pytest.raises(NotEnoughData, match="at least 30"):
        fit_uplift(X[:40], arm[:40], y[:40], control="none", feature_names=list("abcd"))


def test_fold_ids_spread_every_arm_evenly() -> None:
    arm = np.array(["a"] * 10 + ["b"] * 7)
    fold = fold_ids(arm, 3, seed=0)
    for value in ("a", "b"):
        counts = np.bincount(fold[arm == value], minlength=3)
        assert counts.max() - counts.min() <= 1 and counts.sum() == (arm == value).sum()


def test_cross_fit_scores_every_row_out_of_fold() -> None:
    X, arm, y, _ = _planted(1500, 7, arms=("mail", "sms"))
    config = UpliftConfig(num_boost_round=20, min_data_in_leaf=30, folds=3)
    cf = cross_fit(X, arm, y, control="none", arms=["mail", "sms"], feature_names=list("abcd"),
                   config=config)  # fmt: skip
    assert sorted(np.unique(cf.fold).tolist()) == [0, 1, 2]
    assert np.isfinite(cf.base).all()
    for a in ("mail", "sms"):
        rows = (arm == a) | (arm == "none")
        for learner, pred in cf.oof[a].items():
            assert np.isfinite(pred[rows]).all() and np.isnan(pred[~rows]).all(), learner
            assert len(cf.models[a][learner]) == 3
            # each fold's rows carry the prediction of the model fitted without that fold
            f = 1
            own = rows & (cf.fold == f)
            comps, terms = cf.models[a][learner][f]
            assert terms == []  # engagement terms only with an engagement outcome
            got = sum(w * b.predict(X[own], raw_score=True) for b, w in comps)
            assert np.allclose(pred[own], got)


def test_out_of_fold_qini_is_honest_on_pure_noise() -> None:
    # no effect at all: an overfitting learner looks good in sample, not out of fold
    rng = np.random.default_rng(8)
    n = 2000
    X = rng.normal(size=(n, 5))
    arm = rng.choice(["none", "mail"], n)
    y = (rng.random(n) < 0.3).astype(float)
    loose = UpliftConfig(num_boost_round=80, learning_rate=0.3, num_leaves=31,
                         min_data_in_leaf=5, early_stopping_rounds=80, folds=3,
                         learners=("two_model",))  # fmt: skip
    fit = fit_uplift(X, arm, y, control="none", feature_names=list("abcde"), config=loose)
    t = arm == "mail"
    in_sample = qini_coefficient(fit.arms["mail"].predict_raw(X), t, y)
    out_of_fold = fit.arms["mail"].metrics["two_model"]["qini"]
    assert in_sample > 0.01 and abs(out_of_fold) < in_sample / 3
    assert fit.arms["mail"].calibration[1] < 0.5  # no signal: the slope collapses towards 0
