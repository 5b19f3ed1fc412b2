"""The built-in demo store: a deterministic synthetic shop with planted, known structure.

What is planted (so that tests and benchmarks can check the pipeline recovers it):

* Six latent user types (``USER_TYPES``) that differ in activity, basket value, category taste,
  price level, price sensitivity, repeat buying and churn hazard. Category tastes are clearly
  different per type, so types are recognisable from behaviour even for fairly inactive users.
* A day-level process. Every user has a signup day and a churn day (a per-type daily hazard after a
  short protected period; churned users have no more events). On each day a live user starts a
  session with probability ``session_rate × weekday × honeymoon × fade × sale-day boost`` (new
  users start keen and settle; lapsing users fade out); a session holds views (by category
  taste, price tier and item popularity, some of favourite items), carts and favs, and ends in
  an order with probability ``purchase_rate`` (higher on sale days for price-sensitive users).
  Orders have lines with quantity and revenue = quantity × price (20% off on
  the weekly sale day); some order lines are refunded later (refund rows carry the original
  ``order_id``, the same quantity and price, and a negative revenue).
* Weekly seasonality: busier weekends, and a store-wide sale every Friday ("flash-sale Fridays":
  regular, so every 7-day window holds one and the truth knows nothing a model could not).
* A past randomised e-mail campaign sent on ``campaign_day`` (default day 120) at 06:00 UTC to all
  users who had signed up before that day and had not opted out (consent True or unknown), split
  exactly 50/50 at random into treatment and control. In the 14 days after the send, a treated
  user's daily session probability is multiplied by a per-type factor, solved so that the mean true
  effect on P(purchase within 14 days) among the type's live users equals the designed
  ``campaign_uplift`` (negative for loyal high spenders: they do not like discount mail).

Ground truth per user, never mixed into the data: the type, the true probability of at least one
purchase in the 7 and 28 days after the history (analytic, from the generator's own daily rates and
churn hazard, given the user's latent state at the end of the history: churned users get 0), and the
true campaign uplift (analytic, given the state at send time). Extra truth columns:
``true_uplift_now`` (the same e-mail sent on the first day after the history, for campaign planning)
and ``churned`` (gone before the end of the history). The ``future`` frame holds the events
simulated for the ``future_days`` after the history from the very same process, so the truth can be
checked against it. Sessions start between 07:00 and 22:30 UTC, so "within 14 days of the send" and
"days ``campaign_day`` … ``campaign_day + 13``" are the same window.

Pure: numpy and polars, no I/O. Vectorised over users × days and over events; no per-event loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from analytics.core.errors import SpecError
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

__all__ = [
    "CAMPAIGN_ID_DEMO",
    "CATEGORIES",
    "TYPES",
    "USER_TYPES",
    "DemoSpec",
    "DemoStore",
    "UserType",
    "generate_demo",
]

CAMPAIGN_ID_DEMO = "summer_email_2026"
CAMPAIGN_WINDOW_DAYS = 14
SALE_DISCOUNT = 0.20  # 20% off every price on the store-wide sale day
SALE_WEEKDAY = 4  # "flash-sale Fridays"
SEND_HOUR = 6  # the campaign goes out at 06:00 UTC, before any session of the day
_FIRST_SESSION_S = 7 * 3600  # sessions start between 07:00 and 22:30 UTC
_SESSION_START_SPAN_S = int(15.5 * 3600)
_N_FAVOURITES = 4
_FAVOURITE_WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
_OTHER_EVENT_RATE = 0.05  # sessions that start with an "other" event (a site search)
_US_PER_DAY = 86_400 * 1_000_000

# Mon..Sun session multipliers: busier weekends.
WEEKDAY_FACTOR = np.array([0.92, 0.9, 0.92, 0.96, 1.05, 1.3, 1.25])

# category -> (share of the catalogue, median list price); prices are log-normal around it.
_CATALOGUE: dict[str, tuple[float, float]] = {
    "Electronics": (0.10, 220.0),
    "Computers": (0.06, 480.0),
    "Home & Kitchen": (0.12, 55.0),
    "Fashion": (0.14, 40.0),
    "Shoes": (0.07, 75.0),
    "Jewelry & Watches": (0.05, 160.0),
    "Beauty": (0.09, 18.0),
    "Grocery": (0.12, 6.0),
    "Pet Supplies": (0.05, 15.0),
    "Sports & Outdoors": (0.08, 65.0),
    "Books": (0.07, 14.0),
    "Toys & Games": (0.05, 25.0),
}
CATEGORIES: tuple[str, ...] = tuple(_CATALOGUE)
_PRICE_SIGMA = 0.55

_PRODUCT_NOUNS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Wireless headphones", "Smart speaker", "4K TV", "Action camera", "Tablet"),
    "Computers": ("Laptop", "Gaming monitor", "Mechanical keyboard", "Desktop PC", "SSD drive"),
    "Home & Kitchen": ("Espresso machine", "Chef's knife", "Air fryer", "Duvet set", "Table lamp"),
    "Fashion": ("Linen shirt", "Denim jacket", "Summer dress", "Wool scarf", "Chinos"),
    "Shoes": ("Leather boots", "Canvas sneakers", "Loafers", "Sandals", "Running shoes"),
    "Jewelry & Watches": ("Silver necklace", "Dive watch", "Gold earrings", "Charm bracelet"),
    "Beauty": ("Face serum", "Lipstick", "Shampoo", "Sunscreen", "Hand cream"),
    "Grocery": ("Olive oil", "Coffee beans", "Green tea", "Dark chocolate", "Pasta"),
    "Pet Supplies": ("Dog food", "Cat litter", "Chew toy", "Pet bed", "Bird seed"),
    "Sports & Outdoors": ("Trail running shoes", "Yoga mat", "Camping tent", "Hiking backpack"),
    "Books": ("Crime novel", "Cookbook", "Travel guide", "Science fiction novel", "Biography"),
    "Toys & Games": ("Board game", "Building blocks", "Puzzle", "Plush bear", "Remote-control car"),
}


@dataclass(frozen=True)
class UserType:
    """The designed behaviour of one latent user type (rates are per live user)."""

    name: str
    share: float  # share of all users
    session_rate: float  # P(a session on a day), before weekday / honeymoon / sale factors
    views_per_session: float  # mean number of browsing views (>= 1)
    cart_rate: float  # P(cart | view)
    fav_rate: float  # P(fav | view)
    purchase_rate: float  # P(order | session) on a normal day
    lines_per_order: float  # mean number of order lines (>= 1)
    extra_quantity: float  # mean of (quantity - 1) per order line
    tier_pref: tuple[float, float, float]  # P(budget, mid, premium price tercile)
    taste: dict[str, float]  # mass on the home categories; the rest spread evenly
    price_sensitivity: float  # 0..1: how much sale days raise sessions and orders
    daily_churn: float  # daily churn hazard after the protected period
    protected_days: int  # days after the first day without churn
    repeat_rate: float  # P(an order line is one of the user's favourite items)
    refund_rate: float  # P(an order line is refunded later)
    campaign_uplift: float  # designed mean effect on P(purchase within 14 days of the e-mail)
    joins_late: bool = False  # signs up during the history window
    fade_days: float = 0.0  # > 0: sessions fade as exp(-days since first day / fade_days)
    age_weights: tuple[float, ...] = (1, 1, 1, 1, 1, 1)


USER_TYPES: tuple[UserType, ...] = (
    UserType(
        name="loyal_high_spender", share=0.15,
        session_rate=0.13, views_per_session=2.0, cart_rate=0.15, fav_rate=0.05,
        purchase_rate=0.50, lines_per_order=1.6, extra_quantity=0.3, tier_pref=(0.1, 0.3, 0.6),
        taste={"Electronics": 0.35, "Computers": 0.25, "Home & Kitchen": 0.20},
        price_sensitivity=0.1, daily_churn=1 / 1500, protected_days=0, repeat_rate=0.4,
        refund_rate=0.04, campaign_uplift=-0.05, age_weights=(0.3, 1, 1.5, 1.5, 1, 0.5),
    ),
    UserType(
        name="bargain_hunter", share=0.20,
        session_rate=0.07, views_per_session=2.2, cart_rate=0.15, fav_rate=0.06,
        purchase_rate=0.35, lines_per_order=1.4, extra_quantity=0.8, tier_pref=(0.7, 0.25, 0.05),
        taste={"Grocery": 0.35, "Beauty": 0.25, "Pet Supplies": 0.20},
        price_sensitivity=1.0, daily_churn=1 / 1000, protected_days=0, repeat_rate=0.5,
        refund_rate=0.02, campaign_uplift=0.14, age_weights=(1.5, 1.5, 1, 0.8, 0.8, 0.8),
    ),
    UserType(
        name="window_shopper", share=0.20,
        session_rate=0.10, views_per_session=2.6, cart_rate=0.12, fav_rate=0.10,
        purchase_rate=0.05, lines_per_order=1.1, extra_quantity=0.1, tier_pref=(0.2, 0.35, 0.45),
        taste={"Fashion": 0.35, "Shoes": 0.25, "Jewelry & Watches": 0.20},
        price_sensitivity=0.3, daily_churn=1 / 1000, protected_days=0, repeat_rate=0.1,
        refund_rate=0.10, campaign_uplift=0.06, age_weights=(1.5, 1.5, 1, 0.7, 0.4, 0.2),
    ),
    UserType(
        name="category_enthusiast", share=0.15,
        session_rate=0.055, views_per_session=2.2, cart_rate=0.15, fav_rate=0.08,
        purchase_rate=0.40, lines_per_order=1.4, extra_quantity=0.2, tier_pref=(0.15, 0.35, 0.5),
        taste={"Sports & Outdoors": 0.70, "Books": 0.10},
        price_sensitivity=0.2, daily_churn=1 / 1200, protected_days=0, repeat_rate=0.35,
        refund_rate=0.03, campaign_uplift=0.03, age_weights=(0.8, 1.5, 1.5, 1, 0.6, 0.3),
    ),
    UserType(
        name="lapsing", share=0.15,
        session_rate=0.20, views_per_session=2.0, cart_rate=0.15, fav_rate=0.05,
        purchase_rate=0.25, lines_per_order=1.2, extra_quantity=0.2, tier_pref=(0.4, 0.4, 0.2),
        taste={"Toys & Games": 0.50, "Books": 0.30},
        price_sensitivity=0.5, daily_churn=1 / 150, protected_days=14, repeat_rate=0.2,
        refund_rate=0.05, campaign_uplift=0.08, fade_days=50.0,
        age_weights=(0.5, 1.2, 1.5, 1, 0.7, 0.5),
    ),
    UserType(
        name="new_user", share=0.15,
        session_rate=0.08, views_per_session=2.2, cart_rate=0.15, fav_rate=0.07,
        purchase_rate=0.25, lines_per_order=1.3, extra_quantity=0.3, tier_pref=(0.34, 0.33, 0.33),
        taste={},  # broad: no home categories
        price_sensitivity=0.4, daily_churn=1 / 600, protected_days=0, repeat_rate=0.2,
        refund_rate=0.04, campaign_uplift=0.10, joins_late=True,
        age_weights=(1.5, 1.5, 1, 0.7, 0.4, 0.2),
    ),
)  # fmt: skip
TYPES: tuple[str, ...] = tuple(t.name for t in USER_TYPES)
_HONEYMOON_BOOST = 1.5  # new users: sessions x (1 + 1.5 exp(-age / 14 d)) after signup
_HONEYMOON_DAYS = 14.0
# individual session and order rates: type rate x log-normal(0, sigma); kept modest so that a
# user's history pins their rates down (the truth must stay learnable)
_RATE_SIGMA = 0.1
_AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL", "CA")
_COUNTRY_WEIGHTS = np.array([0.3, 0.15, 0.14, 0.1, 0.06, 0.06, 0.06, 0.04, 0.04, 0.05])
_FIRST_NAMES = (
    "anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "iris", "jonas", "kate",
    "liam", "mia", "noah", "olivia", "paul", "quinn", "rosa", "sam", "tara", "umar", "vera",
    "wei", "xenia", "yusuf", "zoe", "li", "mei", "omar", "sofia",
)  # fmt: skip
_LAST_NAMES = (
    "smith", "muller", "garcia", "rossi", "jansen", "novak", "chen", "wang", "kim", "silva",
    "martin", "bernard", "schmidt", "lopez", "berg", "kowalski", "brown", "moreau", "nakamura",
    "okafor",
)  # fmt: skip


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. Days count from ``start`` (UTC); day ``days`` is the first future day."""

    users: int = 20_000
    days: int = 180
    seed: int = 7
    start: date = date(2026, 3, 1)
    future_days: int = 28
    items: int = 2_000
    campaign_day: int | None = None  # day index of the e-mail send; default two thirds in

    @property
    def send_day(self) -> int:
        return self.campaign_day if self.campaign_day is not None else (2 * self.days) // 3

    def validate(self) -> None:
        if self.users < 10:
            raise SpecError("The demo store needs at least 10 users.")
        if self.days < 56:
            raise SpecError("The demo store needs at least 56 days of history.")
        if self.future_days < 28:
            raise SpecError("The demo store simulates at least 28 future days (for the truth).")
        if self.items < 10 * len(CATEGORIES):
            raise SpecError(f"The demo store needs at least {10 * len(CATEGORIES)} items.")
        if not 14 <= self.send_day <= self.days - CAMPAIGN_WINDOW_DAYS:
            raise SpecError(
                f"The campaign day must lie between day 14 and day {self.days - 14} of the history."
            )


