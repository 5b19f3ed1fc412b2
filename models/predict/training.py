"""Training on a time split: the one pipeline the service, the CLI and the benchmark call.

``fit_on_split`` builds features and labels at an earlier cutoff to train, checks the model out of
time at a later one (beside the classical baselines on the same rows), refits on the newest
labelled window and scores every customer at the newest cutoff. One trainer per kind of target
(binary, revenue, next category) returns a ``SplitRun`` the service persists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analytics.core.errors import NotEnoughData
from analytics.core.progress import Progress, no_progress
from analytics.core.schema import EVENT_TIME, EVENT_TYPE, USER_ID, EventType
from analytics.core.timing import Stopwatch
from analytics.features.labels import (
    HorizonChoice,
    LabelSpec,
    build_labels,
    choose_horizon,
    data_end,
    data_start,
    split_cutoffs,
)
from analytics.features.user_features import (
    FeatureSpec,
    build_user_features,
    default_cutoff,
    feature_labels,
    resolve_feature_spec,
    to_utc,
)
from models.predict.baselines import (
    BetaGeo,
    RecencyLogistic,
    last_category_predict,
    popularity_predict,
    repeat_summary,
)
from models.predict.category import GBMCategory
from models.predict.classifier import GBMClassifier
from models.predict.clv import clv_view
from models.predict.gbm import GBMConfig
from models.predict.intervals import (
    bootstrap_counts,
    classification_intervals,
    regression_intervals,
    weighted_auc,
)
from models.predict.metrics import (
    category_metrics,
    classification_metrics,
    quality_word,
    regression_metrics,
)
from models.predict.revenue import GBMRevenue, PoissonGBM

__all__ = ["PredictorSpec", "SplitRun", "fit_on_split", "model_features"]

_BGNBD_LABELS = {
    "bgnbd_p_alive": "chance the customer is still buying (repeat-buying model)",
    "bgnbd_expected": "purchases the repeat-buying model expects next",
}


@dataclass(frozen=True)
class PredictorSpec:
    """What to train: ``target`` scored at ``cutoff`` (UTC, inclusive; None = end of the data)."""

    target: str
    cutoff: datetime | None = None
    horizon_days: int | None = None
    seed: int = 7
    sequence: bool = True  # also train the sequence model where it applies, keep the better one
    n_estimators: int = 600
    # 0.1 with early stopping reaches the quality of 0.05 with about half the trees, which halves
    # training, scoring and TreeSHAP (explaining costs time per tree)
    learning_rate: float = 0.1
    snapshots: int = 4  # training cutoffs stacked (one horizon apart) where the history allows


@dataclass
class SplitRun:
    """Everything a training run produced; the service persists it, the page draws it."""

    target: str
    choice: HorizonChoice
    train_cutoff: datetime
    eval_cutoff: datetime
    score_cutoff: datetime
    first_event: datetime
    model: Any
    feature_names: list[str]
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    validation: pl.DataFrame  # user_id, label, score (+ baseline) at the evaluation cutoff
    scores: pl.DataFrame  # user_id, score (+ lower, upper / category / expected_purchases)
    score_features: pl.DataFrame  # user_id + model features at the score cutoff
    device: str
    winner: str = "lightgbm"
    comparison: dict[str, Any] = field(default_factory=dict)
    sequence_state: bytes | None = None
    timings: dict[str, float] = field(default_factory=dict)
    feature_spec: FeatureSpec | None = None
    clv: dict[str, Any] = field(default_factory=dict)  # the 365-day value view (revenue target)

    @property
    def feature_labels(self) -> dict[str, str]:
        return {**feature_labels(self.feature_names), **_BGNBD_LABELS}


def _bgnbd_columns(
    events: pl.LazyFrame, cutoff: datetime, horizon_days: int
) -> tuple[pl.DataFrame, BetaGeo | None]:
    """``user_id, bgnbd_p_alive, bgnbd_expected, bgnbd_prob`` for buyers (None model on failure)."""
    summary = repeat_summary(events, cutoff)
    try:
        model = BetaGeo().fit(
            summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
        )
    except NotEnoughData:
        return summary.select(USER_ID), None
    args = (summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy())
    return (
        summary.select(USER_ID).with_columns(
            bgnbd_p_alive=model.probability_alive(*args),
            bgnbd_expected=model.expected_purchases(float(horizon_days), *args),
            bgnbd_prob=model.probability_purchase(float(horizon_days), *args),
            bgnbd_monetary=summary["monetary"],
        ),
        model,
    )


def model_features(
    events: pl.LazyFrame, cutoff: datetime, fspec: FeatureSpec, horizon_days: int
) -> pl.DataFrame:
    """User features at ``cutoff`` plus the BG/NBD view of each buyer (0 for non-buyers)."""
    base = build_user_features(events, cutoff, fspec)
    bg, _ = _bgnbd_columns(events, cutoff, horizon_days)
    out = base.join(bg, on=USER_ID, how="left", maintain_order="left")
    for name in ("bgnbd_p_alive", "bgnbd_expected", "bgnbd_prob", "bgnbd_monetary"):
        if name not in out.columns:
            out = out.with_columns(pl.lit(0.0).alias(name))
    return out.with_columns(pl.col(pl.Float64).fill_null(0.0).fill_nan(0.0))


_BASELINE_ONLY = ("bgnbd_prob", "bgnbd_monetary")  # used by baselines, not by the model


def _xy(features: pl.DataFrame, labels: pl.DataFrame, names: list[str]):
    joined = labels.join(features, on=USER_ID, how="inner").sort(USER_ID)
    return joined, joined.select(names).to_numpy().astype(np.float64), joined["label"].to_numpy()


def _rfm_columns(names: list[str]) -> list[str]:
    """R, F, M, T and event counts: the logistic baseline's inputs."""
    wanted = [
        "days_since_last_event",
        "days_since_last_purchase",
        "purchase_days",
        "avg_order_value",
        "days_since_first_event",
        "events_total",
    ]
    counts = [n for n in names if re.match(r"^(views|carts|favs)_\d+d$", n)]
    widest: dict[str, Any] = {}
    for n in counts:  # the widest window of each event type
        kind, days = n.split("_")[0], int(n.split("_")[1][:-1])
        if days >= widest.get(kind, (0, ""))[0]:
            widest[kind] = (days, n)
    return [n for n in wanted if n in names] + [v[1] for v in widest.values()]


