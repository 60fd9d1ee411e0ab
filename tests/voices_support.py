"""Helpers for the voice library tests (also the worker functions the process tests spawn:
this module imports only numpy and mimo_core.voices, so a spawned child starts fast)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mimo_core.voices import VoiceError, VoiceStore

TAG = "codec-test-v1"


def audio_bytes(seed: int, size: int = 1000) -> bytes:
    """Stand-in upload bytes (the store never decodes audio; it keeps bytes exactly)."""
    return b"RIFF" + np.random.default_rng(seed).bytes(size - 4)


def codes(seed: int, c: int = 20, t: int = 25) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1024, size=(c, t), dtype=np.int64)   # (C, T)


def add(lib, name: str, owner: str = "alice", *, seed: int = 0, **kw):
    args = dict(owner=owner, audio=audio_bytes(seed), filename="clip.wav", codes=codes(seed),
                codes_tag=TAG, duration_s=1.0, sample_rate=24000, consent=True)
    args.update(kw)
    return lib.add(name, **args)


def _wait(start_at: float) -> None:
    while time.time() < start_at:          # every worker starts its writes at the same moment
        time.sleep(0.001)


def add_many(root: str, owner: str, count: int, start_at: float, limit: int = 100,
             prefix: str = "") -> list[str]:
    """Add ``count`` voices ``<prefix or owner>-<i>``; return the one-line errors met (if any)."""
    store = VoiceStore(Path(root), max_voices_per_owner=limit)
    _wait(start_at)
    errors = []
    for i in range(count):
        try:
            add(store, f"{prefix or owner}-{i}", owner, seed=i)
        except VoiceError as e:
            errors.append(f"{type(e).__name__}: {e}")
    store.close()
    return errors


def add_one(root: str, name: str, owner: str, seed: int, start_at: float) -> str:
    """Add one voice; return "ok" or the error's class name."""
    store = VoiceStore(Path(root))
    _wait(start_at)
    try:
        add(store, name, owner, seed=seed)
        return "ok"
    except VoiceError as e:
        return type(e).__name__
    finally:
        store.close()
