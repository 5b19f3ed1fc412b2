"""Serving each customer's lists and the item views."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from models.recommend.fitting import RecommendConfig, fit_recommender
from models.recommend.serving import recommend_lists, similar_items
from tests.models.recommend.logs import shop


def test_lists_exclusions_and_fallbacks() -> None:
    ev = shop()
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


def test_fused_serving_matches_the_general_path() -> None:
    """The compiled pass (candidates, features, both blends' trees, top-k in one loop) serves
    exactly the lists and probabilities of candidates -> feature matrix -> LightGBM predict."""
    from dataclasses import replace

    fitted = fit_recommender(shop(users=60), date(2024, 2, 20), RecommendConfig(horizon_days=14))
    assert fitted.serving is not None
    fused = recommend_lists(fitted, k=5)
    general = recommend_lists(replace(fitted, serving=None), k=5)
    key = ["user_id", "list", "rank"]
    assert fused.sort(key).equals(general.sort(key))
