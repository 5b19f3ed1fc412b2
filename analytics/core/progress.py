"""A progress callback the core reports to; the UI maps it to ``st.progress``, the CLI to stderr."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "no_progress", "scaled"]

# fraction in [0, 1], then a short plain-language message ("Reading file", "Training model")
Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """The default callback: report nowhere."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A callback mapping [0, 1] onto [start, end] of ``progress``, for steps within a job."""

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report
