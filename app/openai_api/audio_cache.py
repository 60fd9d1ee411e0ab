"""Audio of earlier chat replies, by id, so a later request's history can name it.

OpenAI clients send an assistant turn that spoke as ``{"role": "assistant", "audio": {"id"}}``;
the server must still have that audio. Entries live ``ttl_s`` seconds (the reply's
``expires_at``) and at most ``max_items`` are kept (oldest dropped first).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np

DEFAULT_TTL_S = 3600
DEFAULT_MAX_ITEMS = 64
ID_PREFIX = "audio_"


@dataclass(frozen=True)
class CachedAudio:
    audio: np.ndarray             # 24 kHz float32
    transcript: str
    expires_at: int               # unix seconds


class AudioCache:
    def __init__(self, ttl_s: int = DEFAULT_TTL_S, max_items: int = DEFAULT_MAX_ITEMS):
        self.ttl_s, self.max_items = ttl_s, max_items
        self._items: "OrderedDict[str, CachedAudio]" = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return ID_PREFIX + secrets.token_hex(12)

    def put(self, audio_id: str, audio: np.ndarray, transcript: str) -> CachedAudio:
        entry = CachedAudio(np.asarray(audio, dtype=np.float32), transcript, int(time.time()) + self.ttl_s)
        with self._lock:
            self._items[audio_id] = entry
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return entry

    def get(self, audio_id: str) -> Optional[CachedAudio]:
        with self._lock:
            entry = self._items.get(audio_id)
            if entry is not None and entry.expires_at < time.time():
                del self._items[audio_id]
                entry = None
        return entry
