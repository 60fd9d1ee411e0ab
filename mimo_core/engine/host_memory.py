"""Keep freed host memory for reuse, so that a CPU decode step does not page-fault.

A CPU step allocates and frees many tensors of a few MB (the 151,680-wide text rows of
sampling: 0.6 MB a row in float32; the activations of a batch). glibc's malloc serves such
sizes with fresh ``mmap`` regions, or returns the freed top of its heap to the kernel, so the
next step's tensors land on new pages and every 4 KB page costs a fault (~2 us here) when it is
first written. Measured on the bench's tiny config at batch 8: ~110,000 faults per 192 groups,
~0.2 s of a ~1 s run; with this setting, ~100-300.

:func:`keep_freed_memory` sets two glibc knobs once for the process: allocations under 32 MB
(glibc's ceiling for the setting) come from the heap, and up to 256 MB of freed heap stay
mapped for reuse. The CPU engine calls it; it is process-wide and does nothing off glibc
(macOS, musl) or with ``MIMO_MALLOC_TUNING=0`` in the environment.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's mallopt parameter numbers
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
ENV = "MIMO_MALLOC_TUNING"

_state: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the setting (once per process); returns whether it is in effect."""
    global _state
    if _state is None:
        _state = _apply()
    return _state


def _apply() -> bool:
    if os.environ.get(ENV, "1") == "0" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the trim threshold goes first (then setting the mmap
    # threshold cannot lower it dynamically)
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
