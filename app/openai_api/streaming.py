"""Server-sent events, and running the model's blocking stream from async routes.

:func:`model_events` pulls the backend's ``stream()`` events in worker threads; when the
client goes away (or the stream ends) it sets the request's cancel event, which frees the
engine slot at the next step, and releases the in-flight slot. The events already carry the
reasoning and the answer apart, without markup (``thinking_delta``, ``answer_delta``: split
once by the model's output reader), which is what the routes send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

from starlette.concurrency import iterate_in_threadpool

from .admission import Slot
from .errors import as_api_error

DONE = "data: [DONE]\n\n"


def sse(data: Any, event: Optional[str] = None) -> str:
    """One SSE message: an optional ``event:`` line and a JSON ``data:`` line."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def sse_error(exc: BaseException) -> str:
    """An error after the stream began (status already sent): OpenAI's error body as data."""
    return sse(as_api_error(exc).body(), event="error")


async def model_events(events: Iterator, cancel: threading.Event, slot: Slot) -> AsyncIterator:
    """The backend's stream events, pulled off the event loop; cancel + release when done."""
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        cancel.set()
        slot.release()
