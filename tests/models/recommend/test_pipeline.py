"""Recommenders on hand-built interaction logs with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics.core.errors import NotEnoughData
from analytics.core.schema import EVENTS_SCHEMA
from models.recommend.base import (
    BuyAgainRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    build_history,
    repurchase_propensity,
    top_n,
)
from models.recommend.pipeline import (
    RecommendConfig,
    evaluate_recommenders,
    fit_recommender,
    recommend_lists,
    similar_items,
)
from models.recommend.sasrec import SelfAttentiveRecommender, user_item_sequences

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


def _events(rows: list[tuple[str, str, float, str]]) -> pl.DataFrame:
    """(user, item, day offset, event type) -> canonical events; category = first letter."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event_time": [T0 + timedelta(days=float(r[2])) for r in rows],
            "event_type": [r[3] for r in rows],
            "item_id": [r[1] for r in rows],
            "category": [r[1][0] for r in rows],
            "quantity": [1.0] * len(rows),
            "price": [1.0] * len(rows),
            "revenue": [1.0] * len(rows),
            "order_id": [f"{r[0]}-{r[2]}" for r in rows],
        },
        schema=EVENTS_SCHEMA,
    )


BASKETS = _events(
    [
        ("A", "x", 0, "purchase"),
        ("A", "y", 0, "purchase"),
        ("B", "x", 1, "purchase"),
        ("B", "y", 1, "purchase"),
        ("B", "z", 1, "purchase"),
        ("C", "x", 2, "purchase"),
        ("C", "z", 2, "purchase"),
        ("D", "w", 3, "view"),
        ("E", "q", 30, "purchase"),  # after the cutoff used below
    ]
)
CUT = date(2024, 1, 10)


def _code(h, item: str) -> int:
    return int(h.items.filter(pl.col("item_id") == item)["i"][0])


def test_history_stops_at_the_cutoff() -> None:
    h = build_history(BASKETS, CUT)
    assert "q" not in h.items["item_id"].to_list()
    assert "E" not in h.users["user_id"].to_list()
    assert h.cutoff == datetime(2024, 1, 10, 23, 59, 59, 999999, tzinfo=UTC)
    assert "q" in build_history(BASKETS, date(2024, 1, 31)).items["item_id"].to_list()


def test_cooccurrence_counts_and_similar_items() -> None:
    h = build_history(BASKETS, CUT)
    knn = ItemKNNRecommender(neighbours=10, shrink=0.0).fit(h)
    x, y, z = (_code(h, c) for c in "xyz")
    co = knn.cooccurrence_
    assert co[x, y] == 2 and co[x, z] == 2 and co[y, z] == 1 and co[x, x] == 0
    # cosine: x-y = 2 / sqrt(3 * 2)
    assert knn.similarity_[x, y] == pytest.approx(2 / np.sqrt(6), rel=1e-5)
    codes, _ = knn.similar(y, 2)
    assert codes[0] == x  # y is bought with x twice, with z once
    # user A (x, y) should be offered z, the one item they lack
    items, _ = top_n(knn.score, np.array([0]), 1, n_items=h.n_items, exclude=h.bought())
    assert items[0, 0] == z


def test_top_n_excludes_and_filters() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    excl = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(np.array([[1, 0, 0, 0]]))
    items, sc = top_n(
        lambda u: scores,
        np.array([0]),
        3,
        n_items=4,
        exclude=excl,
        allowed=np.array([True, True, False, True]),
    )
    assert items.tolist() == [[1, 3, -1]]
    assert np.isneginf(sc[0, 2])


def test_popularity_counts_recent_buyers() -> None:
    h = build_history(BASKETS, CUT)
    pop = PopularityRecommender(window_days=8.6).fit(h)  # days 2..10 from the cutoff end
    # buyers in the window: only C (x, z) bought within 8.6 days of the end of Jan 10
    assert pop.popularity_[_code(h, "x")] > pop.popularity_[_code(h, "y")]
    assert pop.top_in_category(h.items.filter(pl.col("item_id") == "z")["c"][0], 1).tolist() == [
        _code(h, "z")
    ]


