"""The demo store's planted world: user types, catalogue, population, calendar and the true rates.

Six latent user types differ in activity, basket value, category taste, price level, price
sensitivity, repeat buying and churn hazard; a weekly sale day and a past randomised e-mail campaign
with a per-type true effect (negative for loyal high spenders) are planted on top. The true
probabilities computed here (from the generator's own daily rates and churn hazard) are the ground
truth tests check the pipeline against; ``docs/ARCHITECTURE.md`` describes the whole design.
Pure numpy and polars, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from analytics.core.errors import SpecError
from analytics.core.schema import (
    CATEGORY,
    ITEM_ID,
    PRICE,
)

__all__ = [
    "AGE_BANDS",
    "CAMPAIGN_ID_DEMO",
    "CAMPAIGN_WINDOW_DAYS",
    "CATEGORIES",
    "COUNTRIES",
    "COUNTRY_WEIGHTS",
    "DEMO_USERS",
    "FAVOURITE_WEIGHTS",
    "FIRST_NAMES",
    "FIRST_SESSION_S",
    "LAST_NAMES",
    "N_FAVOURITES",
    "OTHER_EVENT_RATE",
    "SALE_DISCOUNT",
    "SALE_WEEKDAY",
    "SEND_HOUR",
    "SESSION_START_SPAN_S",
    "TYPES",
    "USER_TYPES",
    "Calendar",
    "Catalogue",
    "DemoSpec",
    "DemoStore",
    "Population",
    "UserType",
    "alive_at",
    "cumulative_rows",
    "day_start",
    "make_catalogue",
    "make_users",
    "order_rate",
    "purchase_window",
    "session_prob",
    "solve_campaign_factors",
    "true_uplift",
]

DEMO_USERS = 20_000  # the built-in store's size: the one place it is written
CAMPAIGN_ID_DEMO = "summer_email_2026"
CAMPAIGN_WINDOW_DAYS = 14
SALE_DISCOUNT = 0.20  # 20% off every price on the store-wide sale day
SALE_WEEKDAY = 4  # "flash-sale Fridays"
SEND_HOUR = 6  # the campaign goes out at 06:00 UTC, before any session of the day
FIRST_SESSION_S = 7 * 3600  # sessions start between 07:00 and 22:30 UTC
SESSION_START_SPAN_S = int(15.5 * 3600)
N_FAVOURITES = 4
FAVOURITE_WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
OTHER_EVENT_RATE = 0.05  # sessions that start with an "other" event (a site search)
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
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL", "CA")
COUNTRY_WEIGHTS = np.array([0.3, 0.15, 0.14, 0.1, 0.06, 0.06, 0.06, 0.04, 0.04, 0.05])
FIRST_NAMES = (
    "anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "iris", "jonas", "kate",
    "liam", "mia", "noah", "olivia", "paul", "quinn", "rosa", "sam", "tara", "umar", "vera",
    "wei", "xenia", "yusuf", "zoe", "li", "mei", "omar", "sofia",
)  # fmt: skip
LAST_NAMES = (
    "smith", "muller", "garcia", "rossi", "jansen", "novak", "chen", "wang", "kim", "silva",
    "martin", "bernard", "schmidt", "lopez", "berg", "kowalski", "brown", "moreau", "nakamura",
    "okafor",
)  # fmt: skip


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. Days count from ``start`` (UTC); day ``days`` is the first future day."""

    users: int = DEMO_USERS
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
        return day_start(self.spec, self.spec.days)

    @property
    def sent_time(self) -> datetime:
        return day_start(self.spec, self.spec.send_day) + timedelta(hours=SEND_HOUR)


def day_start(spec: DemoSpec, day: int) -> datetime:
    return datetime(spec.start.year, spec.start.month, spec.start.day, tzinfo=UTC) + timedelta(
        days=day
    )


