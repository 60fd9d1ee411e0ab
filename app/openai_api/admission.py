"""What a request must pass before the model sees it: the server is ready (503 while the
model loads), a free in-flight slot (429 when full), and a body under the byte cap (413).

The UI's gradio queue bounds only UI events, so the API keeps its own count; the model's
batching worker is shared, so API and UI requests are batched together behind it.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from starlette.requests import Request

from .errors import ApiError

RETRY_AFTER_S = 5
BYTES_PER_MB = 1024 * 1024
# default byte cap: the longest allowed audio as 48 kHz stereo 16-bit WAV, base64-encoded, + 1 MB
_CAP_RATE, _CAP_CHANNELS, _CAP_BYTES_PER_SAMPLE, _BASE64_GROWTH = 48_000, 2, 2, 4 / 3


def default_upload_cap(max_audio_seconds: float) -> int:
    raw = max_audio_seconds * _CAP_RATE * _CAP_CHANNELS * _CAP_BYTES_PER_SAMPLE
    return int(raw * _BASE64_GROWTH) + BYTES_PER_MB


class InFlight:
    """A bounded count of requests being served; a slot is released exactly once."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def acquire(self) -> "Slot":
        with self._lock:
            if self._count >= self.limit:
                raise ApiError(429, f"the server is busy: {self.limit} requests are already in "
                               "flight; retry shortly", code="queue_full",
                               headers={"Retry-After": str(RETRY_AFTER_S)})
            self._count += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._count -= 1


class Slot:
    def __init__(self, owner: InFlight):
        self._owner: Optional[InFlight] = owner

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._release()


class ReadyGate:
    """Ready at once, or after ``loader`` (run in a background thread by :meth:`start`)
    returns; while it runs, requests get 503; if it fails, its one-line error stays the 503."""

    def __init__(self, loader: Optional[Callable[[], None]] = None):
        self._loader = loader
        self._ready = threading.Event()
        self.error: Optional[str] = None
        if loader is None:
            self._ready.set()

    def start(self) -> "ReadyGate":
        if self._loader is not None:
            threading.Thread(target=self._load, daemon=True, name="mimo-api-preload").start()
        return self

    def _load(self) -> None:
        try:
            self._loader()
        except Exception as exc:  # noqa: BLE001 - reported to every request as a 503
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return
        self._ready.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._ready.wait(timeout)

    def check(self) -> None:
        if self.error is not None:
            raise ApiError(503, f"the model failed to load: {self.error}", code="model_unavailable")
        if not self._ready.is_set():
            raise ApiError(503, "the model is loading; retry shortly", code="model_loading",
                           headers={"Retry-After": str(RETRY_AFTER_S)})


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, refusing (413) as soon as it exceeds ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _too_large(int(declared), cap)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(size, cap)
        chunks.append(chunk)
    return b"".join(chunks)


def replay(request: Request, body: bytes) -> Request:
    """A request over the same scope whose body is ``body`` (to parse a form already read)."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def _too_large(size: int, cap: int) -> ApiError:
    return ApiError(413, f"the request body is {size / BYTES_PER_MB:.1f} MB or more; the limit is "
                    f"{cap / BYTES_PER_MB:.1f} MB", code="request_too_large")