def _check_history(first: datetime, train_cutoff: datetime, horizon: int) -> None:
    if train_cutoff < first:
        raise NotEnoughData(
            f"The data starts on {first:%Y-%m-%d}, too late to train and check a {horizon}-day "
            f"model (training needs history before {train_cutoff:%Y-%m-%d}). Choose a shorter "
            "horizon or a later cutoff."
        )


def fit_on_split(
    events: pl.LazyFrame | pl.DataFrame, spec: PredictorSpec, progress: Progress = no_progress
) -> SplitRun:
    """Train at an earlier cutoff, evaluate out of time at a later one, score the newest users."""
    clock = Stopwatch()
    lf = events.lazy()
    first = lf.select(pl.col(EVENT_TIME).min()).collect().item()
    score_cutoff = to_utc(spec.cutoff) if spec.cutoff is not None else default_cutoff(lf)
    progress(0.02, "Choosing the horizon")
    choice = choose_horizon(lf, spec.target, score_cutoff, spec.horizon_days)
    h = choice.horizon_days
    train_cut, eval_cut = split_cutoffs(score_cutoff, h, data_end(lf))
    _check_history(first, train_cut, h)
    fspec = resolve_feature_spec(lf, score_cutoff)
    progress(0.08, "Building features at three cutoffs")
    cuts = {"train": train_cut, "eval": eval_cut, "score": score_cutoff}
    feats = {k: model_features(lf, c, fspec, h) for k, c in cuts.items()}

    def labels_at(c: datetime) -> pl.DataFrame:
        return build_labels(lf, LabelSpec(spec.target, c, h, choice.active_days,
                                          choice.purchases_only))  # fmt: skip

    label_of = {k: labels_at(c) for k, c in cuts.items() if k != "score" or c == eval_cut}
    # earlier snapshots add training examples (rows = (user, cutoff)) where the history allows:
    # one horizon apart, or daily for horizons under a week (a 9-day log still gets several label
    # windows); every label window ends on or before the evaluation cutoff
    step, need, count = (h, h, spec.snapshots) if h >= 7 else (1, 1, max(spec.snapshots, 6))
    start_of_data = data_start(lf)
    for k in range(1, count):
        c = train_cut - timedelta(days=step * k)
        if c - timedelta(days=need) < start_of_data:
            break
        tag = pl.col(USER_ID) + f"@{k}"
        feats["train"] = pl.concat(
            [feats["train"], model_features(lf, c, fspec, h).with_columns(tag)]
        )
        label_of["train"] = pl.concat([label_of["train"], labels_at(c).with_columns(tag)])
    names = [c for c in feats["train"].columns if c != USER_ID and c not in _BASELINE_ONLY]
    timings = {"features": clock.seconds}
    progress(0.3, "Training the gradient-boosted model")
    trainer = _TRAINERS[spec.target]
    run = trainer(lf, spec, feats, label_of, names, cuts, choice, progress)
    run.first_event = first
    run.feature_spec = fspec
    timings["total"] = clock.seconds
    run.timings = timings
    return run


