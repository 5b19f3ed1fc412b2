"""The core's ``Progress`` callback drawn as a Streamlit progress bar with a status line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from analytics.core.progress import Progress

__all__ = ["progress_bar"]

_MIN_STEP = 0.01  # redraw at most every 1% (or on a new message, or every 0.5 s)
_MIN_INTERVAL_S = 0.5


@contextmanager
def progress_bar(text: str) -> Iterator[Progress]:
    """Show a progress bar while the block runs; yields the callback to hand to the core.

    The bar disappears when the block ends, whatever happened, so a finished or failed job
    leaves only the page's own message behind.
    """
    bar = st.progress(0.0, text=text)
    last = {"fraction": 0.0, "message": text, "at": time.monotonic()}

    def report(fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        if (
            message == last["message"]
            and fraction - float(last["fraction"]) < _MIN_STEP
            and now - float(last["at"]) < _MIN_INTERVAL_S
            and fraction < 1.0
        ):
            return
        last.update(fraction=fraction, message=message, at=now)
        bar.progress(fraction, text=f"{message} ({fraction:.0%})")

    try:
        yield report
    finally:
        bar.empty()
