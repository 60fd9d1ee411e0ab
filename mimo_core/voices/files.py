"""Atomic file writes for the store: temp file in the same folder, fsync, rename, fsync folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

TMP_PREFIX = ".tmp-"


def write_atomic(directory: Path, filename: str, data: bytes) -> Path:
    """Write ``directory/filename`` so that it either holds all of ``data`` or does not exist.

    On any failure the temp file is removed and the error raised; a file already at
    ``filename`` is never half-overwritten (``os.replace`` is atomic on POSIX and Windows).
    """
    final = directory / filename
    tmp = directory / f"{TMP_PREFIX}{uuid.uuid4().hex}-{filename}"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(directory)
    return final


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return                                   # Windows: folders cannot be fsync'd
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> bool:
    """Remove ``path`` if it exists; True when something was removed."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError:
        return False