@dataclass(frozen=True)
class DemoStore:
    """The generated store. ``truth`` and ``future`` are for evaluation only, never for models."""

    events: pl.DataFrame
    users: pl.DataFrame
    exposures: pl.DataFrame
    items: pl.DataFrame
    truth: pl.DataFrame
    future: pl.DataFrame
    spec: DemoSpec = field(default_factory=DemoSpec)

    @property
    def history_end(self) -> datetime:
        """The first instant after the history (UTC); ``future`` starts here."""
        return _day_start(self.spec, self.spec.days)

    @property
    def sent_time(self) -> datetime:
        return _day_start(self.spec, self.spec.send_day) + timedelta(hours=SEND_HOUR)


def _day_start(spec: DemoSpec, day: int) -> datetime:
    return datetime(spec.start.year, spec.start.month, spec.start.day, tzinfo=UTC) + timedelta(
        days=day
    )


# --- catalogue -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Catalogue:
    """Items sorted by (category, price tier), so each of the 36 cells is contiguous."""

    category: np.ndarray  # int, per item
    price: np.ndarray  # list price per item
    cell_key: np.ndarray  # cell index + cumulative popularity within the cell, in (c, c + 1]
    item_ids: pl.Series
    frame: pl.DataFrame


def _make_catalogue(spec: DemoSpec, rng: np.random.Generator) -> _Catalogue:
    shares = np.array([s for s, _ in _CATALOGUE.values()])
    counts = np.maximum(np.round(shares / shares.sum() * spec.items).astype(int), 9)
    counts[0] += spec.items - counts.sum()
    category = np.repeat(np.arange(len(CATEGORIES)), counts)
    medians = np.array([m for _, m in _CATALOGUE.values()])
    price = np.round(
        np.exp(np.log(medians[category]) + _PRICE_SIGMA * rng.normal(size=len(category))), 2
    )
    price = np.maximum(price, 0.5)
    # price tier = tercile of the price within the category
    tier = np.empty(len(category), dtype=np.int64)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(category == c)
        rank = np.argsort(np.argsort(price[idx]))
        tier[idx] = rank * 3 // len(idx)
    order = np.lexsort((price, tier, category))
    category, price, tier = category[order], price[order], tier[order]
    cell = category * 3 + tier
    # Zipf-like popularity at a random rank within the cell
    popularity = 1.0 / (1.0 + _rank_within(cell, rng)) ** 0.9
    cum = np.zeros(len(cell))
    for c in np.unique(cell):
        idx = np.flatnonzero(cell == c)
        w = np.cumsum(popularity[idx])
        cum[idx] = w / w[-1]
        cum[idx[-1]] = 1.0
    cell_key = cell + cum

    ids = 10_000 + rng.permutation(len(cell))
    item_ids = pl.Series(ITEM_ID, ids).cast(pl.String).str.pad_start(5, "0")
    item_ids = pl.Series(ITEM_ID, ["SKU-"] * len(cell)) + item_ids
    names = _item_names(category)
    frame = pl.DataFrame(
        {
            ITEM_ID: item_ids,
            CATEGORY: pl.Series(CATEGORY, CATEGORIES).gather(category),
            PRICE: price,
            "name": names,
        }
    )
    return _Catalogue(category, price, cell_key, item_ids, frame)


