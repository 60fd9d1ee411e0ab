"""Server-sent events, and running the model's blocking stream from async routes.

:func:`model_events` pulls the backend's ``stream()`` events in worker threads; when the
client goes away (or the stream ends) it sets the request's cancel event, which frees the
engine slot at the next step, and releases the in-flight slot.
:class:`ThinkSplitter` separates a thinking model's reasoning from its answer as text
streams, on the ``</think>`` marker, even when the marker arrives split across deltas.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

from starlette.concurrency import iterate_in_threadpool

from mimo_core.thinking import SPEECH_OPEN, THINK_CLOSE, THINK_OPEN

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


class ThinkSplitter:
    """Text deltas -> (reasoning delta, content delta). Before ``</think>`` is seen the text is
    reasoning (a leading ``<think>`` dropped); after it, content. A tail that could be the
    start of a marker is held back until the next delta tells. As in
    :func:`mimo_core.thinking.split_thinking`, each part is stripped (leading whitespace
    dropped, trailing whitespace held until more text follows) and the speech marker
    ``<|sostm|>`` (one token, so never split) is removed from the content."""

    def __init__(self, enabled: bool):
        self.in_thinking = enabled
        self._held = ""                          # undecided text (a marker may be starting)
        self._space = {"reasoning": "", "content": ""}    # trailing whitespace held back
        self._opening = enabled                  # a "<think>" may still open the text
        self._started = {"reasoning": False, "content": False}

    def push(self, delta: str) -> tuple[str, str]:
        if not self.in_thinking:
            return "", self._emit("content", delta)
        text = self._held + delta
        self._held = ""
        if self._opening:
            stripped = text.lstrip()
            if len(stripped) < len(THINK_OPEN) and THINK_OPEN.startswith(stripped):
                self._held = text                       # maybe the opening tag, still arriving
                return "", ""
            self._opening = False
            if stripped.startswith(THINK_OPEN):
                text = stripped[len(THINK_OPEN):]
        end = text.find(THINK_CLOSE)
        if end >= 0:
            self.in_thinking = False
            return (self._emit("reasoning", text[:end]),
                    self._emit("content", text[end + len(THINK_CLOSE):]))
        keep = _marker_prefix_len(text, THINK_CLOSE)
        self._held = text[len(text) - keep:] if keep else ""
        return self._emit("reasoning", text[:len(text) - keep]), ""

    def finish(self) -> tuple[str, str]:
        """End of text: held text is reasoning when the marker never came; trailing
        whitespace is dropped."""
        held, self._held = self._held, ""
        if self.in_thinking:
            return self._emit("reasoning", held.rstrip()), ""
        return "", ""

    def _emit(self, part: str, text: str) -> str:
        if part == "content":
            text = text.replace(SPEECH_OPEN, "")
        text = self._space[part] + text
        if not self._started[part]:
            text = text.lstrip()
            self._started[part] = bool(text)
        body = text.rstrip()
        self._space[part] = text[len(body):]
        return body


def _marker_prefix_len(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0
