"""Crash-safe file writes: temp file, fsync, rename; a full disk becomes ``DiskFull``."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from analytics.core.errors import DiskFull

__all__ = ["atomic_write", "disk_full_as_error", "fsync_dir"]

_FULL = (errno.ENOSPC, errno.EDQUOT)


def _is_disk_full(err: BaseException) -> bool:
    """True for ENOSPC/EDQUOT, also when a library wrapped the OSError in its own error."""
    if isinstance(err, OSError) and err.errno in _FULL:
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)


@contextlib.contextmanager
def disk_full_as_error() -> Iterator[None]:
    """Turn a full disk inside the block into ``DiskFull`` with a message a marketer can act on."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as err:
        if _is_disk_full(err):
            raise DiskFull(
                "The disk is full, so nothing was saved: the previous version is kept and the "
                "partial files were removed. Free some space and try again."
            ) from err
        raise


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(file_obj)`` on a temp file beside ``path``, fsync it, rename it into place.

    On any failure the temp file is removed; a full disk raises ``DiskFull``.
    """
    with disk_full_as_error():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def fsync_dir(folder: Path) -> None:
    """Make the names in ``folder`` (renames, new files) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
