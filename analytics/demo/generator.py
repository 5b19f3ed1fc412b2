"""The built-in demo store: a deterministic synthetic shop with planted, known structure.

``generate_demo`` draws sessions, views, carts, favourites, orders and refunds day by day from the
world of ``analytics.demo.world`` (vectorised over users x days and over events, no per-event
loops), then builds the canonical events, users, exposures, items, the planted truth and the
simulated ``future`` frames. Pure: numpy and polars, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from analytics.core.progress import Progress, no_progress
from analytics.core.schema import (
    ARM,
    CAMPAIGN_ID,
    CATEGORY,
    CONSENT_EMAIL,
    EMAIL,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPE_DTYPE,
    EVENTS_SCHEMA,
    ITEM_ID,
    ORDER_ID,
    PRICE,
    QUANTITY,
    REVENUE,
    SENT_TIME,
    TIME_DTYPE,
    USER_ID,
    EventType,
)
from analytics.demo.world import (
    AGE_BANDS,
    CAMPAIGN_ID_DEMO,
    CAMPAIGN_WINDOW_DAYS,
    CATEGORIES,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DEMO_USERS,
    FAVOURITE_WEIGHTS,
    FIRST_NAMES,
    FIRST_SESSION_S,
    LAST_NAMES,
    N_FAVOURITES,
    OTHER_EVENT_RATE,
    SALE_DISCOUNT,
    SALE_WEEKDAY,
    SEND_HOUR,
    SESSION_START_SPAN_S,
    TYPES,
    USER_TYPES,
    Calendar,
    Catalogue,
    DemoSpec,
    DemoStore,
    Population,
    UserType,
    alive_at,
    cumulative_rows,
    day_start,
    make_catalogue,
    make_users,
    order_rate,
    purchase_window,
    session_prob,
    solve_campaign_factors,
    true_uplift,
)

__all__ = [
    "CAMPAIGN_ID_DEMO",
    "CATEGORIES",
    "DEMO_USERS",
    "TYPES",
    "USER_TYPES",
    "DemoSpec",
    "DemoStore",
    "UserType",
    "generate_demo",
]

# --- simulation ------------------------------------------------------------------------------
_VIEW, _CART, _FAV, _PURCHASE, _REFUND, _OTHER = range(6)
_EVENT_TYPES = pl.Series(
    EVENT_TYPE,
    [
        EventType.VIEW.value,
        EventType.CART.value,
        EventType.FAV.value,
        EventType.PURCHASE.value,
        EventType.REFUND.value,
        EventType.OTHER.value,
    ],
    dtype=EVENT_TYPE_DTYPE,
)


@dataclass
class _Block:
    """Events of one kind as parallel arrays (item -1 / order -1 / NaN = none)."""

    user: np.ndarray
    day: np.ndarray
    second: np.ndarray  # seconds after midnight UTC
    kind: int
    item: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    order: np.ndarray


def _block(
    user: np.ndarray,
    day: np.ndarray,
    second: np.ndarray,
    kind: int,
    item: np.ndarray | None = None,
    quantity: np.ndarray | None = None,
    price: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> _Block:
    n = len(user)
    return _Block(
        user,
        day,
        second,
        kind,
        np.full(n, -1) if item is None else item,
        np.full(n, np.nan) if quantity is None else quantity,
        np.full(n, np.nan) if price is None else price,
        np.full(n, -1) if order is None else order,
    )


def _draw_items(
    users: np.ndarray, u: Population, cat: Catalogue, rng: np.random.Generator
) -> np.ndarray:
    """Item positions drawn by each user's category taste, price tier and item popularity."""
    n = len(users)
    category = _draw_rows(u.taste_key, users, rng.random(n))
    tier = _draw_rows(u.tier_key, users, rng.random(n))
    key = category * 3 + tier + rng.random(n)
    return np.minimum(np.searchsorted(cat.cell_key, key, side="right"), len(cat.price) - 1)


