"""Device selection, autocast and seeding."""

from __future__ import annotations

import pytest
import torch

from analytics.core.device import autocast_context, device_label, seed_everything, select_device
from analytics.core.errors import SpecError


def test_select_device_cpu_and_auto() -> None:
    assert select_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device().type == expected


def test_select_device_rejects_unknown_and_missing_gpu() -> None:
    with pytest.raises(SpecError, match="Unknown device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SpecError, match="GPU was requested"):
            select_device("cuda")


def test_autocast_is_noop_on_cpu() -> None:
    with autocast_context(torch.device("cpu")):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32
    assert out[0, 0].item() == 2.0


def test_seed_everything_reproduces_draws() -> None:
    seed_everything(3)
    a = torch.rand(4)
    seed_everything(3)
    b = torch.rand(4)
    assert torch.equal(a, b)


def test_device_label() -> None:
    label = device_label(torch.device("cpu"))
    assert label.startswith("CPU (") and "thread" in label
