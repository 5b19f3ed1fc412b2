"""The demo store: deterministic, canonical, and the planted structure is really there."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from analytics.core.errors import SpecError
from analytics.core.schema import EVENTS_SCHEMA, EXPOSURES_SCHEMA
from analytics.demo.generator import (
    CATEGORIES,
    SALE_DISCOUNT,
    TYPES,
    USER_TYPES,
    DemoSpec,
    DemoStore,
    generate_demo,
)

DESIGN = {t.name: t for t in USER_TYPES}


@pytest.fixture(scope="module")
def full_demo() -> DemoStore:
    """The default 20,000-user store: big enough to see a 5-point campaign effect per type."""
    return generate_demo(DemoSpec())


def _sessions(store: DemoStore) -> pl.DataFrame:
    """One row per (user, day) with a session, with its type and whether it was a Friday."""
    return (
        store.events.filter(pl.col("event_type") != "refund")
        .select("user_id", pl.col("event_time").dt.date().alias("day"))
        .unique()
        .join(store.truth.select("user_id", "true_type"), on="user_id")
    )


# --- determinism and schema -----------------------------------------------------------------
def test_same_seed_gives_identical_frames_and_another_seed_differs() -> None:
    a, b = generate_demo(DemoSpec(users=300)), generate_demo(DemoSpec(users=300))
    for name in ("events", "users", "exposures", "items", "truth", "future"):
        assert getattr(a, name).equals(getattr(b, name)), name
    c = generate_demo(DemoSpec(users=300, seed=8))
    assert not a.events.equals(c.events)


def test_frames_have_the_canonical_schema(small_demo: DemoStore) -> None:
    assert small_demo.events.schema == pl.Schema(EVENTS_SCHEMA)
    assert small_demo.future.schema == pl.Schema(EVENTS_SCHEMA)
    assert small_demo.exposures.schema == pl.Schema(EXPOSURES_SCHEMA)
    assert small_demo.users.columns == [
        "user_id", "email", "phone", "country", "signup_date", "age_band", "consent_email",
    ]  # fmt: skip
    assert small_demo.users.schema["signup_date"] == pl.Date
    assert small_demo.items.columns == ["item_id", "category", "price", "name"]
    assert small_demo.truth.columns[:5] == [
        "user_id", "true_type", "p_purchase_7d", "p_purchase_28d", "true_uplift",
    ]  # fmt: skip
    assert small_demo.users["user_id"].n_unique() == small_demo.users.height == 1_500
    assert small_demo.truth["user_id"].equals(small_demo.users["user_id"])


def test_events_lie_in_their_windows_and_cover_every_type(small_demo: DemoStore) -> None:
    start = small_demo.history_end - timedelta(days=small_demo.spec.days)
    times = small_demo.events["event_time"]
    assert times.min() >= start and times.max() < small_demo.history_end
    assert times.is_sorted()
    future = small_demo.future["event_time"]
    assert future.min() >= small_demo.history_end
    assert future.max() < small_demo.history_end + timedelta(days=small_demo.spec.future_days)
    counts = dict(small_demo.events.group_by("event_type").len().iter_rows())
    assert set(counts) == {"view", "cart", "fav", "purchase", "refund", "other"}
    assert counts["view"] > counts["cart"] > counts["purchase"] > counts["refund"] > 0
    # ~1M events for 20,000 users scales to ~75k for 1,500 (the bench checks the full size)
    assert 50_000 < small_demo.events.height < 110_000


def test_purchases_have_orders_quantities_and_sale_prices(small_demo: DemoStore) -> None:
    buys = small_demo.events.filter(pl.col("event_type") == "purchase").join(
        small_demo.items.select("item_id", pl.col("price").alias("list_price")), on="item_id"
    )
    assert buys.select("order_id", "item_id", "quantity").null_count().sum_horizontal().item() == 0
    assert (buys["quantity"] >= 1).all()
    assert ((buys["revenue"] - buys["quantity"] * buys["price"]).abs() < 0.006).all()
    friday = buys["event_time"].dt.weekday() == 5
    on_sale = (buys["price"] - buys["list_price"] * (1 - SALE_DISCOUNT)).abs() < 0.006
    assert (on_sale == friday).all()
    views = small_demo.events.filter(pl.col("event_type") == "view")
    assert views["order_id"].null_count() == views.height
    assert views["revenue"].null_count() == views.height


def test_refunds_undo_earlier_purchases_of_the_same_order(small_demo: DemoStore) -> None:
    keys = ["user_id", "order_id", "item_id"]
    buys = small_demo.events.filter(pl.col("event_type") == "purchase")
    refunds = small_demo.events.filter(pl.col("event_type") == "refund")
    matched = refunds.with_columns(pl.col("revenue").neg()).join(
        buys, on=[*keys, "revenue"], how="left", suffix="_buy"
    )
    assert refunds.height > 0
    assert matched["event_time_buy"].null_count() == 0  # each refund undoes a purchased line
    assert (matched["event_time"] > matched["event_time_buy"]).all()


def test_users_have_fake_contacts_and_three_consent_states(small_demo: DemoStore) -> None:
    users = small_demo.users
    assert users["email"].str.ends_with("@example.com").all()
    assert users["phone"].str.contains(r"^\+1-\d{3}-555-01\d{2}$").all()
    consent = users["consent_email"]
    shares = (
        consent.eq_missing(True).mean(),
        consent.eq_missing(False).mean(),
        consent.is_null().mean(),
    )
    assert shares == pytest.approx((0.70, 0.12, 0.18), abs=0.04)
    late = users.join(small_demo.truth, on="user_id").filter(pl.col("true_type") == "new_user")
    assert (late["signup_date"] > small_demo.spec.start).all()


def test_catalogue_has_categories_prices_and_readable_names(small_demo: DemoStore) -> None:
    items = small_demo.items
    assert items.height == 2_000 and items["item_id"].n_unique() == 2_000
    assert set(items["category"]) == set(CATEGORIES)
    assert (items["price"] > 0).all()
    assert items["name"].str.contains(r"^\S.* #\d+$").all()
    medians = dict(items.group_by("category").agg(pl.col("price").median()).iter_rows())
    assert medians["Computers"] > 10 * medians["Grocery"]


def test_spec_errors_are_explained() -> None:
    with pytest.raises(SpecError, match="at least 10 users"):
        generate_demo(DemoSpec(users=5))
    with pytest.raises(SpecError, match="56 days"):
        generate_demo(DemoSpec(days=30))
    with pytest.raises(SpecError, match="campaign day"):
        generate_demo(DemoSpec(users=50, campaign_day=175))


# --- planted structure ----------------------------------------------------------------------
def test_types_order_per_session_at_their_designed_rates(small_demo: DemoStore) -> None:
    sessions = _sessions(small_demo).with_columns(friday=pl.col("day").dt.weekday() == 5)
    orders = (
        small_demo.events.filter(pl.col("event_type") == "purchase")
        .select("user_id", "order_id")
        .unique()
        .join(small_demo.truth.select("user_id", "true_type"), on="user_id")
    )
    per_type = sessions.group_by("true_type").agg(pl.len().alias("n"), pl.col("friday").mean())
    per_type = per_type.join(orders.group_by("true_type").len(), on="true_type")
    for name, n, friday_share, n_orders in per_type.iter_rows():
        t = DESIGN[name]
        expected = t.purchase_rate * (1 + 0.6 * t.price_sensitivity * friday_share)
        assert n_orders / n == pytest.approx(expected, rel=0.15), name


def test_types_differ_in_basket_value_and_activity(small_demo: DemoStore) -> None:
    orders = (
        small_demo.events.filter(pl.col("event_type") == "purchase")
        .group_by("user_id", "order_id")
        .agg(pl.col("revenue").sum())
        .join(small_demo.truth.select("user_id", "true_type"), on="user_id")
    )
    aov = dict(orders.group_by("true_type").agg(pl.col("revenue").mean()).iter_rows())
    assert aov["loyal_high_spender"] > 5 * aov["bargain_hunter"]
    assert aov["loyal_high_spender"] > 2 * max(
        v for k, v in aov.items() if k != "loyal_high_spender"
    )
    days = dict(
        _sessions(small_demo).group_by("true_type").len().join(
            small_demo.truth.group_by("true_type").len(), on="true_type", suffix="_users"
        ).select("true_type", pl.col("len") / pl.col("len_users")).iter_rows()
    )  # fmt: skip
    assert days["loyal_high_spender"] > 1.5 * days["category_enthusiast"]
    assert min(days.values()) > 3  # every type leaves enough history to be recognised


def test_each_type_shops_its_home_categories(small_demo: DemoStore) -> None:
    views = small_demo.events.filter(pl.col("event_type") == "view").join(
        small_demo.truth.select("user_id", "true_type"), on="user_id"
    )
    share = (
        views.group_by("true_type", "category")
        .len()
        .with_columns((pl.col("len") / pl.col("len").sum().over("true_type")).alias("share"))
    )
    for t in USER_TYPES:
        for category, designed in t.taste.items():
            got = share.filter((pl.col("true_type") == t.name) & (pl.col("category") == category))
            # views mix taste draws with favourite items, which follow the same taste
            assert got["share"].item() == pytest.approx(designed, abs=0.08), (t.name, category)


def test_users_repeat_purchases_of_favourite_items(small_demo: DemoStore) -> None:
    buys = small_demo.events.filter(pl.col("event_type") == "purchase")
    # share of purchase lines of an item the user buys more than once: learnable "buy again"
    repeats = buys.group_by("user_id", "item_id").len().filter(pl.col("len") > 1)["len"].sum()
    assert repeats / buys.height > 0.3


def test_weekends_are_busier(small_demo: DemoStore) -> None:
    per_day = _sessions(small_demo).group_by("day").len()
    weekend = per_day.filter(pl.col("day").dt.weekday() >= 6)["len"].mean()
    midweek = per_day.filter(pl.col("day").dt.weekday().is_in([1, 2, 3]))["len"].mean()
    assert weekend > 1.2 * midweek  # type: ignore[operator]


def test_churned_users_are_gone_and_have_no_future(small_demo: DemoStore) -> None:
    truth = small_demo.truth
    churned = truth.filter(pl.col("churned"))
    assert churned.height > 0
    assert (churned["p_purchase_7d"] == 0).all() and (churned["p_purchase_28d"] == 0).all()
    assert not small_demo.future["user_id"].is_in(churned["user_id"].implode()).any()
    lapsing = truth.filter(pl.col("true_type") == "lapsing")["churned"].mean()
    loyal = truth.filter(pl.col("true_type") == "loyal_high_spender")["churned"].mean()
    assert lapsing > 3 * loyal  # type: ignore[operator]


def _observed_rate(store: DemoStore, days: int) -> pl.DataFrame:
    end = store.history_end + timedelta(days=days)
    buyers = store.future.filter(
        (pl.col("event_type") == "purchase") & (pl.col("event_time") < end)
    )["user_id"].unique()
    return store.truth.with_columns(bought=pl.col("user_id").is_in(buyers.implode()))


@pytest.mark.parametrize(("days", "column"), [(7, "p_purchase_7d"), (28, "p_purchase_28d")])
def test_true_purchase_probability_is_calibrated_against_the_future(
    small_demo: DemoStore, days: int, column: str
) -> None:
    frame = _observed_rate(small_demo, days)
    p = frame[column].to_numpy()
    observed = frame["bought"].mean()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(observed - p.mean()) < 3.5 * se  # type: ignore[operator]
    assert p.mean() > 0.05
    # and it ranks: the top decile buys far more often than the bottom half
    order = np.argsort(-p)
    bought = frame["bought"].to_numpy()[order]
    assert bought[: len(p) // 10].mean() > 3 * bought[len(p) // 2 :].mean()


def test_campaign_is_a_balanced_randomisation_of_the_reachable(small_demo: DemoStore) -> None:
    exp = small_demo.exposures.join(small_demo.users, on="user_id").join(
        small_demo.truth, on="user_id"
    )
    arms = dict(exp.group_by("arm").len().iter_rows())
    assert set(arms) == {"treatment", "control"} and abs(arms["treatment"] - arms["control"]) <= 1
    assert exp["consent_email"].ne(False).all()  # opted-out users were never mailed
    assert (exp["signup_date"] < small_demo.sent_time.date()).all()
    assert exp["sent_time"].n_unique() == 1 and exp["campaign_id"].n_unique() == 1
    reachable = small_demo.users.join(small_demo.truth, on="user_id").filter(
        pl.col("consent_email").ne(False) | pl.col("consent_email").is_null()
    )
    assert exp.height == reachable.filter(pl.col("true_type") != "new_user").height + (
        exp.filter(pl.col("true_type") == "new_user").height
    )
    shares = exp.group_by("arm", "true_type").len().pivot("arm", index="true_type", values="len")
    treated, control = shares["treatment"].cast(pl.Int64), shares["control"].cast(pl.Int64)
    balance = (treated - control).abs() / (treated + control)
    assert (balance < 0.15).all()


def test_true_uplift_per_type_is_as_designed(small_demo: DemoStore) -> None:
    live = small_demo.truth.filter(pl.col("true_uplift") != 0)
    means = dict(live.group_by("true_type").agg(pl.col("true_uplift").mean()).iter_rows())
    assert set(means) == set(TYPES)
    for name, mean in means.items():
        # the generator solves the per-type factor on this very population
        assert mean == pytest.approx(DESIGN[name].campaign_uplift, abs=0.002), name
    assert means["loyal_high_spender"] < -0.04


def test_campaign_effects_show_in_the_data(full_demo: DemoStore) -> None:
    sent = full_demo.sent_time
    buyers = full_demo.events.filter(
        (pl.col("event_type") == "purchase")
        & pl.col("event_time").is_between(sent, sent + timedelta(days=14), closed="left")
    )["user_id"].unique()
    exp = full_demo.exposures.join(full_demo.truth, on="user_id").with_columns(
        bought=pl.col("user_id").is_in(buyers.implode()).cast(pl.Float64)
    )
    assert exp.height > 15_000  # about 8,000 treated
    stats = exp.group_by("true_type", "arm").agg(
        pl.col("bought").mean(), pl.len(), pl.col("true_uplift").mean()
    )
    for name in TYPES:
        t = stats.filter((pl.col("true_type") == name) & (pl.col("arm") == "treatment"))
        c = stats.filter((pl.col("true_type") == name) & (pl.col("arm") == "control"))
        pt, pc = t["bought"].item(), c["bought"].item()
        diff = pt - pc
        se = np.sqrt(pt * (1 - pt) / t["len"].item() + pc * (1 - pc) / c["len"].item())
        designed = (t["true_uplift"].item() + c["true_uplift"].item()) / 2
        assert abs(diff - designed) < 3 * se, name
    loyal = stats.filter(pl.col("true_type") == "loyal_high_spender").sort("arm")
    control, treatment = loyal["bought"].to_list()
    assert treatment < control - 0.02  # the e-mail hurts loyal high spenders
