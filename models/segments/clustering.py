"""Learned segments: clustering in embedding space, profiles, automatic names and plain rules.

- ``cluster_users``: k-means on standardised embeddings (each part of the embedding scaled as a
  whole when ``parts`` are given, optionally weighted); ``k`` is forced by the user or chosen over
  a range by the mean silhouette on a sample (ties within 0.01 go to the larger ``k``, since more,
  tighter groups are more useful to a marketer than two huge ones). Segment ids are ordered by
  revenue per user, so segment 0 is the most valuable.
- ``profile_segments``: size, share of users and of revenue, the features that most distinguish the
  segment from everyone (as lift = segment mean / overall mean), top categories, activity trend.
- ``name_segments``: a short human name from the distinguishing traits ("Frequent high-spend
  Electronics buyers", "Lapsing bargain hunters"), unique per segment.
- ``describe_segments``: a shallow decision tree per segment (one vs rest) on interpretable
  features; the best leaf becomes a rule in words with its precision and coverage.

Pure: numpy, polars and scikit-learn; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from analytics.core.errors import NotEnoughData, SpecError
from analytics.core.schema import USER_ID
from analytics.features.user_features import describe_feature

__all__ = [
    "MIN_GROUP_SIZE",
    "ClusterSpec",
    "Clustering",
    "SegmentProfile",
    "SegmentRule",
    "Trait",
    "cluster_users",
    "describe_segments",
    "name_segments",
    "profile_segments",
    "segment_table",
    "suppress_small",
]

SEGMENT = "segment"
SEGMENT_NAME = "segment_name"
_REVENUE = "revenue_total"
MIN_GROUP_SIZE = 10  # smaller groups are shown without profile or revenue (``suppress_small``)


# --- clustering ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterSpec:
    """How to cluster: a forced ``k``, or the best ``k`` in ``k_range`` by silhouette."""

    k: int | None = None
    k_range: tuple[int, int] = (4, 10)
    silhouette_sample: int = 4_000
    n_init: int = 4
    seed: int = 7


@dataclass(frozen=True)
class Clustering:
    """One segment id per user (``labels``, rows as the embeddings) and how ``k`` was chosen."""

    labels: np.ndarray
    k: int
    silhouette_by_k: dict[int, float]
    chosen_by: str  # "forced" or "silhouette"


def _kmeans(z: np.ndarray, k: int, spec: ClusterSpec) -> np.ndarray:
    model = KMeans(n_clusters=k, n_init=spec.n_init, random_state=spec.seed)
    return model.fit_predict(z).astype(np.int64)


def cluster_users(
    embeddings: np.ndarray,
    spec: ClusterSpec = ClusterSpec(),
    value: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    parts: np.ndarray | None = None,
) -> Clustering:
    """k-means segments of ``embeddings`` (n, d); ids ordered by mean ``value`` (descending).

    ``weights`` (d,) multiply the standardised dimensions, to balance parts of an embedding.
    ``parts`` (d,) labels the dimensions of each part: a part is centred and scaled as a whole (by
    its root mean square spread), so the relative spread of its dimensions, which the network
    learned, is kept; without ``parts`` every dimension is standardised on its own (which blows a
    barely used direction up to the size of the main ones).

    Every user gets exactly one segment. ``SpecError`` for a forced ``k`` below 2 or above the
    number of users; ``NotEnoughData`` with fewer than 4 users.
    """
    n = len(embeddings)
    if n < 4:
        raise NotEnoughData("Segments need at least 4 customers with history.")
    if spec.k is not None and not 2 <= spec.k <= n:
        raise SpecError(f"The number of segments must be between 2 and {n}, not {spec.k}.")
    z = _standardise(embeddings, parts)
    if weights is not None:
        z = z * np.asarray(weights, dtype=np.float64)[None, :]
    scores: dict[int, float] = {}
    # one thread: k-means on a few thousand points is milliseconds of work per iteration, and
    # OpenMP threads spin at every barrier: on 2 busy cores that cost 10-15x the CPU (measured on
    # the demo's 20k x 32: 12.9 CPU s with 2 threads, about 1 s with one)
    with threadpool_limits(1):
        if spec.k is not None:
            labels, chosen = _kmeans(z, spec.k, spec), "forced"
        else:
            labels, scores = _best_k(z, spec)
            chosen = "silhouette"
    labels = _order_by_value(labels, value if value is not None else np.zeros(n))
    return Clustering(labels, int(labels.max()) + 1, scores, chosen)


def _standardise(x: np.ndarray, parts: np.ndarray | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=0)
    if parts is not None:
        parts = np.asarray(parts)
        for part in np.unique(parts):
            dims = parts == part
            std[dims] = np.sqrt((std[dims] ** 2).mean())
    return (x - x.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)


def _best_k(z: np.ndarray, spec: ClusterSpec) -> tuple[np.ndarray, dict[int, float]]:
    lo, hi = spec.k_range
    hi = min(hi, len(z) - 1)
    lo = min(max(lo, 2), hi)
    rng = np.random.default_rng(spec.seed)
    sample = rng.choice(len(z), size=min(len(z), spec.silhouette_sample), replace=False)
    scores: dict[int, float] = {}
    for k in range(lo, hi + 1):  # candidates on the sample only; the chosen k is refit on all
        sampled = _kmeans(z[sample], k, spec)
        ok = len(np.unique(sampled)) > 1
        scores[k] = float(silhouette_score(z[sample], sampled)) if ok else -1.0
    best = max(scores.values())
    k_best = max(k for k, s in scores.items() if s >= best - 0.01)
    return _kmeans(z, k_best, spec), {k: round(s, 4) for k, s in scores.items()}


def _order_by_value(labels: np.ndarray, value: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    means = np.array([value[labels == i].mean() for i in ids])
    sizes = np.array([(labels == i).sum() for i in ids])
    order = ids[np.lexsort((-sizes, -means))]  # by value, then by size
    remap = np.empty(labels.max() + 1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


# --- profiles -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trait:
    """One distinguishing feature of a segment: its mean there, everywhere, and the lift."""

    feature: str
    label: str
    segment_mean: float
    overall_mean: float
    lift: float  # segment mean / overall mean (inf-safe: capped at 99)
    z: float  # (segment mean - overall mean) / overall std: how unusual


@dataclass(frozen=True)
class SegmentRule:
    """A plain-language rule describing a segment, with how well it does."""

    text: str
    precision: float  # share of users matching the rule who are in the segment
    coverage: float  # share of the segment's users matching the rule
    conditions: tuple[tuple[str, str, float], ...] = ()  # (feature, "<=" or ">", threshold)


@dataclass(frozen=True)
class SegmentProfile:
    """Everything the Segments page shows about one segment."""

    segment: int
    name: str
    size: int
    share_users: float
    share_revenue: float
    revenue_per_user: float
    traits: tuple[Trait, ...]
    top_categories: tuple[tuple[str, float], ...]  # (category, mean share of activity)
    activity_trend: float  # mean of the features' activity_trend (> 1 growing, < 1 declining)
    means: dict[str, float] = field(default_factory=dict)  # every feature's mean in the segment
    rules: tuple[SegmentRule, ...] = ()
    suppressed: bool = False  # too small to show: no profile, no revenue (``suppress_small``)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the ``segment_profiles`` artifact)."""
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> SegmentProfile:
        data = dict(data)
        data["traits"] = tuple(Trait(**t) for t in data.get("traits", ()))
        data["rules"] = tuple(
            SegmentRule(
                r["text"],
                r["precision"],
                r["coverage"],
                tuple(tuple(c) for c in r.get("conditions", ())),  # type: ignore[misc]
            )
            for r in data.get("rules", ())
        )
        data["top_categories"] = tuple(tuple(c) for c in data.get("top_categories", ()))
        return SegmentProfile(**data)


