"""A stopwatch for the timings every service reports (wall and CPU seconds)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Stopwatch"]


@dataclass
class Stopwatch:
    """Started on creation; ``seconds`` and ``cpu_seconds`` read the time since, ``lap`` too."""

    _wall: float = field(default_factory=time.perf_counter)
    _cpu: float = field(default_factory=time.process_time)
    _lap: float = field(init=False)

    def __post_init__(self) -> None:
        self._lap = self._wall

    @property
    def seconds(self) -> float:
        """Wall-clock seconds since the start."""
        return time.perf_counter() - self._wall

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of this process (all threads) since the start."""
        return time.process_time() - self._cpu

    def lap(self) -> float:
        """Wall-clock seconds since the previous lap (or the start)."""
        now = time.perf_counter()
        seconds, self._lap = now - self._lap, now
        return seconds
