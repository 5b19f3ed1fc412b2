"""Every dependency is pinned, and the lock file CI installs from agrees with the requirements."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def pins(name: str) -> dict[str, str]:
    """``package -> version`` of a requirements file; fails on a line that is not pinned."""
    found = {}
    for raw in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = _LINE.match(line)
        assert match, f"{name}: '{line}' is not pinned with =="
        found[match[1].lower().replace("_", "-")] = match[2]
    return found


def test_every_requirement_is_pinned_and_locked_at_that_version() -> None:
    lock = pins("requirements.lock")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for package, version in pins(name).items():
            assert lock.get(package) == version, f"{package}=={version} ({name}) vs lock"


def test_the_lock_holds_the_cpu_torch_wheel() -> None:
    assert pins("requirements.lock")["torch"] == "2.13.0"