def suppress_small(
    profiles: Sequence[SegmentProfile], min_size: int = MIN_GROUP_SIZE
) -> list[SegmentProfile]:
    """The profiles with every group under ``min_size`` customers emptied of its details.

    A group of a handful of customers is a list of people: its revenue, traits, rules and
    categories would describe them one by one, so only its number, name and size remain.
    """
    return [
        p
        if p.size >= min_size
        else replace(
            p,
            share_revenue=0.0,
            revenue_per_user=0.0,
            traits=(),
            top_categories=(),
            activity_trend=1.0,
            means={},
            rules=(),
            suppressed=True,
        )
        for p in profiles
    ]


def _numeric_columns(features: pl.DataFrame) -> list[str]:
    return [c for c, t in features.schema.items() if c != USER_ID and t.is_numeric()]


def profile_segments(
    features: pl.DataFrame,
    labels: np.ndarray,
    *,
    categories: Mapping[str, str] | None = None,
    max_traits: int = 6,
) -> list[SegmentProfile]:
    """Profiles of the segments ``labels`` (aligned with ``features`` rows); names left empty.

    ``categories`` maps ``cat_share_<slug>`` columns to display names (default: from the slug).
    """
    if len(labels) != len(features):
        raise SpecError("Segment labels and the feature table must have one row per user each.")
    columns = _numeric_columns(features)
    x = features.select(columns).to_numpy().astype(np.float64)
    overall, std = x.mean(axis=0), x.std(axis=0)
    revenue = features[_REVENUE].to_numpy() if _REVENUE in features.columns else np.zeros(len(x))
    total_revenue = max(float(np.clip(revenue, 0, None).sum()), 1e-9)
    cat_cols = [c for c in columns if c.startswith("cat_share_")]
    names = categories or {c: c.removeprefix("cat_share_").replace("_", " ") for c in cat_cols}
    profiles = []
    for seg in range(int(labels.max()) + 1):
        rows = labels == seg
        means = x[rows].mean(axis=0) if rows.any() else np.zeros(len(columns))
        traits = _traits(columns, means, overall, std, max_traits)
        cats = sorted(
            ((names.get(c, c), float(means[columns.index(c)])) for c in cat_cols),
            key=lambda kv: -kv[1],
        )[:3]
        trend_i = columns.index("activity_trend") if "activity_trend" in columns else None
        profiles.append(
            SegmentProfile(
                segment=seg,
                name="",
                size=int(rows.sum()),
                share_users=float(rows.mean()),
                share_revenue=float(np.clip(revenue[rows], 0, None).sum() / total_revenue),
                revenue_per_user=float(revenue[rows].mean()) if rows.any() else 0.0,
                traits=traits,
                top_categories=tuple((c, round(s, 4)) for c, s in cats if s > 0),
                activity_trend=float(means[trend_i]) if trend_i is not None else 1.0,
                means={c: float(m) for c, m in zip(columns, means, strict=True)},
            )
        )
    return profiles


