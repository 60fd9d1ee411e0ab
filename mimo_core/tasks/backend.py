"""``Backend``: what runs tasks for a caller -- the ``MimoAudio`` API, declared once.

The web handlers, the /v1 API, voice chat and the CLI talk to a Backend, never to a model.
Implementations:

* :class:`mimo_core.tasks.MimoAudio` -- the local facade (the weights in this process);
* :class:`mimo_core.remote.backend.RemoteBackend` -- remote MiMo-Audio engines over HTTP;
* :class:`app.backend.ZeroGpuBackend` -- the facade with each call inside ``spaces.GPU``;
* the test fakes (``tests/browser/fake_backend.py``).

It is a structural type (``typing.Protocol``): implementations do not inherit from it, and
``tests/test_protocols.py`` checks that each one has every member with the same signature.
Torch-free, like the request and result types it names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Optional, Protocol

from ..streams import drain
from .limits import Limits
from .types import StreamEvent, TaskRequest, TaskResult

Progress = Callable[[int, int], None]                  # (groups done, max groups), after every group
EventStream = Generator[StreamEvent, None, None]       # closing it stops the request


class Backend(Protocol):
    limits: Limits              # what the backend accepts (callers only convert their inputs)
    batching: bool              # concurrent requests of different callers are batched together

    def run(self, request: TaskRequest, cancel: Optional[threading.Event] = None,
            progress: Optional[Progress] = None) -> TaskResult:
        """The task to its end (:func:`final_result` of its events, or the like)."""
        ...

    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> EventStream:
        """Text deltas and audio chunks as they are generated; the last event carries the
        TaskResult. Bad input raises here, before anything runs. A set ``cancel`` or closing
        the stream stops the request (its final event then says "cancelled", or there is none)."""
        ...

    def status(self) -> dict:
        """What is configured and loaded, where, and the memory (a nested dict, for display)."""
        ...

    def load(self, role: str) -> None:
        """Load "instruct", "base" or "tokenizer" now (or say why it cannot)."""
        ...

    def unload(self, role: str) -> None:
        ...

    def close(self) -> None:
        """Release what the backend holds (workers, models, connections)."""
        ...


def final_result(events: EventStream) -> TaskResult:
    """Run ``events`` to its end and return the TaskResult its last event carries."""
    result = drain(events).result
    if result is None:
        raise RuntimeError("the stream ended without a result")
    return result