def _rank_within(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rank 0..n-1 of each item within its cell."""
    rank = np.empty(len(cell), dtype=np.int64)
    for c in np.unique(cell):
        idx = np.flatnonzero(cell == c)
        rank[idx] = rng.permutation(len(idx))
    return rank


def _item_names(category: np.ndarray) -> list[str]:
    names: list[str] = []
    counters: dict[str, int] = {}
    for pos, c in enumerate(category):
        nouns = _PRODUCT_NOUNS[CATEGORIES[c]]
        noun = nouns[pos % len(nouns)]
        counters[noun] = counters.get(noun, 0) + 1
        names.append(f"{noun} #{counters[noun]}")
    return names


# --- users -----------------------------------------------------------------------------------
@dataclass
class _Users:
    """Latent per-user state (index = position in the users frame)."""

    type_idx: np.ndarray
    first_day: np.ndarray  # first day the user can be active (signup day, or 0)
    protect_end: np.ndarray  # churn hazard applies from this day on
    churn_day: np.ndarray  # first day without the user (alive iff first_day <= d < churn_day)
    hazard: np.ndarray
    session_rate: np.ndarray
    purchase_rate: np.ndarray
    views: np.ndarray
    cart_rate: np.ndarray
    fav_rate: np.ndarray
    lines: np.ndarray
    extra_quantity: np.ndarray
    price_sensitivity: np.ndarray
    repeat_rate: np.ndarray
    refund_rate: np.ndarray
    honeymoon: np.ndarray  # bool: new users' early-days boost
    fade_days: np.ndarray  # > 0: lapsing users' sessions fade with time
    taste_key: np.ndarray  # (n, categories): row index + cumulative category taste
    tier_key: np.ndarray  # (n, 3): row index + cumulative price-tier preference
    favourites: np.ndarray | None = None  # (n, 4) item positions
    campaign_factor: np.ndarray | None = None  # per user session multiplier if treated


def _type_column(name: str) -> np.ndarray:
    return np.array([getattr(t, name) for t in USER_TYPES], dtype=float)


def _dirichlet_rows(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    draws = rng.gamma(alpha)
    return draws / draws.sum(axis=1, keepdims=True)


def _cumulative(probs: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    return cum


def _taste_profiles() -> np.ndarray:
    """(types, categories): the home categories' mass, the rest spread evenly."""
    profiles = np.zeros((len(USER_TYPES), len(CATEGORIES)))
    for k, t in enumerate(USER_TYPES):
        home = np.array([t.taste.get(c, 0.0) for c in CATEGORIES])
        others = home == 0
        home[others] = (1.0 - home.sum()) / others.sum()
        profiles[k] = home
    return profiles


def _make_users(spec: DemoSpec, rng: np.random.Generator) -> _Users:
    n = spec.users
    shares = _type_column("share")
    type_idx = rng.choice(len(USER_TYPES), size=n, p=shares / shares.sum())
    late = _type_column("joins_late")[type_idx] > 0
    first_day = np.where(late, rng.integers(spec.days // 3, spec.days - 6, size=n), 0)
    protect_end = first_day + _type_column("protected_days")[type_idx].astype(np.int64)
    hazard = _type_column("daily_churn")[type_idx] * rng.lognormal(0.0, 0.25, size=n)
    churn_day = protect_end + rng.geometric(np.minimum(hazard, 1.0)) - 1

    def per_user(name: str, sigma: float = 0.0) -> np.ndarray:
        values = _type_column(name)[type_idx]
        return values * rng.lognormal(0.0, sigma, size=n) if sigma else values

    taste = _dirichlet_rows(40.0 * _taste_profiles()[type_idx], rng)
    tiers = np.array([t.tier_pref for t in USER_TYPES])
    tier = _dirichlet_rows(30.0 * tiers[type_idx], rng)
    return _Users(
        type_idx=type_idx,
        first_day=first_day,
        protect_end=protect_end,
        churn_day=churn_day,
        hazard=hazard,
        session_rate=per_user("session_rate", _RATE_SIGMA),
        purchase_rate=np.minimum(per_user("purchase_rate", _RATE_SIGMA), 0.9),
        views=per_user("views_per_session"),
        cart_rate=per_user("cart_rate"),
        fav_rate=per_user("fav_rate"),
        lines=per_user("lines_per_order"),
        extra_quantity=per_user("extra_quantity"),
        price_sensitivity=per_user("price_sensitivity"),
        repeat_rate=per_user("repeat_rate"),
        refund_rate=per_user("refund_rate"),
        honeymoon=late,
        fade_days=per_user("fade_days"),
        taste_key=np.arange(n)[:, None] + _cumulative(taste),
        tier_key=np.arange(n)[:, None] + _cumulative(tier),
    )


# --- daily rates (shared by the simulation and the analytic truth) ----------------------------
@dataclass(frozen=True)
class _Calendar:
    weekday: np.ndarray  # 0 = Monday, per day index
    sale: np.ndarray  # bool per day index (history and future)


def _session_prob(u: _Users, cal: _Calendar, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """P(session) of live users ``rows`` on ``days`` (n_rows, n_days), without any campaign."""
    sale = cal.sale[days].astype(float)
    prob = u.session_rate[rows, None] * WEEKDAY_FACTOR[cal.weekday[days]][None, :]
    prob = prob * (1.0 + 1.5 * u.price_sensitivity[rows, None] * sale[None, :])
    age = np.maximum(days[None, :] - u.first_day[rows, None], 0)
    boost = 1.0 + _HONEYMOON_BOOST * np.exp(-age / _HONEYMOON_DAYS)
    prob = np.where(u.honeymoon[rows, None], prob * boost, prob)
    fade = u.fade_days[rows, None]
    return np.where(fade > 0, prob * np.exp(-age / np.maximum(fade, 1.0)), prob)


def _order_prob(u: _Users, cal: _Calendar, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """P(order | session) (n_rows, n_days): price-sensitive users order more on sale days."""
    sale = cal.sale[days][None, :]
    return _order_rate(u.purchase_rate[rows, None], u.price_sensitivity[rows, None], sale)


def _order_rate(rate: np.ndarray, sensitivity: np.ndarray, sale: np.ndarray) -> np.ndarray:
    return np.minimum(rate * (1.0 + 0.6 * sensitivity * sale), 0.95)


def _survival(u: _Users, rows: np.ndarray, first: int, horizon: int) -> np.ndarray:
    """P(alive on day first + j | alive on day first - 1), shape (n_rows, horizon)."""
    days = first + np.arange(horizon)
    exposed = np.maximum(0, days[None, :] - u.protect_end[rows, None] + 1)
    already = np.maximum(0, first - u.protect_end[rows, None])
    return (1.0 - u.hazard[rows, None]) ** (exposed - already)


def _p_any_purchase(daily: np.ndarray, survival: np.ndarray) -> np.ndarray:
    """P(>= 1 purchase) over the horizon, with daily purchase probability and survival curves."""
    n, horizon = daily.shape
    none_so_far = np.ones((n, horizon + 1))
    none_so_far[:, 1:] = np.cumprod(1.0 - daily, axis=1)
    before = np.concatenate([np.ones((n, 1)), survival[:, :-1]], axis=1)
    p_none = ((before - survival) * none_so_far[:, :horizon]).sum(axis=1)
    return 1.0 - (p_none + survival[:, -1] * none_so_far[:, horizon])


@dataclass(frozen=True)
class _Window:
    """Daily rates of some users over a horizon, ready for the analytic probabilities."""

    session: np.ndarray  # (n_rows, horizon) P(session) without a campaign
    order: np.ndarray  # (n_rows, horizon) P(order | session)
    survival: np.ndarray  # (n_rows, horizon) P(alive | alive the day before the window)

    def p_any_purchase(self, factor: np.ndarray | None = None) -> np.ndarray:
        """P(>= 1 purchase in the window), sessions multiplied by ``factor`` per row."""
        session = self.session if factor is None else self.session * factor[:, None]
        return _p_any_purchase(np.minimum(session, 0.95) * self.order, self.survival)


def _window(u: _Users, cal: _Calendar, rows: np.ndarray, first: int, horizon: int) -> _Window:
    days = first + np.arange(horizon)
    return _Window(
        session=_session_prob(u, cal, days, rows),
        order=_order_prob(u, cal, days, rows),
        survival=_survival(u, rows, first, horizon),
    )


def _alive_at(u: _Users, day: int) -> np.ndarray:
    """Users alive through day ``day - 1`` (signed up before ``day`` and not churned)."""
    return (u.first_day < day) & (u.churn_day >= day)


def _uplift(u: _Users, cal: _Calendar, day: int, factor: np.ndarray) -> np.ndarray:
    """True effect on P(purchase within 14 days) of an e-mail on ``day`` (0 for the gone)."""
    rows = np.flatnonzero(_alive_at(u, day))
    window = _window(u, cal, rows, day, CAMPAIGN_WINDOW_DAYS)
    out = np.zeros(len(u.type_idx))
    out[rows] = window.p_any_purchase(factor[rows]) - window.p_any_purchase()
    return out


def _solve_campaign_factors(u: _Users, cal: _Calendar, day: int) -> np.ndarray:
    """Per-type session multipliers giving each type its designed mean uplift (bisection)."""
    rows = np.flatnonzero(_alive_at(u, day))
    types = u.type_idx[rows]
    n_types = len(USER_TYPES)
    counts = np.bincount(types, minlength=n_types)
    target = _type_column("campaign_uplift")
    window = _window(u, cal, rows, day, CAMPAIGN_WINDOW_DAYS)
    control = window.p_any_purchase()
    lo, hi = np.full(n_types, -4.0), np.full(n_types, 4.0)
    for _ in range(32):
        mid = (lo + hi) / 2
        effect = window.p_any_purchase(np.exp(mid[types])) - control
        mean = np.bincount(types, effect, minlength=n_types) / np.maximum(counts, 1)
        too_big = mean > target
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    log_factor = np.where(counts > 0, (lo + hi) / 2, 0.0)
    return np.exp(log_factor)[u.type_idx]


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
    users: np.ndarray, u: _Users, cat: _Catalogue, rng: np.random.Generator
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
    u: _Users,
    cat: _Catalogue,
    rng: np.random.Generator,
) -> np.ndarray:
    """A favourite item with probability ``favourite_rate``, else a fresh draw by taste."""
    fresh = _draw_items(users, u, cat, rng)
    slot = np.searchsorted(np.cumsum(_FAVOURITE_WEIGHTS), rng.random(len(users)), side="right")
    assert u.favourites is not None
    favourite = u.favourites[users, np.minimum(slot, _N_FAVOURITES - 1)]
    return np.where(rng.random(len(users)) < favourite_rate, favourite, fresh)


def _positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of sizes ``counts``: the group of each element and its position in the group."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return group, np.arange(len(group)) - starts


def _simulate(
    spec: DemoSpec, u: _Users, cat: _Catalogue, cal: _Calendar, treated: np.ndarray,
    rng: np.random.Generator,
) -> list[_Block]:  # fmt: skip
    n_days = spec.days + spec.future_days
    all_users = np.arange(len(u.type_idx))
    days = np.arange(n_days)
    prob = _session_prob(u, cal, days, all_users)
    window = (days >= spec.send_day) & (days < spec.send_day + CAMPAIGN_WINDOW_DAYS)
    assert u.campaign_factor is not None
    factor = np.where(treated[:, None] & window[None, :], u.campaign_factor[:, None], 1.0)
    prob = np.minimum(prob * factor, 0.95)
    alive = (days[None, :] >= u.first_day[:, None]) & (days[None, :] < u.churn_day[:, None])
    s_user, s_day = np.nonzero((rng.random(prob.shape) < prob) & alive)
    n_sessions = len(s_user)
    start = _FIRST_SESSION_S + rng.integers(0, _SESSION_START_SPAN_S, size=n_sessions)
    sale = cal.sale[s_day]
    shown_price = np.round(cat.price * (1.0 - SALE_DISCOUNT), 2)

    def price_on(item: np.ndarray, on_sale: np.ndarray) -> np.ndarray:
        return np.where(on_sale, shown_price[item], cat.price[item])

    blocks: list[_Block] = []
    searched = rng.random(n_sessions) < _OTHER_EVENT_RATE
    blocks.append(_block(s_user[searched], s_day[searched], start[searched] + 5, _OTHER))

    # browsing: views, some carted or faved
    n_views = 1 + rng.poisson(np.maximum(u.views[s_user] - 1.0, 0.0))
    sess, pos = _positions(n_views)
    v_user, v_day = s_user[sess], s_day[sess]
    v_item = _pick_items(v_user, 0.5 * u.repeat_rate[v_user], u, cat, rng)
    v_second = start[sess] + 10 + 60 * pos
    v_price = price_on(v_item, sale[sess])
    blocks.append(_block(v_user, v_day, v_second, _VIEW, v_item, price=v_price))
    for kind, rate, offset in ((_CART, u.cart_rate, 20), (_FAV, u.fav_rate, 35)):
        hit = rng.random(len(v_user)) < rate[v_user]
        blocks.append(
            _block(v_user[hit], v_day[hit], v_second[hit] + offset, kind, v_item[hit],
                   price=v_price[hit])
        )  # fmt: skip

    # orders: each line is viewed and carted, then the order is placed at the session's end
    order_p = _order_rate(u.purchase_rate[s_user], u.price_sensitivity[s_user], sale)
    ordered = np.flatnonzero(rng.random(n_sessions) < order_p)
    n_lines = 1 + rng.poisson(np.maximum(u.lines[s_user[ordered]] - 1.0, 0.0))
    o_idx, line = _positions(n_lines)
    o_sess = ordered[o_idx]
    l_user, l_day = s_user[o_sess], s_day[o_sess]
    l_item = _pick_items(l_user, u.repeat_rate[l_user], u, cat, rng)
    l_price = price_on(l_item, sale[o_sess])
    l_second = start[o_sess] + 10 + 60 * (n_views[o_sess] + line)
    blocks.append(_block(l_user, l_day, l_second, _VIEW, l_item, price=l_price))
    blocks.append(_block(l_user, l_day, l_second + 20, _CART, l_item, price=l_price))
    qty_mean = u.extra_quantity[l_user] * (1.0 + u.price_sensitivity[l_user] * sale[o_sess])
    quantity = 1.0 + rng.poisson(qty_mean)
    p_second = start[o_sess] + 10 + 60 * (n_views[o_sess] + n_lines[o_idx]) + 30
    blocks.append(_block(l_user, l_day, p_second, _PURCHASE, l_item, quantity, l_price, o_idx))

    # refunds of some order lines, 2..30 days later, while the user is still around
    refunded = rng.random(len(l_user)) < u.refund_rate[l_user]
    r_day = l_day + rng.integers(2, 31, size=len(l_user))
    r_second = rng.integers(8 * 3600, 22 * 3600, size=len(l_user))
    keep = refunded & (r_day < u.churn_day[l_user]) & (r_day < n_days)
    blocks.append(
        _block(l_user[keep], r_day[keep], r_second[keep], _REFUND, l_item[keep],
               quantity[keep], l_price[keep], o_idx[keep])
    )  # fmt: skip
    return blocks


# --- frames ----------------------------------------------------------------------------------
def _events_frame(
    blocks: list[_Block], spec: DemoSpec, user_ids: pl.Series, cat: _Catalogue
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
    origin = int(_day_start(spec, 0).timestamp()) * 1_000_000
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
    spec: DemoSpec, u: _Users, user_ids: pl.Series, rng: np.random.Generator
) -> pl.DataFrame:
    n = len(u.type_idx)
    first = pl.Series(_FIRST_NAMES).gather(rng.integers(0, len(_FIRST_NAMES), n))
    last = pl.Series(_LAST_NAMES).gather(rng.integers(0, len(_LAST_NAMES), n))
    number = pl.Series(rng.integers(1, 1000, n)).cast(pl.String)
    area = pl.Series(["202", "312", "415", "512", "617", "713"]).gather(rng.integers(0, 6, n))
    line = pl.Series(rng.integers(100, 200, n)).cast(pl.String)  # 555-0100..0199: fictional
    signup = np.where(u.honeymoon, u.first_day, -rng.integers(1, 731, n))
    age_weights = np.array([t.age_weights for t in USER_TYPES])[u.type_idx]
    age = rng.random(n)[:, None] > _cumulative(age_weights / age_weights.sum(1, keepdims=True))
    consent_draw = rng.random(n)
    consent = pl.Series(CONSENT_EMAIL, consent_draw < 0.70).set(
        pl.Series(consent_draw >= 0.82), None
    )
    return pl.DataFrame(
        {
            USER_ID: user_ids,
            EMAIL: first + "." + last + number + "@example.com",
            "phone": "+1-" + area + "-555-0" + line,
            "country": pl.Series(_COUNTRIES).gather(
                np.searchsorted(np.cumsum(_COUNTRY_WEIGHTS), rng.random(n) * _COUNTRY_WEIGHTS.sum())
            ),
            "signup_date": pl.Series(signup + _epoch_day(spec.start)).cast(pl.Date),
            "age_band": pl.Series(_AGE_BANDS).gather(age.sum(axis=1)),
            CONSENT_EMAIL: consent,
        }
    )


def _epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _exposures_frame(
    spec: DemoSpec, u: _Users, users: pl.DataFrame, rng: np.random.Generator
) -> tuple[pl.DataFrame, np.ndarray]:
    """Exactly 50/50 random split of everyone signed up before the send who has not opted out."""
    n = len(u.type_idx)
    opted_out = users[CONSENT_EMAIL].fill_null(True).not_().to_numpy()
    eligible = np.flatnonzero((u.first_day < spec.send_day) & ~opted_out)
    shuffled = rng.permutation(eligible)
    treated = np.zeros(n, dtype=bool)
    treated[shuffled[: len(shuffled) // 2]] = True
    arm = np.where(treated[eligible], "treatment", "control")
    sent = _day_start(spec, spec.send_day) + timedelta(hours=SEND_HOUR)
    frame = pl.DataFrame(
        {
            USER_ID: users[USER_ID].gather(eligible),
            CAMPAIGN_ID: pl.Series([CAMPAIGN_ID_DEMO] * len(eligible), dtype=pl.String),
            ARM: pl.Series(arm, dtype=pl.String),
            SENT_TIME: pl.Series([sent] * len(eligible)).cast(TIME_DTYPE),
        }
    )
    return frame, treated


def _truth_frame(spec: DemoSpec, u: _Users, cal: _Calendar, user_ids: pl.Series) -> pl.DataFrame:
    """Per-user ground truth from the generator's own rates (see the module docstring)."""
    n = len(u.type_idx)
    end = spec.days
    alive = np.flatnonzero(_alive_at(u, end))
    p7, p28 = np.zeros(n), np.zeros(n)
    p7[alive] = _window(u, cal, alive, end, 7).p_any_purchase()
    p28[alive] = _window(u, cal, alive, end, 28).p_any_purchase()
    assert u.campaign_factor is not None
    return pl.DataFrame(
        {
            USER_ID: user_ids,
            "true_type": pl.Series(TYPES).gather(u.type_idx),
            "p_purchase_7d": p7,
            "p_purchase_28d": p28,
            "true_uplift": _uplift(u, cal, spec.send_day, u.campaign_factor),
            # the same e-mail sent on the first day after the history (for campaign planning)
            "true_uplift_now": _uplift(u, cal, end, u.campaign_factor),
            "churned": u.churn_day < end,
        }
    )


def _calendar(spec: DemoSpec) -> _Calendar:
    n_days = spec.days + spec.future_days
    weekday = (spec.start.weekday() + np.arange(n_days)) % 7
    # A regular weekly sale: every 7-day window holds exactly one sale day, so the truth knows
    # nothing about future sales that a model trained on past windows could not know.
    return _Calendar(weekday=weekday, sale=weekday == SALE_WEEKDAY)


def generate_demo(spec: DemoSpec = DemoSpec(), progress: Progress = no_progress) -> DemoStore:
    """Generate the demo store of ``spec``; the same spec gives identical frames."""
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    progress(0.0, "Building the catalogue")
    cat = _make_catalogue(spec, rng)
    cal = _calendar(spec)
    progress(0.1, "Drawing customers")
    u = _make_users(spec, rng)
    u.favourites = _draw_items(
        np.repeat(np.arange(spec.users), _N_FAVOURITES), u, cat, rng
    ).reshape(spec.users, _N_FAVOURITES)
    user_ids = pl.Series(USER_ID, np.arange(1, spec.users + 1)).cast(pl.String)
    user_ids = "U" + user_ids.str.pad_start(6, "0")
    users = _users_frame(spec, u, user_ids, rng)
    progress(0.2, "Planning the past e-mail campaign")
    exposures, treated = _exposures_frame(spec, u, users, rng)
    u.campaign_factor = _solve_campaign_factors(u, cal, spec.send_day)
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