def _traits(
    columns: Sequence[str], means: np.ndarray, overall: np.ndarray, std: np.ndarray, top: int
) -> tuple[Trait, ...]:
    z = (means - overall) / np.where(std > 1e-12, std, np.inf)
    order = np.argsort(-np.abs(z))[:top]
    out = []
    for i in order:
        if abs(z[i]) < 0.05:
            continue
        lift = means[i] / overall[i] if abs(overall[i]) > 1e-12 else (99.0 if means[i] else 1.0)
        out.append(
            Trait(
                feature=columns[i],
                label=describe_feature(columns[i]),
                segment_mean=round(float(means[i]), 4),
                overall_mean=round(float(overall[i]), 4),
                lift=round(float(min(lift, 99.0)), 3),
                z=round(float(z[i]), 3),
            )
        )
    return tuple(out)


# --- names --------------------------------------------------------------------------------------
def _lift(p: SegmentProfile, overall: Mapping[str, float], feature: str) -> float | None:
    if feature not in p.means or feature not in overall:
        return None
    base = overall[feature]
    return p.means[feature] / base if abs(base) > 1e-12 else None


def _name_parts(p: SegmentProfile, overall: Mapping[str, float]) -> list[str]:
    """Adjectives and a noun from the segment's lifts against everyone."""
    lift = {f: _lift(p, overall, f) for f in _NAME_FEATURES}
    parts: list[str] = []
    recency = lift["days_since_last_event"]
    tenure = lift["days_since_first_event"]
    if tenure is not None and tenure < 0.55:
        parts.append("new")
    elif recency is not None and recency > 1.6:
        parts.append("lapsed" if recency > 3.0 else "lapsing")
    orders = lift["orders"]
    if orders is not None and orders > 1.6:
        parts.append("frequent")
    elif orders is not None and 0.2 < orders < 0.6:
        parts.append("occasional")
    spend = lift["avg_order_value"] or lift["price_level"]
    bargain = (lift["discount_share"] or 1.0) > 1.4 or (spend is not None and spend < 0.7)
    if spend is not None and spend > 1.35:
        parts.append("high-spend")
    category = _signature_category(p, overall)
    if category:
        parts.append(category)
    if orders is not None and orders <= 0.2:
        parts.append("browsers")
    elif bargain:
        parts.append("bargain hunters")
    else:
        parts.append("buyers")
    return parts