def _stack(X_new, y_new, X_old, y_old) -> tuple[np.ndarray, np.ndarray]:
    """The final model learns from the newest labelled window and the earlier ones."""
    return np.vstack([X_new, X_old]), np.concatenate([np.asarray(y_new), np.asarray(y_old)])


def _gbm_kwargs(spec: PredictorSpec) -> dict[str, Any]:
    config = GBMConfig(n_estimators=spec.n_estimators, learning_rate=spec.learning_rate)
    return {"config": config, "random_state": spec.seed}


def _pick_baseline(baselines: dict[str, dict[str, Any]], key: str, higher: bool) -> dict[str, Any]:
    """The strongest baseline by ``key``: the honest one to show beside the model."""
    scored = {n: m for n, m in baselines.items() if key in m}
    if not scored:
        return {"name": "none"}
    name = (max if higher else min)(scored, key=lambda n: scored[n][key])
    return {"name": name, **scored[name]}


def _purchase_days(lf: pl.LazyFrame, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    """``user_id, purchase_days`` in ``(cutoff, cutoff + horizon]`` (UTC)."""
    end = cutoff + timedelta(days=horizon_days)
    return (
        lf.filter(
            (pl.col(EVENT_TYPE).cast(pl.String) == EventType.PURCHASE.value)
            & (pl.col(EVENT_TIME) > cutoff)
            & (pl.col(EVENT_TIME) <= end)
        )
        .group_by(USER_ID)
        .agg(pl.col(EVENT_TIME).dt.date().n_unique().cast(pl.Float64).alias("purchase_days_next"))
        .collect()
    )


def _count_model(lf, spec, feats, cuts, names, h) -> tuple[np.ndarray, dict[str, Any]]:
    """Expected purchase days in the horizon per scored user (Poisson LightGBM), with its check."""

    def xy(key: str):
        counts = _purchase_days(lf, cuts[key], h)
        joined = feats[key].join(counts, on=USER_ID, how="left").fill_null(0.0)
        return joined.select(names).to_numpy(), joined["purchase_days_next"].to_numpy()

    X_tr, y_tr = xy("train")
    model = PoissonGBM(**_gbm_kwargs(spec)).fit(X_tr, y_tr, feature_names=names)
    X_ev, y_ev = xy("eval")
    check = regression_metrics(y_ev, model.predict(X_ev))
    # no refit on the evaluation window: the stacked training snapshots already hold most of the
    # history, and a second Poisson model cost as much as the classifier itself
    return model.predict(feats["score"].select(names).to_numpy()), check


def _train_binary(lf, spec, feats, labels, names, cuts, choice, progress) -> SplitRun:
    tr, X_tr, y_tr = _xy(feats["train"], labels["train"], names)
    ev, X_ev, y_ev = _xy(feats["eval"], labels["eval"], names)
    # the trees boost from the R/F/M/T + counts logistic: it extrapolates to customers older than
    # any in the training window, the trees add what it misses
    start = [names.index(c) for c in _rfm_columns(names)]
    model = GBMClassifier(**_gbm_kwargs(spec), n_bags="auto", linear_columns=start).fit(
        X_tr, y_tr, feature_names=names
    )
    p_ev = model.predict_proba(X_ev)[:, 1]
    metrics: dict[str, Any] = classification_metrics(y_ev, p_ev)
    progress(0.5, "Fitting the classical baselines")
    baseline_scores = _binary_baselines(spec, tr, ev, y_tr, _rfm_columns(names))
    baselines = {n: classification_metrics(y_ev, s) for n, s in baseline_scores.items()}
    best = _pick_baseline(baselines, "auc", higher=True)
    peer = baseline_scores.get(best["name"])
    metrics |= classification_intervals(y_ev, p_ev, baseline=peer, seed=spec.seed)
    validation = ev.select(USER_ID, "label").with_columns(
        score=p_ev, baseline=peer if peer is not None else np.zeros(len(ev))
    )
    if cuts["eval"] != cuts["score"]:
        progress(0.6, "Refitting on the latest labelled window")
        final = GBMClassifier(**_gbm_kwargs(spec), n_bags="auto", linear_columns=start).fit(
            *_stack(X_ev, y_ev, X_tr, y_tr), feature_names=names
        )
    else:
        final = model
    X_sc = feats["score"].select(names).to_numpy()
    p_sc = final.predict_proba(X_sc)[:, 1]
    comparison: dict[str, Any] = {}
    if spec.target == "purchase" and spec.sequence:
        progress(0.62, "Training the sequence model for comparison")
        comparison, p_sc = _sequence_check(lf, spec, cuts, tr, ev, p_ev, y_ev, feats, p_sc)
    scores = feats["score"].select(USER_ID, "purchase_days").with_columns(score=p_sc)
    if spec.target == "buyer_churn":  # a risk for past buyers only: others never ordered
        scores = scores.filter(pl.col("purchase_days") > 0)
    scores = scores.drop("purchase_days")
    if spec.target == "purchase":
        progress(0.7, "Forecasting purchase counts")
        if choice.purchases_only and feats["score"]["bgnbd_expected"].max() > 0:
            # order lines only: BG/NBD models customers dropping out, which a tree trained on an
            # earlier (younger) window cannot extrapolate; it forecasts the purchase days
            expected = feats["score"]["bgnbd_expected"].to_numpy()
            counts = _purchase_days(lf, cuts["eval"], choice.horizon_days)
            actual = ev.select(USER_ID).join(counts, on=USER_ID, how="left").fill_null(0.0)
            check = regression_metrics(
                actual["purchase_days_next"].to_numpy(), ev["bgnbd_expected"].to_numpy()
            ) | {"model": "BG/NBD"}
        else:
            expected, check = _count_model(lf, spec, feats, cuts, names, choice.horizon_days)
            check["model"] = "LightGBM (Poisson)"
        scores = scores.with_columns(expected_purchases=expected)
        metrics["purchase_days"] = check
    run = _run(
        spec, choice, cuts, final, names, metrics, best, baselines, validation, scores, feats
    )
    run.comparison = comparison
    run.winner = comparison.get("used", "lightgbm")
    return run


def _binary_baselines(spec, tr, ev, y_tr, rfm: list[str]) -> dict[str, np.ndarray]:
    """Evaluation-window scores of the R/F/M/T logistic and (for buyers) BG/NBD."""
    logit = RecencyLogistic(random_state=spec.seed).fit(tr.select(rfm).to_numpy(), y_tr)
    scores = {"RFM logistic": logit.predict_proba(ev.select(rfm).to_numpy())[:, 1]}
    if ev["bgnbd_prob"].max() > 0:
        bg = ev["bgnbd_prob"].to_numpy()
        scores["BG/NBD"] = bg if spec.target == "purchase" else 1 - bg
    return scores


_SEQUENCE_COLUMNS = {
    "item_id": pl.String,
    "category": pl.String,
    "price": pl.Float64,
    "revenue": pl.Float64,
}
_CPU_SEQUENCE_USERS = 2_000  # above this, the GRU runs only on a GPU (CPU time goes to LightGBM)


def _cuda_possible() -> bool:
    """False only when no NVIDIA driver is visible, so torch need not be imported to know."""
    import shutil
    import sys
    from pathlib import Path

    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def _sequence_check(lf, spec, cuts, tr, ev, p_ev, y_ev, feats, p_sc):
    """Train the GRU at the training cutoff, compare it (and a 50/50 blend) with LightGBM on the
    evaluation window, and return the comparison and the scores of whichever wins."""
    base = tr.filter(~pl.col(USER_ID).str.contains("@"))  # the latest snapshot only
    too_many = base.height > _CPU_SEQUENCE_USERS
    why = f"runs on a GPU only above {_CPU_SEQUENCE_USERS:,} customers"
    if too_many and not _cuda_possible():  # importing torch alone costs seconds: skip it
        return {"used": "lightgbm", "skipped": f"sequence model {why} (CPU here)"}, p_sc
    from analytics.core.device import device_label, select_device
    from analytics.features.sequences import SequenceSpec, build_sequences, build_vocabulary
    from models.predict.gru import SequenceConfig, predict_sequence, train_sequence_model

    device = select_device()
    have = lf.collect_schema().names()
    lf = lf.with_columns(
        [pl.lit(None, t).alias(c) for c, t in _SEQUENCE_COLUMNS.items() if c not in have]
    )
    if device.type == "cpu" and too_many:
        return {
            "used": "lightgbm",
            "skipped": f"sequence model {why} ({device_label(device)} here)",
        }, p_sc
    try:
        vocab = build_vocabulary(lf, cuts["train"], SequenceSpec(max_len=32))
        seqs = build_sequences(lf, cuts["train"], vocab, base[USER_ID])
        result = train_sequence_model(
            seqs, base["label"].to_numpy(), n_out=1, device=device, seed=spec.seed,
            config=SequenceConfig(epochs=4),
        )  # fmt: skip
    except NotEnoughData as err:
        return {"used": "lightgbm", "skipped": str(err)}, p_sc
    p_seq = predict_sequence(result, build_sequences(lf, cuts["eval"], vocab, ev[USER_ID]), device)
    aucs = {
        "lightgbm": classification_metrics(y_ev, p_ev).get("auc", 0.0),
        "sequence": classification_metrics(y_ev, p_seq).get("auc", 0.0),
        "blend": classification_metrics(y_ev, (p_ev + p_seq) / 2).get("auc", 0.0),
    }
    used = max(aucs, key=lambda k: (aucs[k], k == "lightgbm"))
    out = {
        "auc": aucs,
        "used": used,
        "sequence_device": result.device,
        "sequence_seconds": round(result.seconds, 2),
        "note": "chosen on the evaluation window; reasons come from the LightGBM model",
    }
    if used == "lightgbm":
        return out, p_sc
    score_ids = feats["score"][USER_ID]
    seq_sc = predict_sequence(result, build_sequences(lf, cuts["score"], vocab, score_ids), device)
    return out, seq_sc if used == "sequence" else (p_sc + seq_sc) / 2


def _run(spec, choice, cuts, model, names, metrics, best, baselines, validation, scores, feats):
    return SplitRun(
        target=spec.target,
        choice=choice,
        train_cutoff=cuts["train"],
        eval_cutoff=cuts["eval"],
        score_cutoff=cuts["score"],
        first_event=cuts["train"],
        model=model,
        feature_names=names,
        metrics=metrics,
        baseline=best,
        baselines=baselines,
        validation=validation,
        scores=scores,
        score_features=feats["score"].select(USER_ID, *names),
        device="GPU (LightGBM OpenCL)" if model.device_ == "gpu" else "CPU",
    )


def _train_revenue(lf, spec, feats, labels, names, cuts, choice, progress) -> SplitRun:
    _tr, X_tr, y_tr = _xy(feats["train"], labels["train"], names)
    ev, X_ev, y_ev = _xy(feats["eval"], labels["eval"], names)
    model = GBMRevenue(**_gbm_kwargs(spec)).fit(X_tr, y_tr, feature_names=names)
    pred = model.predict(X_ev)
    metrics = regression_metrics(y_ev, pred) | _spend_auc(y_ev, pred)
    metrics |= regression_intervals(y_ev, pred, seed=spec.seed) | _spend_auc_ci(y_ev, pred, spec)
    h = choice.horizon_days
    tenure = ev["days_since_first_event"].to_numpy() + 1.0
    baseline_preds = {
        "Run rate": ev["revenue_total"].to_numpy() / np.maximum(tenure, h) * h,
    }
    if ev["bgnbd_expected"].max() > 0:
        baseline_preds["BG/NBD × average spend"] = (
            ev["bgnbd_expected"].to_numpy() * ev["bgnbd_monetary"].to_numpy()
        )
    baselines = {
        n: regression_metrics(y_ev, p) | _spend_auc(y_ev, p) for n, p in baseline_preds.items()
    }
    best = _pick_baseline(baselines, "mae", higher=False)
    validation = ev.select(USER_ID, "label").with_columns(
        score=pred, baseline=baseline_preds[best["name"]]
    )
    final = model
    if cuts["eval"] != cuts["score"]:
        progress(0.6, "Refitting on the latest labelled window")
        final = GBMRevenue(**_gbm_kwargs(spec)).fit(
            *_stack(X_ev, y_ev, X_tr, y_tr), feature_names=names
        )
    X_sc = feats["score"].select(names).to_numpy()
    lower, upper = final.predict_interval(X_sc)
    scores = (
        feats["score"]
        .select(USER_ID)
        .with_columns(score=final.predict(X_sc), lower=lower, upper=upper)
    )
    scores, clv = clv_view(lf, cuts["score"], scores)
    run = _run(
        spec, choice, cuts, final, names, metrics, best, baselines, validation, scores, feats
    )
    run.clv = clv
    return run


def _spend_auc(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """How well the predicted spend ranks who spends at all: AUC and the quality word."""
    m = classification_metrics((np.asarray(y) > 0).astype(int), _rank01(pred))
    return {"auc": m.get("auc"), "quality": m["quality"]}


def _spend_auc_ci(y: np.ndarray, pred: np.ndarray, spec: PredictorSpec) -> dict[str, Any]:
    """The spend AUC's 90% interval (who spends at all, ranked by predicted spend)."""
    spent = np.asarray(y) > 0
    if spent.all() or not spent.any():
        return {}
    auc = weighted_auc(spent, pred, bootstrap_counts(len(spent), seed=spec.seed))
    return {"auc_ci": [float(v) for v in np.nanquantile(auc, [0.05, 0.95])]}


def _rank01(x: np.ndarray) -> np.ndarray:
    return (np.argsort(np.argsort(x, kind="stable"), kind="stable") + 0.5) / max(len(x), 1)


def _train_category(lf, spec, feats, labels, names, cuts, choice, progress) -> SplitRun:
    _tr, X_tr, y_tr = _xy(feats["train"], labels["train"], names)
    ev, X_ev, y_ev = _xy(feats["eval"], labels["eval"], names)
    model = GBMCategory(**_gbm_kwargs(spec)).fit(X_tr, y_tr, feature_names=names)
    truth = [str(v) for v in y_ev]
    metrics = category_metrics(truth, model.ranked(X_ev))
    metrics |= _category_auc(model, X_ev, y_ev)
    last = dict(last_category_predict(lf, cuts["eval"]).iter_rows())
    popular = popularity_predict(lf, cuts["eval"], k=3)
    baselines = {
        "Last category": category_metrics(
            truth, [[last[u]] if u in last else popular[:1] for u in ev[USER_ID]]
        ),
        "Most popular": category_metrics(truth, [popular] * len(truth)),
    }
    best = _pick_baseline(baselines, "top1", higher=True)
    validation = ev.select(USER_ID, "label").with_columns(
        score=pl.Series(model.predict(X_ev).astype(str))
    )
    final = model
    if cuts["eval"] != cuts["score"]:
        progress(0.6, "Refitting on the latest labelled window")
        final = GBMCategory(**_gbm_kwargs(spec)).fit(
            *_stack(X_ev, y_ev, X_tr, y_tr), feature_names=names
        )
    X_sc = feats["score"].select(names).to_numpy()
    proba = final.predict_proba(X_sc)
    scores = (
        feats["score"]
        .select(USER_ID)
        .with_columns(
            score=proba.max(axis=1),
            category=pl.Series(final.classes_[proba.argmax(axis=1)].astype(str)),
        )
    )
    return _run(
        spec, choice, cuts, final, names, metrics, best, baselines, validation, scores, feats
    )


def _category_auc(model: GBMCategory, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    codes = model._encode(np.asarray(y, dtype=object))
    proba = model.predict_proba(X)
    present = np.unique(codes)
    if len(present) < 2:
        return {"quality": "Unknown"}
    from sklearn.metrics import roc_auc_score

    sub = proba[:, present] / proba[:, present].sum(axis=1, keepdims=True)
    remap = {c: i for i, c in enumerate(present)}
    y_sub = np.array([remap[c] for c in codes])
    auc = (
        roc_auc_score(y_sub, sub[:, 1])
        if len(present) == 2
        else roc_auc_score(y_sub, sub, multi_class="ovr", average="weighted")
    )
    return {"auc": float(auc), "quality": quality_word(float(auc))}


_TRAINERS = {
    "purchase": _train_binary,
    "churn": _train_binary,
    "buyer_churn": _train_binary,
    "revenue": _train_revenue,
    "next_category": _train_category,
}
