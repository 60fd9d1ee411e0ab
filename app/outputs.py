"""Bounded output folders: the app's audio files and gradio's upload/output cache.

A public app writes a file for every result and gradio keeps a copy of every upload and output,
so the folders grow until the disk is full. :class:`OutputCleaner` sweeps them periodically:
files older than a maximum age go, then the oldest ones while the folders hold more than a
total size. A file a live session still offers for download is never removed: handlers mark
every output they hand out (:data:`OFFERED`, touched by app/inputs.py ``write_wav``), and a file
marked within the maximum age is live.

Pure logic, no gradio: app/launch.py passes the folders and the files gradio must keep (its
cached example clips); tests pass a fake clock and set file times with ``os.utime``.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

log = logging.getLogger(__name__)

__all__ = ["PART_SUFFIX", "DEFAULT_MAX_AGE_MIN", "DEFAULT_MAX_MB", "OutputBounds", "OfferedFiles",
           "OFFERED", "SweepReport", "sweep", "OutputCleaner"]

PART_SUFFIX = ".part"           # a file being written under a temporary name
DEFAULT_MAX_AGE_MIN = 60.0
DEFAULT_MAX_MB = 2000.0
SWEEP_EVERY_S = 60.0
WRITE_GRACE_S = 60.0            # younger files may be mid-write or mid-hand-off: size rule spares
_MB = 1024 * 1024


@dataclass(frozen=True)
class OutputBounds:
    """How long a file may stay unoffered (also how long an offered one stays live) and the
    total size of the swept folders (None: no size bound)."""
    max_age_s: float
    max_bytes: Optional[int] = None

    def __post_init__(self) -> None:
        if not self.max_age_s > 0:
            raise ValueError(f"the output max age must be more than 0 s, got {self.max_age_s}")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ValueError(f"the output size bound must be >= 0 bytes, got {self.max_bytes}")

    @classmethod
    def from_flags(cls, max_age_min: float, max_mb: float) -> "OutputBounds":
        """``--output-max-age-min`` / ``--output-max-mb`` (0 MB: no size bound)."""
        max_bytes = int(max_mb * _MB) if max_mb > 0 else None
        return cls(max_age_s=max_age_min * 60.0, max_bytes=max_bytes)


class OfferedFiles:
    """Files handed to sessions, by name, with the last time each was handed out.

    Keyed by file name: outputs are content-named, and gradio's cached copy of an output keeps
    the name, so both the original and gradio's copy are covered by one touch.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}

    def now(self) -> float:
        return self._clock()

    def touch(self, path: str | Path) -> None:
        with self._lock:
            self._touched[Path(path).name] = self._clock()

    def is_live(self, path: str | Path, max_age_s: float) -> bool:
        with self._lock:
            return self._live(Path(path).name, max_age_s)

    def _live(self, name: str, max_age_s: float) -> bool:
        touched = self._touched.get(name)
        return touched is not None and self._clock() - touched <= max_age_s

    def unlink_unless_live(self, path: Path, max_age_s: float) -> bool:
        """Remove ``path`` unless it is live; checked and removed under the lock, so a handler
        touching it at that moment either keeps it or finds it gone (and writes it again)."""
        with self._lock:
            if self._live(path.name, max_age_s):
                return False
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            return True

    def forget_older_than(self, max_age_s: float) -> None:
        with self._lock:
            now = self._clock()
            self._touched = {k: t for k, t in self._touched.items() if now - t <= max_age_s}


OFFERED = OfferedFiles()        # the app's registry (one per process)


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    mtime: float


@dataclass
class SweepReport:
    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0
    kept_bytes: int = 0          # what the folders still hold


def _scan(folders: Iterable[Path]) -> list[_Entry]:
    """Every regular file under the folders (each once, even when one folder holds another)."""
    seen: dict[str, _Entry] = {}
    for folder in folders:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(root, name)
                try:
                    st = path.lstat()
                except FileNotFoundError:            # removed meanwhile
                    continue
                key = os.path.realpath(path)
                if key not in seen and stat.S_ISREG(st.st_mode):       # no links, no sockets
                    seen[key] = _Entry(path, st.st_size, st.st_mtime)
    return list(seen.values())


def _prune_empty_dirs(folder: Path, older_than: float, roots: set[Path]) -> None:
    """Remove empty subfolders of ``folder`` unchanged since ``older_than`` (never a root)."""
    for root, _dirs, _names in os.walk(folder, topdown=False):
        path = Path(root)
        if path in roots:
            continue
        try:
            if path.stat().st_mtime < older_than and not any(path.iterdir()):
                path.rmdir()
        except OSError:                              # not empty any more, or gone
            continue


def sweep(folders: Iterable[str | Path], bounds: OutputBounds, offered: OfferedFiles, *,
          keep: Iterable[str | Path] = ()) -> SweepReport:
    """One pass: remove unoffered files older than the age bound, then the oldest unoffered
    files while the folders exceed the size bound. ``keep``: files never removed. Ages are
    read on ``offered``'s clock (wall-clock time, as file times are)."""
    now = offered.now()
    roots = [Path(f) for f in folders if Path(f).is_dir()]
    kept = {os.path.realpath(p) for p in keep}          # a few paths: computed per sweep
    report = SweepReport()

    def remove(entry: _Entry) -> bool:
        if os.path.realpath(entry.path) in kept:
            return False
        if offered.unlink_unless_live(entry.path, bounds.max_age_s):
            report.removed.append(entry.path)
            report.freed_bytes += entry.size
            return True
        return False

    remaining = []
    for entry in _scan(roots):
        if not (now - entry.mtime > bounds.max_age_s and remove(entry)):
            remaining.append(entry)
    total = sum(e.size for e in remaining)
    if bounds.max_bytes is not None and total > bounds.max_bytes:
        for entry in sorted(remaining, key=lambda e: e.mtime):          # oldest first
            if total <= bounds.max_bytes:
                break
            if now - entry.mtime >= WRITE_GRACE_S and remove(entry):
                total -= entry.size
        if total > bounds.max_bytes:
            log.warning("output folders hold %.0f MB of files still offered or just written "
                        "(bound: %.0f MB)", total / _MB, bounds.max_bytes / _MB)
    report.kept_bytes = total
    for root in roots:
        _prune_empty_dirs(root, now - WRITE_GRACE_S, set(roots))
    offered.forget_older_than(bounds.max_age_s)
    return report


class OutputCleaner:
    """Sweeps the folders every ``every_s`` seconds on a daemon thread; ``keep``: files never
    removed."""

    def __init__(self, folders: Iterable[str | Path], bounds: OutputBounds, *,
                 offered: OfferedFiles = OFFERED, keep: Iterable[str | Path] = (),
                 every_s: float = SWEEP_EVERY_S):
        self.folders = [Path(f) for f in folders]
        self.keep = frozenset(str(p) for p in keep)
        self.bounds, self.offered, self.every_s = bounds, offered, every_s
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def sweep(self) -> SweepReport:
        report = sweep(self.folders, self.bounds, self.offered, keep=self.keep)
        if report.removed:
            log.info("output cleaner: removed %d files (%.1f MB); %.1f MB kept",
                     len(report.removed), report.freed_bytes / _MB, report.kept_bytes / _MB)
        return report

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a failed sweep must not end the cleaner
                log.exception("output cleaner: sweep failed")

    def start(self) -> "OutputCleaner":
        self._thread = threading.Thread(target=self._loop, name="mimo-output-cleaner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