_NAME_FEATURES = (
    "days_since_last_event",
    "days_since_first_event",
    "orders",
    "avg_order_value",
    "price_level",
    "discount_share",
)


def _signature_category(p: SegmentProfile, overall: Mapping[str, float]) -> str | None:
    """The category with the largest lift, if the segment leans on it clearly."""
    best, best_lift = None, 1.5
    for name, share in p.top_categories:
        column = next((c for c in p.means if c.startswith("cat_share_") and _same(c, name)), None)
        base = overall.get(column, 0.0) if column else 0.0
        if share >= 0.2 and base > 0 and share / base > best_lift:
            best, best_lift = name, share / base
    return best


def _same(column: str, name: str) -> bool:
    from analytics.features.user_features import category_slug

    return column == f"cat_share_{category_slug(name)}" or column.endswith(name)


def name_segments(
    profiles: Sequence[SegmentProfile], overall: Mapping[str, float]
) -> list[SegmentProfile]:
    """The profiles with a unique human-readable ``name`` each (``overall``: feature means)."""
    named: list[SegmentProfile] = []
    seen: dict[str, int] = {}
    for p in profiles:
        parts = _name_parts(p, overall)
        name = " ".join(parts)
        name = name[0].upper() + name[1:]
        if name in seen:
            extra = _extra_qualifier(p, named[seen[name]], overall)
            name = f"{name} ({extra})" if extra else name
        base, n = name, 2
        while name in seen:
            name, n = f"{base} {n}", n + 1
        seen[name] = len(named)
        named.append(replace(p, name=name))
    return named


def _extra_qualifier(p: SegmentProfile, other: SegmentProfile, overall: Mapping[str, float]) -> str:
    """A short word telling ``p`` apart from a segment that got the same name."""
    if p.revenue_per_user > 1.3 * other.revenue_per_user:
        return "higher value"
    if p.revenue_per_user < 0.77 * other.revenue_per_user:
        return "lower value"
    if p.top_categories and (
        not other.top_categories or p.top_categories[0] != other.top_categories[0]
    ):
        return f"mostly {p.top_categories[0][0]}"
    if p.activity_trend > other.activity_trend * 1.2:
        return "growing"
    if p.activity_trend < other.activity_trend / 1.2:
        return "cooling"
    return ""


# --- rules --------------------------------------------------------------------------------------
_INTERPRETABLE_PREFIXES = (
    "days_since_",
    "orders",
    "revenue_",
    "avg_order_value",
    "purchases_",
    "views_",
    "active_days",
    "activity_trend",
    "cat_share_",
    "price_level",
    "discount_share",
    "refund_rate",
    "events_total",
)


def _rule_columns(features: pl.DataFrame) -> list[str]:
    return [c for c in _numeric_columns(features) if c.startswith(_INTERPRETABLE_PREFIXES)]