def _draw_rows(key: np.ndarray, rows: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Draw a column per row from row-wise cumulative probabilities flattened as ``row + cum``."""
    width = key.shape[1]
    flat = np.searchsorted(key.ravel(), rows + uniform, side="right")
    return np.minimum(flat - rows * width, width - 1)


def _pick_items(
    users: np.ndarray,
    favourite_rate: np.ndarray,
    u: Population,
    cat: Catalogue,
    rng: np.random.Generator,
) -> np.ndarray:
    """A favourite item with probability ``favourite_rate``, else a fresh draw by taste."""
    fresh = _draw_items(users, u, cat, rng)
    slot = np.searchsorted(np.cumsum(FAVOURITE_WEIGHTS), rng.random(len(users)), side="right")
    assert u.favourites is not None
    favourite = u.favourites[users, np.minimum(slot, N_FAVOURITES - 1)]
    return np.where(rng.random(len(users)) < favourite_rate, favourite, fresh)


def _positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of sizes ``counts``: the group of each element and its position in the group."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return group, np.arange(len(group)) - starts


@dataclass(frozen=True)
class _Sessions:
    """Every session as parallel arrays: who, which day, its start (seconds after midnight UTC)."""

    user: np.ndarray
    day: np.ndarray
    start: np.ndarray
    sale: np.ndarray  # the session falls on a sale day
    n_days: int


def _draw_sessions(
    spec: DemoSpec, u: Population, cal: Calendar, treated: np.ndarray, rng: np.random.Generator
) -> _Sessions:
    """Sessions of live users, day by day; the campaign multiplies a treated user's chance."""
    n_days = spec.days + spec.future_days
    days = np.arange(n_days)
    prob = session_prob(u, cal, days, np.arange(len(u.type_idx)))
    window = (days >= spec.send_day) & (days < spec.send_day + CAMPAIGN_WINDOW_DAYS)
    assert u.campaign_factor is not None
    factor = np.where(treated[:, None] & window[None, :], u.campaign_factor[:, None], 1.0)
    prob = np.minimum(prob * factor, 0.95)
    alive = (days[None, :] >= u.first_day[:, None]) & (days[None, :] < u.churn_day[:, None])
    s_user, s_day = np.nonzero((rng.random(prob.shape) < prob) & alive)
    start = FIRST_SESSION_S + rng.integers(0, SESSION_START_SPAN_S, size=len(s_user))
    return _Sessions(s_user, s_day, start, cal.sale[s_day], n_days)


def _price_on(cat: Catalogue, item: np.ndarray, on_sale: np.ndarray) -> np.ndarray:
    """The price shown for ``item``: the list price, less the sale discount on sale days."""
    return np.where(on_sale, np.round(cat.price[item] * (1.0 - SALE_DISCOUNT), 2), cat.price[item])


def _browse(
    s: _Sessions, u: Population, cat: Catalogue, rng: np.random.Generator
) -> tuple[np.ndarray, list[_Block]]:
    """Site searches, then views (some carted or faved); returns the views per session too."""
    searched = rng.random(len(s.user)) < OTHER_EVENT_RATE
    blocks = [_block(s.user[searched], s.day[searched], s.start[searched] + 5, _OTHER)]
    n_views = 1 + rng.poisson(np.maximum(u.views[s.user] - 1.0, 0.0))
    sess, pos = _positions(n_views)
    v_user, v_day = s.user[sess], s.day[sess]
    v_item = _pick_items(v_user, 0.5 * u.repeat_rate[v_user], u, cat, rng)
    v_second = s.start[sess] + 10 + 60 * pos
    v_price = _price_on(cat, v_item, s.sale[sess])
    blocks.append(_block(v_user, v_day, v_second, _VIEW, v_item, price=v_price))
    for kind, rate, offset in ((_CART, u.cart_rate, 20), (_FAV, u.fav_rate, 35)):
        hit = rng.random(len(v_user)) < rate[v_user]
        blocks.append(
            _block(v_user[hit], v_day[hit], v_second[hit] + offset, kind, v_item[hit],
                   price=v_price[hit])
        )  # fmt: skip
    return n_views, blocks


def _order(
    s: _Sessions, n_views: np.ndarray, u: Population, cat: Catalogue, rng: np.random.Generator
) -> list[_Block]:
    """Orders: each line viewed and carted, the order placed at the session's end; refunds."""
    order_p = order_rate(u.purchase_rate[s.user], u.price_sensitivity[s.user], s.sale)
    ordered = np.flatnonzero(rng.random(len(s.user)) < order_p)
    n_lines = 1 + rng.poisson(np.maximum(u.lines[s.user[ordered]] - 1.0, 0.0))
    o_idx, line = _positions(n_lines)
    o_sess = ordered[o_idx]
    l_user, l_day = s.user[o_sess], s.day[o_sess]
    l_item = _pick_items(l_user, u.repeat_rate[l_user], u, cat, rng)
    l_price = _price_on(cat, l_item, s.sale[o_sess])
    l_second = s.start[o_sess] + 10 + 60 * (n_views[o_sess] + line)
    qty_mean = u.extra_quantity[l_user] * (1.0 + u.price_sensitivity[l_user] * s.sale[o_sess])
    quantity = 1.0 + rng.poisson(qty_mean)
    p_second = s.start[o_sess] + 10 + 60 * (n_views[o_sess] + n_lines[o_idx]) + 30
    lines = _block(l_user, l_day, p_second, _PURCHASE, l_item, quantity, l_price, o_idx)
    return [
        _block(l_user, l_day, l_second, _VIEW, l_item, price=l_price),
        _block(l_user, l_day, l_second + 20, _CART, l_item, price=l_price),
        lines,
        _refunds(lines, u, s.n_days, rng),
    ]


def _refunds(lines: _Block, u: Population, n_days: int, rng: np.random.Generator) -> _Block:
    """Some order lines refunded 2..30 days later, while the user is still around."""
    n = len(lines.user)
    refunded = rng.random(n) < u.refund_rate[lines.user]
    r_day = lines.day + rng.integers(2, 31, size=n)
    r_second = rng.integers(8 * 3600, 22 * 3600, size=n)
    keep = refunded & (r_day < u.churn_day[lines.user]) & (r_day < n_days)
    return _block(
        lines.user[keep], r_day[keep], r_second[keep], _REFUND, lines.item[keep],
        lines.quantity[keep], lines.price[keep], lines.order[keep],
    )  # fmt: skip


def _simulate(
    spec: DemoSpec, u: Population, cat: Catalogue, cal: Calendar, treated: np.ndarray,
    rng: np.random.Generator,
) -> list[_Block]:  # fmt: skip
    """Every event of the history and the future, as blocks of one kind each."""
    sessions = _draw_sessions(spec, u, cal, treated, rng)
    n_views, blocks = _browse(sessions, u, cat, rng)
    return blocks + _order(sessions, n_views, u, cat, rng)


# --- frames ----------------------------------------------------------------------------------
def _events_frame(
    blocks: list[_Block], spec: DemoSpec, user_ids: pl.Series, cat: Catalogue
) -> pl.DataFrame:
    """Canonical events of all blocks, sorted by time then user."""
    user = np.concatenate([b.user for b in blocks])
    day = np.concatenate([b.day for b in blocks])
    time_us = (day * 86_400 + np.concatenate([b.second for b in blocks])) * 1_000_000
    kind = np.concatenate([np.full(len(b.user), b.kind) for b in blocks])
    item = np.concatenate([b.item for b in blocks])
    order = np.concatenate([b.order for b in blocks])
    n_users = len(user_ids)
    sort = np.argsort((time_us // 1_000_000 * n_users + user) * 8 + kind, kind="stable")
    user, time_us, kind, item, order = (a[sort] for a in (user, time_us, kind, item, order))
    quantity = np.concatenate([b.quantity for b in blocks])[sort]
    price = np.concatenate([b.price for b in blocks])[sort]
    origin = int(day_start(spec, 0).timestamp()) * 1_000_000
    item_idx = pl.Series(np.where(item >= 0, item, 0)).set(pl.Series(item < 0), None)
    order_ids = pl.Series(np.where(order >= 0, order + 1, 0)).cast(pl.String).str.pad_start(7, "0")
    frame = pl.DataFrame(
        {
            USER_ID: user_ids.gather(user),
            EVENT_TIME: pl.Series(time_us + origin).cast(TIME_DTYPE),
            EVENT_TYPE: _EVENT_TYPES.gather(kind),
            ITEM_ID: cat.item_ids.gather(item_idx),
            CATEGORY: cat.frame[CATEGORY].gather(item_idx),
            QUANTITY: quantity,
            PRICE: price,
            ORDER_ID: ("ORD-" + order_ids).set(pl.Series(order < 0), None),
            "_day": day[sort],
        }
    )
    revenue = (pl.col(QUANTITY) * pl.col(PRICE)).round(2)
    refund = pl.col(EVENT_TYPE) == EventType.REFUND.value
    return (
        frame.with_columns(pl.col(QUANTITY, PRICE).fill_nan(None))
        .with_columns(pl.when(refund).then(-revenue).otherwise(revenue).alias(REVENUE))
        .select(*EVENTS_SCHEMA, "_day")
    )


def _users_frame(
    spec: DemoSpec, u: Population, user_ids: pl.Series, rng: np.random.Generator
) -> pl.DataFrame:
    n = len(u.type_idx)
    first = pl.Series(FIRST_NAMES).gather(rng.integers(0, len(FIRST_NAMES), n))
    last = pl.Series(LAST_NAMES).gather(rng.integers(0, len(LAST_NAMES), n))
    number = pl.Series(rng.integers(1, 1000, n)).cast(pl.String)
    area = pl.Series(["202", "312", "415", "512", "617", "713"]).gather(rng.integers(0, 6, n))
    line = pl.Series(rng.integers(100, 200, n)).cast(pl.String)  # 555-0100..0199: fictional
    signup = np.where(u.honeymoon, u.first_day, -rng.integers(1, 731, n))
    age_weights = np.array([t.age_weights for t in USER_TYPES])[u.type_idx]
    age = rng.random(n)[:, None] > cumulative_rows(age_weights / age_weights.sum(1, keepdims=True))
    consent_draw = rng.random(n)
    consent = pl.Series(CONSENT_EMAIL, consent_draw < 0.70).set(
        pl.Series(consent_draw >= 0.82), None
    )
    return pl.DataFrame(
        {
            USER_ID: user_ids,
            EMAIL: first + "." + last + number + "@example.com",
            "phone": "+1-" + area + "-555-0" + line,
            "country": pl.Series(COUNTRIES).gather(
                np.searchsorted(np.cumsum(COUNTRY_WEIGHTS), rng.random(n) * COUNTRY_WEIGHTS.sum())
            ),
            "signup_date": pl.Series(signup + _epoch_day(spec.start)).cast(pl.Date),
            "age_band": pl.Series(AGE_BANDS).gather(age.sum(axis=1)),
            CONSENT_EMAIL: consent,
        }
    )


def _epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _exposures_frame(
    spec: DemoSpec, u: Population, users: pl.DataFrame, rng: np.random.Generator
) -> tuple[pl.DataFrame, np.ndarray]:
    """Exactly 50/50 random split of everyone signed up before the send who has not opted out."""
    n = len(u.type_idx)
    opted_out = users[CONSENT_EMAIL].fill_null(True).not_().to_numpy()
    eligible = np.flatnonzero((u.first_day < spec.send_day) & ~opted_out)
    shuffled = rng.permutation(eligible)
    treated = np.zeros(n, dtype=bool)
    treated[shuffled[: len(shuffled) // 2]] = True
    arm = np.where(treated[eligible], "treatment", "control")
    sent = day_start(spec, spec.send_day) + timedelta(hours=SEND_HOUR)
    frame = pl.DataFrame(
        {
            USER_ID: users[USER_ID].gather(eligible),
            CAMPAIGN_ID: pl.Series([CAMPAIGN_ID_DEMO] * len(eligible), dtype=pl.String),
            ARM: pl.Series(arm, dtype=pl.String),
            SENT_TIME: pl.Series([sent] * len(eligible)).cast(TIME_DTYPE),
        }
    )
    return frame, treated


def _truth_frame(spec: DemoSpec, u: Population, cal: Calendar, user_ids: pl.Series) -> pl.DataFrame:
    """Per-user ground truth from the generator's own rates (see the module docstring)."""
    n = len(u.type_idx)
    end = spec.days
    alive = np.flatnonzero(alive_at(u, end))
    p7, p28 = np.zeros(n), np.zeros(n)
    p7[alive] = purchase_window(u, cal, alive, end, 7).p_any_purchase()
    p28[alive] = purchase_window(u, cal, alive, end, 28).p_any_purchase()
    assert u.campaign_factor is not None
    return pl.DataFrame(
        {
            USER_ID: user_ids,
            "true_type": pl.Series(TYPES).gather(u.type_idx),
            "p_purchase_7d": p7,
            "p_purchase_28d": p28,
            "true_uplift": true_uplift(u, cal, spec.send_day, u.campaign_factor),
            # the same e-mail sent on the first day after the history (for campaign planning)
            "true_uplift_now": true_uplift(u, cal, end, u.campaign_factor),
            "churned": u.churn_day < end,
        }
    )


def _calendar(spec: DemoSpec) -> Calendar:
    n_days = spec.days + spec.future_days
    weekday = (spec.start.weekday() + np.arange(n_days)) % 7
    # A regular weekly sale: every 7-day window holds exactly one sale day, so the truth knows
    # nothing about future sales that a model trained on past windows could not know.
    return Calendar(weekday=weekday, sale=weekday == SALE_WEEKDAY)


_DEFAULT_SPEC = DemoSpec()


def generate_demo(spec: DemoSpec = _DEFAULT_SPEC, progress: Progress = no_progress) -> DemoStore:
    """Generate the demo store of ``spec``; the same spec gives identical frames."""
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    progress(0.0, "Building the catalogue")
    cat = make_catalogue(spec, rng)
    cal = _calendar(spec)
    progress(0.1, "Drawing customers")
    u = make_users(spec, rng)
    u.favourites = _draw_items(np.repeat(np.arange(spec.users), N_FAVOURITES), u, cat, rng).reshape(
        spec.users, N_FAVOURITES
    )
    user_ids = pl.Series(USER_ID, np.arange(1, spec.users + 1)).cast(pl.String)
    user_ids = "U" + user_ids.str.pad_start(6, "0")
    users = _users_frame(spec, u, user_ids, rng)
    progress(0.2, "Planning the past e-mail campaign")
    exposures, treated = _exposures_frame(spec, u, users, rng)
    u.campaign_factor = solve_campaign_factors(u, cal, spec.send_day)
    progress(0.3, "Simulating sessions, orders and refunds")
    blocks = _simulate(spec, u, cat, cal, treated, rng)
    progress(0.7, "Assembling events")
    events = _events_frame(blocks, spec, user_ids, cat)
    history = events.filter(pl.col("_day") < spec.days).drop("_day")
    future = events.filter(pl.col("_day") >= spec.days).drop("_day")
    progress(0.9, "Computing the ground truth")
    truth = _truth_frame(spec, u, cal, user_ids)
    progress(1.0, "Demo store ready")
    return DemoStore(
        events=history,
        users=users,
        exposures=exposures,
        items=cat.frame,
        truth=truth,
        future=future,
        spec=spec,
    )
