"""One writer per dataset: a non-blocking ``flock`` that says who holds it and since when.

A second writer is refused at once with ``WorkspaceBusy("busy: segment on demo since ...")``
instead of waiting; readers never take it. The lock file lives outside the dataset folder so
deleting a dataset cannot pull it from under a holder, and the kernel drops it when the holder
dies (``kill -9`` included), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from analytics.core.errors import WorkspaceBusy

__all__ = ["dataset_lock"]


def _holder(path: Path) -> str:
    """``<operation> on <dataset> since <time>`` as written by the holder (best effort)."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    op = info.get("operation", "another operation")
    since = info.get("since", "a moment ago")
    return f"{op} on {info.get('dataset', path.stem)} since {since}"


@contextlib.contextmanager
def dataset_lock(lock_dir: Path, dataset: str, operation: str) -> Iterator[None]:
    """Hold the writer lock of ``dataset``; ``WorkspaceBusy`` at once if someone else has it."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{dataset}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusy(f"busy: {_holder(path)}. Try again when it has finished.") from None
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        info = json.dumps({"operation": operation, "dataset": dataset, "since": since})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
