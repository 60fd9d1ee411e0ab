"""Several remote engines behind one client: each call goes to the healthy server with the
fewest calls in flight; a server that fails (cannot connect, 5xx, busy) is taken out for
``down_s`` seconds and the call is retried on another one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from ..errors import MimoError

DEFAULT_DOWN_S = 30.0
PROTOCOLS = ("mimo", "vllm-omni")      # what an engine may speak: our API, or vLLM-Omni's chat endpoint


class RemoteError(MimoError):
    """A remote engine could not be reached or failed."""


@dataclass
class Engine:
    url: str                                   # base URL, without /v1
    in_flight: int = 0
    down_until: float = 0.0
    last_error: Optional[str] = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def parse_urls(value: str) -> list[str]:
    """``"http://a:8000,http://b:8000/v1"`` -> base URLs without a trailing /v1 or slash."""
    urls = []
    for part in value.split(","):
        url = part.strip().rstrip("/")
        if url.endswith("/v1"):
            url = url[:-len("/v1")]
        if url:
            if not url.startswith(("http://", "https://")):
                raise RemoteError(f"--engine-url {part.strip()!r} must start with http:// or https://")
            urls.append(url)
    if not urls:
        raise RemoteError("--engine-url needs at least one URL")
    return urls


class EnginePool:
    def __init__(self, urls: list[str], down_s: float = DEFAULT_DOWN_S):
        self.engines = [Engine(u) for u in urls]
        self.down_s = down_s
        self._lock = threading.Lock()

    def acquire(self, exclude: set[str]) -> Engine:
        """The up engine (not in ``exclude``) with the fewest calls in flight; when every one is
        down, the one that comes back soonest (better a retry than no answer)."""
        with self._lock:
            now = time.monotonic()
            candidates = [e for e in self.engines if e.url not in exclude]
            if not candidates:
                raise RemoteError("no remote engine could serve the request: "
                                  + "; ".join(f"{e.url}: {e.last_error}" for e in self.engines))
            up = [e for e in candidates if e.down_until <= now]
            engine = (min(up, key=lambda e: e.in_flight) if up
                      else min(candidates, key=lambda e: e.down_until))
            engine.in_flight += 1
            return engine

    def release(self, engine: Engine, error: Optional[str] = None) -> None:
        with self._lock:
            engine.in_flight -= 1
            if error is not None:
                engine.last_error = error
                engine.down_until = time.monotonic() + self.down_s
            else:
                engine.down_until, engine.last_error = 0.0, None

    def status(self) -> list[dict]:
        now = time.monotonic()
        return [{"url": e.url, "in_flight": e.in_flight, "up": e.down_until <= now,
                 "last_error": e.last_error} for e in self.engines]