def describe_segments(
    features: pl.DataFrame,
    labels: np.ndarray,
    *,
    max_depth: int = 3,
    sample: int = 20_000,
    seed: int = 7,
) -> dict[int, SegmentRule]:
    """A rule per segment from a one-vs-rest decision tree of depth ``max_depth``.

    The rule is the path to the leaf with the best F1 for the segment; precision and coverage are
    measured on every user (not only the tree's sample).
    """
    columns = _rule_columns(features) or _numeric_columns(features)
    x = features.select(columns).to_numpy().astype(np.float64)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(len(x), size=min(len(x), sample), replace=False)
    rules: dict[int, SegmentRule] = {}
    for seg in range(int(labels.max()) + 1):
        target = labels == seg
        if not target.any():
            continue
        tree = DecisionTreeClassifier(
            max_depth=max_depth,
            min_samples_leaf=max(1, min(50, len(fit_rows) // 100)),
            class_weight="balanced",
            random_state=seed,
        ).fit(x[fit_rows], target[fit_rows])
        conditions = _best_leaf_path(tree, x, target)
        rules[seg] = _rule(conditions, columns, x, target)
    return rules


def _best_leaf_path(
    tree: DecisionTreeClassifier, x: np.ndarray, target: np.ndarray
) -> list[tuple[int, str, float]]:
    t = tree.tree_
    leaves = tree.apply(x)
    best_leaf, best_f1 = None, -1.0
    for leaf in np.unique(leaves):
        hit = leaves == leaf
        tp = float((hit & target).sum())
        if tp == 0:
            continue
        precision, recall = tp / hit.sum(), tp / target.sum()
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_leaf, best_f1 = leaf, f1
    parent: dict[int, tuple[int, str]] = {}
    for node in range(t.node_count):
        if t.children_left[node] != -1:
            parent[t.children_left[node]] = (node, "<=")
            parent[t.children_right[node]] = (node, ">")
    path: list[tuple[int, str, float]] = []
    node = int(best_leaf) if best_leaf is not None else 0
    while node in parent:
        up, op = parent[node]
        path.append((int(t.feature[up]), op, float(t.threshold[up])))
        node = up
    return path[::-1]


def _rule(
    path: list[tuple[int, str, float]], columns: list[str], x: np.ndarray, target: np.ndarray
) -> SegmentRule:
    bounds: dict[int, list[float]] = {}  # feature -> [lower (>), upper (<=)]
    for f, op, thr in path:
        lo, hi = bounds.setdefault(f, [-math.inf, math.inf])
        bounds[f] = [max(lo, thr), hi] if op == ">" else [lo, min(hi, thr)]
    hit = np.ones(len(x), dtype=bool)
    words, conditions = [], []
    for f, (lo, hi) in bounds.items():
        if lo > -math.inf:
            hit &= x[:, f] > lo
            conditions.append((columns[f], ">", lo))
        if hi < math.inf:
            hit &= x[:, f] <= hi
            conditions.append((columns[f], "<=", hi))
        words.append(_condition_words(columns[f], lo, hi, x[:, f]))
    tp = float((hit & target).sum())
    return SegmentRule(
        text=" and ".join(words) if words else "everyone",
        precision=round(tp / max(hit.sum(), 1), 4),
        coverage=round(tp / max(target.sum(), 1), 4),
        conditions=tuple(conditions),
    )


def _fmt(column: str, value: float, integer: bool) -> str:
    if column.startswith("cat_share_") or column in {"discount_share", "refund_rate"}:
        return f"{value:.0%}"
    if column.startswith("revenue_") or column == "avg_order_value":
        return f"{value:,.0f}"
    if integer:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _condition_words(column: str, lo: float, hi: float, values: np.ndarray) -> str:
    """``"orders ≥ 3"``, ``"share of activity in toys ≤ 12%"``, ``"… between 2 and 5"``."""
    integer = bool(np.all(np.equal(np.mod(values, 1), 0)))
    label = describe_feature(column)
    low = math.floor(lo) + 1 if integer and lo > -math.inf else lo
    high = math.floor(hi) if integer and hi < math.inf else hi
    if lo > -math.inf and hi < math.inf:
        return f"{label} between {_fmt(column, low, integer)} and {_fmt(column, high, integer)}"
    if lo > -math.inf:
        return f"{label} {'≥' if integer else '>'} {_fmt(column, low, integer)}"
    return f"{label} ≤ {_fmt(column, high, integer)}"


# --- the table ----------------------------------------------------------------------------------
def segment_table(
    user_ids: Sequence[str], labels: np.ndarray, profiles: Sequence[SegmentProfile], xy: np.ndarray
) -> pl.DataFrame:
    """The ``segments`` artifact: ``user_id, segment, segment_name, x, y``."""
    names = {p.segment: p.name for p in profiles}
    return pl.DataFrame(
        {
            USER_ID: list(user_ids),
            SEGMENT: labels.astype(np.int32),
            SEGMENT_NAME: [names.get(int(s), f"Segment {s}") for s in labels],
            "x": xy[:, 0].astype(np.float32),
            "y": xy[:, 1].astype(np.float32),
        },
        schema={
            USER_ID: pl.String,
            SEGMENT: pl.Int32,
            SEGMENT_NAME: pl.String,
            "x": pl.Float32,
            "y": pl.Float32,
        },
    )