def test_trending_counts_only_new_buyers() -> None:
    """Over the last 3 days (offsets 6.5..9.5): x is re-bought by A and bought first by B, z
    bought first by D and E, y re-bought by C only; all buyers rank x = z > y, new buyers
    z (2) > x (1) > y (0)."""
    ev = _events(
        [
            ("A", "x", 0, "purchase"),
            ("A", "x", 8, "purchase"),
            ("B", "x", 8, "purchase"),
            ("C", "y", 1, "purchase"),
            ("C", "y", 8, "purchase"),
            ("D", "z", 9, "purchase"),
            ("E", "z", 8.5, "purchase"),
            ("F", "w", 8, "view"),
        ]
    )
    h = build_history(ev, CUT)
    codes = [_code(h, item) for item in "xyz"]
    every = PopularityRecommender(window_days=3).fit(h).popularity_[codes]
    new = PopularityRecommender(window_days=3, first_time=True).fit(h).popularity_[codes]
    assert np.floor(every).tolist() == [2, 1, 2]
    assert np.floor(new).tolist() == [1, 0, 2]
    assert new[1] > 0  # the all-time tie-break keeps bought items above never-bought ones


def test_buy_again_ranks_own_items_by_decayed_frequency() -> None:
    ev = _events(
        [
            ("A", "old", 0, "purchase"),
            ("A", "old", 1, "purchase"),
            ("A", "fresh", 9, "purchase"),
            ("A", "fresh", 8, "purchase"),
            ("B", "other", 9, "purchase"),
        ]
    )
    h = build_history(ev, CUT)
    ba = BuyAgainRecommender(half_life_days=2.0).fit(h)
    s = ba.score(np.array([0]))[0]
    assert s[_code(h, "fresh")] > s[_code(h, "old")] > 0
    assert np.isneginf(s[_code(h, "other")])  # never bought by A


def test_repurchase_propensity_worked_example() -> None:
    pairs = pl.DataFrame({"i": [0, 0, 1], "n": [3, 1, 1]})
    # overall share 1/3; item 0: (1 + 2/3) / (2 + 2); item 1: (0 + 2/3) / (1 + 2)
    prop = repurchase_propensity(pairs, 3, prior=2.0)
    assert prop[0] == pytest.approx((1 + 2 / 3) / 4)
    assert prop[1] == pytest.approx((2 / 3) / 3)
    assert prop[2] == pytest.approx(1 / 3)


