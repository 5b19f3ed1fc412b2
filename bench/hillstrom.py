"""A Hillstrom-format e-mail test with planted heterogeneous effects (no download needed).

Same columns and value formats as Kevin Hillstrom's MineThatData e-mail challenge (64,000
customers, 2008): ``recency, history_segment, history, mens, womens, zip_code, newbie, channel,
segment, visit, conversion, spend`` with ``segment`` in {Mens E-Mail, Womens E-Mail, No E-Mail}
split a third each at random, and base rates close to the original (visit ≈ 10.6% without e-mail,
≈ 18% / 15% with the men's / women's e-mail; conversion ≈ 0.6% / 1.2% / 0.9%).

Planted truth (returned by ``hillstrom_frame(..., truth=True)`` as ``true_uplift_visit_mens``,
``true_uplift_visit_womens``): the men's e-mail works on men's-merchandise buyers, the women's
e-mail on women's buyers; both work more on recent customers and on newcomers; the women's e-mail
slightly *lowers* visits of lapsed, high-spending men's-only buyers (a harmed group).

Usage: ``python bench/hillstrom.py OUT.csv [--rows N] [--seed S]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["hillstrom_frame", "write_hillstrom_csv"]

_SEGMENT_EDGES = [0, 100, 200, 350, 500, 750, 1000]
_SEGMENT_NAMES = [
    "1) $0 - $100", "2) $100 - $200", "3) $200 - $350", "4) $350 - $500", "5) $500 - $750",
    "6) $750 - $1,000", "7) $1,000 +",
]  # fmt: skip


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def hillstrom_frame(rows: int = 64_000, seed: int = 0, *, truth: bool = False) -> pl.DataFrame:
    """The e-mail test as a frame; with ``truth`` also the planted visit uplift per arm."""
    rng = np.random.default_rng(seed)
    recency = rng.integers(1, 13, rows)
    history = np.round(np.exp(rng.normal(5.2, 0.9, rows)).clip(29.99, 3345.93), 2)
    kind = rng.choice(3, rows, p=[0.45, 0.45, 0.10])  # men's only, women's only, both
    mens = ((kind == 0) | (kind == 2)).astype(int)
    womens = ((kind == 1) | (kind == 2)).astype(int)
    zip_code = rng.choice(["Surburban", "Urban", "Rural"], rows, p=[0.45, 0.40, 0.15])
    newbie = (rng.random(rows) < 0.5).astype(int)
    channel = rng.choice(["Web", "Phone", "Multichannel"], rows, p=[0.44, 0.44, 0.12])
    segment = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], rows)
    hist_seg = np.array(_SEGMENT_NAMES)[np.searchsorted(_SEGMENT_EDGES, history, side="right") - 1]

    base = _sigmoid(
        -1.75 - 0.09 * recency + 0.25 * np.log(history / 100) + 0.15 * (channel == "Web")
        + 0.1 * (channel == "Multichannel") - 0.1 * newbie
    )  # fmt: skip
    fresh = (recency <= 4).astype(float)
    up_mens = mens * (0.09 + 0.06 * fresh + 0.04 * newbie) + 0.01
    up_womens = womens * (0.06 + 0.05 * fresh + 0.03 * newbie) + 0.005
    lapsed_big_men = (mens == 1) & (womens == 0) & (recency >= 9) & (history > 300)
    up_womens = np.where(lapsed_big_men, -0.05, up_womens)
    uplift = np.select(
        [segment == "Mens E-Mail", segment == "Womens E-Mail"], [up_mens, up_womens], 0
    )
    visit = (rng.random(rows) < np.clip(base + uplift, 0, 1)).astype(int)
    p_conv = np.where(segment == "No E-Mail", 0.055, 0.068) * (1 + 0.3 * (history > 500))
    conversion = visit * (rng.random(rows) < p_conv).astype(int)
    spend = np.where(conversion == 1, np.round(rng.gamma(2.0, 55.0, rows) + 29.99, 2), 0.0)
    frame = pl.DataFrame({
        "recency": recency, "history_segment": hist_seg, "history": history, "mens": mens,
        "womens": womens, "zip_code": zip_code, "newbie": newbie, "channel": channel,
        "segment": segment, "visit": visit, "conversion": conversion, "spend": spend,
    })  # fmt: skip
    if truth:
        frame = frame.with_columns(
            pl.Series("true_uplift_visit_mens", up_mens),
            pl.Series("true_uplift_visit_womens", up_womens),
        )
    return frame


def write_hillstrom_csv(path: str | Path, rows: int = 64_000, seed: int = 0) -> Path:
    """Write the e-mail test as a CSV with the original's header; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hillstrom_frame(rows, seed).write_csv(path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_hillstrom_csv(args.out, args.rows, args.seed))
