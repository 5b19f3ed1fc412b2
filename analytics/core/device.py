"""Where torch runs: device selection, bf16 autocast on CUDA, seeding, and a label for the UI.

Every torch training function in ``models/`` takes a ``torch.device`` picked here, wraps its
forward passes in ``autocast_context(device)`` and calls ``seed_everything(seed)`` first, so a run
is reproducible on one device and differs across devices only by floating-point noise.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from analytics.core.errors import SpecError

__all__ = ["autocast_context", "device_label", "seed_everything", "select_device"]

_CHOICES = ("auto", "cpu", "cuda")


def select_device(prefer: str = "auto") -> torch.device:
    """``cuda`` when asked for or when ``auto`` finds a GPU, else ``cpu``.

    ``prefer="cuda"`` without a GPU raises ``SpecError`` rather than silently falling back.
    """
    prefer = (prefer or "auto").lower()
    if prefer not in _CHOICES:
        raise SpecError(f"Unknown device '{prefer}': choose one of {', '.join(_CHOICES)}.")
    has_cuda = torch.cuda.is_available()
    if prefer == "cuda" and not has_cuda:
        raise SpecError("A GPU was requested but none is available here; use 'auto' or 'cpu'.")
    if prefer == "cpu" or not has_cuda:
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


@contextlib.contextmanager
def autocast_context(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op on CPU (CPU bf16 is slower than fp32 on most laptops)."""
    if device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); returns a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def device_label(device: torch.device) -> str:
    """A plain label for the UI: ``"CPU (2 threads)"`` or the GPU name (``"NVIDIA H200"``)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_name(index)
    threads = torch.get_num_threads() or os.cpu_count() or 1
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