def _shop(users: int = 80, days: int = 60, seed: int = 0) -> pl.DataFrame:
    """Users buy their two staples weekly and, once in a while, a new item from their taste."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        taste = "ab"[u % 2]
        staples = [f"{taste}{rng.integers(5)}", f"{taste}{rng.integers(5, 10)}"]
        for d in range(0, days, 7):
            day = d + rng.integers(0, 3)
            rows += [(f"u{u}", s, day, "purchase") for s in staples]
            if rng.random() < 0.4:
                rows.append((f"u{u}", f"{taste}{rng.integers(10, 20)}", day, "purchase"))
            rows.append((f"u{u}", f"{taste}{rng.integers(20)}", day - 0.5, "view"))
    return _events(rows)


def test_lists_exclusions_and_fallbacks() -> None:
    ev = _shop()
    fitted = fit_recommender(ev, date(2024, 2, 20), RecommendConfig(horizon_days=14))
    ids = pl.Series(["u0", "u1", "stranger"])
    recs = recommend_lists(fitted, ids, k=5)
    assert set(recs["list"]) == {"combined", "buy_again", "new"}
    per_list = recs.group_by("user_id", "list").len()
    assert per_list.filter(pl.col("list") != "buy_again")["len"].to_list() == [5] * 6
    bought = ev.filter(
        (pl.col("event_type") == "purchase")
        & (pl.col("user_id") == "u0")
        & (pl.col("event_time") < datetime(2024, 2, 21, tzinfo=UTC))
    )
    new_u0 = recs.filter((pl.col("user_id") == "u0") & (pl.col("list") == "new"))
    assert not set(new_u0["item_id"]) & set(bought["item_id"])
    again = recs.filter((pl.col("user_id") == "u0") & (pl.col("list") == "buy_again"))
    assert set(again["item_id"]) <= set(bought["item_id"])
    # the stranger gets the recent best sellers; nobody gets items off sale
    stranger = recs.filter(pl.col("user_id") == "stranger")
    assert stranger.filter(pl.col("list") == "combined").height == 5
    assert stranger.filter(pl.col("list") == "buy_again").height == 0
    on_sale = set(fitted.history.items["item_id"].to_numpy()[fitted.allowed])
    assert set(recs["item_id"]) <= on_sale
    # ranks run 1..k and scores never increase down a list
    combined = recs.filter((pl.col("user_id") == "u0") & (pl.col("list") == "combined"))
    assert combined["rank"].to_list() == [1, 2, 3, 4, 5]
    assert combined["score"].is_sorted(descending=True)
    # staples dominate the combined list of a weekly buyer
    staples = set(bought.group_by("item_id").len().filter(pl.col("len") >= 5)["item_id"])
    assert staples <= set(combined["item_id"])
    assert similar_items(fitted, "nothing").height == 0


def test_evaluation_compares_every_model_without_leakage() -> None:
    ev = _shop(users=60, days=70)
    late = _events([("u0", "a99", 69, "purchase")])  # an item first sold after the cutoff
    cfg = RecommendConfig(horizon_days=14, sequential=False)
    evaluation, fitted = evaluate_recommenders(pl.concat([ev, late]), date(2024, 2, 25), cfg)
    assert "a99" not in fitted.history.items["item_id"].to_list()
    models = set(evaluation.table["model"])
    assert {"popularity", "own_most_bought", "buy_again", "knn", "ease", "als", "blend"} <= models
    assert evaluation.chosen in models
    blend = evaluation.metrics("blend")
    assert 0 < blend["ndcg"] <= 1 and blend["users"] > 0
    # staples are rebought weekly: the blend beats the best sellers by far
    assert evaluation.lift("blend") > 1.5


def test_no_items_is_a_clear_error() -> None:
    ev = BASKETS.with_columns(pl.lit(None, pl.String).alias("item_id"))
    with pytest.raises(NotEnoughData, match="nothing to recommend"):
        build_history(ev, CUT)


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a busy 2-core machine torch's spinning pool made the tiny
    sequence-model test take ~56 s instead of ~3 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
def test_sequence_model_learns_a_fixed_order_on_cpu() -> None:
    rows = []
    for u in range(40):
        for step in range(12):
            rows.append((f"u{u}", "abcd"[step % 4], step + u * 0.01, "view"))
    h = build_history(_events(rows), date(2024, 1, 31))
    seqs = user_item_sequences(h, 5)
    assert seqs.shape == (h.n_users, 5) and (seqs > 0).all()
    model = SelfAttentiveRecommender(
        max_len=8, dim=16, heads=1, blocks=1, epochs=150, device="cpu", lr=1e-2
    ).fit(h)
    assert model.report_.device.startswith("CPU")
    # every history ends with ...c, d, so the next item is a
    scores = model.score(np.arange(h.n_users))
    assert (scores.argmax(axis=1) == _code(h, "a")).mean() > 0.9


def test_candidates_hold_every_models_best_items_and_their_exact_scores() -> None:
    from models.recommend.blend import build_candidates, fit_base_models

    h = build_history(_shop(users=30, days=40), date(2024, 2, 5))
    models = fit_base_models(h, horizon_days=10)
    allowed = h.recent_items(7.0)
    users = np.arange(h.n_users)
    cands = build_candidates(models, users, allowed=allowed, per_model=3, own_cap=4)
    bought = h.bought().toarray() > 0
    dense = {
        "knn": models.knn.score(users),
        "knn_recent": models.knn_recent.score(users),
        "ease": models.ease.score(users),
        "als": models.als.score(users),
        "pop": models.popularity.score(users),
    }
    again = models.buy_again.matrix_.toarray()
    own = h.last_touch().group_by("u", maintain_order=True).head(4)
    for u in users:
        mine = cands.filter(pl.col("u") == u)
        items = mine["i"].to_numpy()
        assert len(set(items)) == len(items) and allowed[items].all()
        expected_own = own.filter(pl.col("u") == u)["i"].to_numpy()
        assert set(expected_own[allowed[expected_own]]) <= set(items)
        for name, s in dense.items():
            assert np.allclose(mine[f"s_{name}"].to_numpy(), s[u, items], rtol=1e-4, atol=1e-6)
            # each generator's 3 best new items (by value: ties may pick either item) are in
            if name != "ease":
                eligible = np.sort(s[u, allowed & ~bought[u]])[::-1][:3]
                have = np.sort(s[u, items[~bought[u, items]]])[::-1][:3]
                assert np.allclose(have, eligible, rtol=1e-4, atol=1e-6)
        assert np.allclose(mine["s_buy_again"].to_numpy(), again[u, items], rtol=1e-5)
        # and the 3 items with the most new buyers lately, from the trending source
        trend = models.trending.popularity_
        fresh = np.flatnonzero(allowed & ~bought[u])
        top = np.sort(trend[fresh])[::-1][:3]
        assert np.allclose(np.sort(trend[items[~bought[u, items]]])[::-1][:3], top)
        # rank 1 is the user's best candidate on that signal
        best = mine.filter(pl.col("r_als") == 1)["s_als"][0]
        assert best == pytest.approx(mine["s_als"].max())
        assert sorted(mine["r_knn"].to_list()) == list(range(1, len(items) + 1))


def test_blends_learn_from_consecutive_windows_and_reuse_them() -> None:
    """The blends train on ``train_windows`` back-to-back windows before the cutoff (stopping
    where history runs out), each labelled only by purchases inside it; a fit one horizon
    later reuses the windows it shares instead of refitting them, with the same lists."""
    ev = _shop(users=60)
    cfg = RecommendConfig(horizon_days=14, train_windows=10)
    fitted = fit_recommender(ev, date(2024, 2, 20), cfg)
    end = fitted.cutoff  # the end of 20 Feb
    # history starts on 1 Jan: windows start 14, 28 and 42 days back; 56 days back is empty
    starts = [end - timedelta(days=14 * k) for k in (1, 2, 3)]
    assert list(fitted.train_rows) == starts
    for start, rows in fitted.train_rows.items():
        assert rows is not None
        _, label = rows
        window = ev.filter(
            (pl.col("event_type") == "purchase")
            & (pl.col("event_time") > start)
            & (pl.col("event_time") <= start + timedelta(days=14))
        )
        assert 0 < label.sum() <= window.select("user_id", "item_id").unique().height
    later = fit_recommender(ev, date(2024, 3, 5), cfg, train_rows=fitted.train_rows)
    assert list(later.train_rows) == [later.cutoff - timedelta(days=14), *starts]
    assert all(later.train_rows[s] is fitted.train_rows[s] for s in starts)
    fresh = fit_recommender(ev, date(2024, 3, 5), cfg)
    key = ["user_id", "list", "rank"]
    assert recommend_lists(later, k=5).sort(key).equals(recommend_lists(fresh, k=5).sort(key))


def test_fused_serving_matches_the_general_path() -> None:
    """The compiled pass (candidates, features, both blends' trees, top-k in one loop) serves
    exactly the lists and probabilities of candidates -> feature matrix -> LightGBM predict."""
    from dataclasses import replace

    fitted = fit_recommender(_shop(users=60), date(2024, 2, 20), RecommendConfig(horizon_days=14))
    assert fitted.serving is not None
    fused = recommend_lists(fitted, k=5)
    general = recommend_lists(replace(fitted, serving=None), k=5)
    key = ["user_id", "list", "rank"]
    assert fused.sort(key).equals(general.sort(key))


def test_flat_trees_follow_lightgbm_on_missing_values() -> None:
    """The flat trees the fused pass walks give LightGBM's own probabilities, NaNs included
    (each feature is stored three times: NaN as 0, -inf and +inf)."""
    from models.recommend.blend import FEATURES, BlendRanker
    from models.recommend.kernels import _raw_score

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3_000, len(FEATURES))).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 1] = rng.normal(size=len(x))  # never missing in training: its splits count NaN as 0
    y = (x[:, 1] + np.isnan(x[:, 2]) - np.nan_to_num(x[:, 5]) > 0.3).astype(int)
    ranker = BlendRanker(rounds=20, leaves=8).fit(x, y)
    x = x[:300]
    x[::3, 1] = np.nan
    node, thr, value, roots = ranker.trees()
    nan = np.isnan(x)
    three = np.concatenate([np.where(nan, v, x) for v in (0.0, -np.inf, np.inf)], axis=1)
    raw = np.array([_raw_score(three, t, roots, node, thr, value) for t in range(len(x))])
    assert np.allclose(1 / (1 + np.exp(-raw)), ranker.predict_proba(x), rtol=0, atol=1e-12)