# --- catalogue -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Catalogue:
    """Items sorted by (category, price tier), so each of the 36 cells is contiguous."""

    category: np.ndarray  # int, per item
    price: np.ndarray  # list price per item
    cell_key: np.ndarray  # cell index + cumulative popularity within the cell, in (c, c + 1]
    item_ids: pl.Series
    frame: pl.DataFrame


def make_catalogue(spec: DemoSpec, rng: np.random.Generator) -> Catalogue:
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
    return Catalogue(category, price, cell_key, item_ids, frame)


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
class Population:
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


def cumulative_rows(probs: np.ndarray) -> np.ndarray:
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


def make_users(spec: DemoSpec, rng: np.random.Generator) -> Population:
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
    return Population(
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
        taste_key=np.arange(n)[:, None] + cumulative_rows(taste),
        tier_key=np.arange(n)[:, None] + cumulative_rows(tier),
    )


# --- daily rates (shared by the simulation and the analytic truth) ----------------------------
@dataclass(frozen=True)
class Calendar:
    weekday: np.ndarray  # 0 = Monday, per day index
    sale: np.ndarray  # bool per day index (history and future)


def session_prob(u: Population, cal: Calendar, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """P(session) of live users ``rows`` on ``days`` (n_rows, n_days), without any campaign."""
    sale = cal.sale[days].astype(float)
    prob = u.session_rate[rows, None] * WEEKDAY_FACTOR[cal.weekday[days]][None, :]
    prob = prob * (1.0 + 1.5 * u.price_sensitivity[rows, None] * sale[None, :])
    age = np.maximum(days[None, :] - u.first_day[rows, None], 0)
    boost = 1.0 + _HONEYMOON_BOOST * np.exp(-age / _HONEYMOON_DAYS)
    prob = np.where(u.honeymoon[rows, None], prob * boost, prob)
    fade = u.fade_days[rows, None]
    return np.where(fade > 0, prob * np.exp(-age / np.maximum(fade, 1.0)), prob)


def _order_prob(u: Population, cal: Calendar, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """P(order | session) (n_rows, n_days): price-sensitive users order more on sale days."""
    sale = cal.sale[days][None, :]
    return order_rate(u.purchase_rate[rows, None], u.price_sensitivity[rows, None], sale)


def order_rate(rate: np.ndarray, sensitivity: np.ndarray, sale: np.ndarray) -> np.ndarray:
    return np.minimum(rate * (1.0 + 0.6 * sensitivity * sale), 0.95)


def _survival(u: Population, rows: np.ndarray, first: int, horizon: int) -> np.ndarray:
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


def purchase_window(
    u: Population, cal: Calendar, rows: np.ndarray, first: int, horizon: int
) -> _Window:
    days = first + np.arange(horizon)
    return _Window(
        session=session_prob(u, cal, days, rows),
        order=_order_prob(u, cal, days, rows),
        survival=_survival(u, rows, first, horizon),
    )


def alive_at(u: Population, day: int) -> np.ndarray:
    """Users alive through day ``day - 1`` (signed up before ``day`` and not churned)."""
    return (u.first_day < day) & (u.churn_day >= day)


def true_uplift(u: Population, cal: Calendar, day: int, factor: np.ndarray) -> np.ndarray:
    """True effect on P(purchase within 14 days) of an e-mail on ``day`` (0 for the gone)."""
    rows = np.flatnonzero(alive_at(u, day))
    window = purchase_window(u, cal, rows, day, CAMPAIGN_WINDOW_DAYS)
    out = np.zeros(len(u.type_idx))
    out[rows] = window.p_any_purchase(factor[rows]) - window.p_any_purchase()
    return out


def solve_campaign_factors(u: Population, cal: Calendar, day: int) -> np.ndarray:
    """Per-type session multipliers giving each type its designed mean uplift (bisection)."""
    rows = np.flatnonzero(alive_at(u, day))
    types = u.type_idx[rows]
    n_types = len(USER_TYPES)
    counts = np.bincount(types, minlength=n_types)
    target = _type_column("campaign_uplift")
    window = purchase_window(u, cal, rows, day, CAMPAIGN_WINDOW_DAYS)
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
