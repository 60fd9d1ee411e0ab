"""Schedulers the lifecycle puts in front of an LM's engine.

* :class:`InlineScheduler`: no worker thread; a request runs in the thread that iterates its
  handle (ZeroGPU, where a call runs in a forked process that would not have the worker).
* :class:`TurnScheduler`: wraps another scheduler so that, when Base and Instruct take turns
  on one device, a request first gets its model onto the device (waiting for the other
  model's requests to end) and is counted until its handle ends.

Both are :class:`~mimo_core.engine.protocols.Scheduler` s and their handles
:class:`~mimo_core.engine.protocols.Handle` s: iterated, a handle yields GroupEvents and then
the GenerationResult; ``cancel()`` may come from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from ..engine import Engine, GenerationRequest, GenerationResult, GroupEvent
from ..engine.protocols import Handle, Scheduler


class InlineHandle:
    """A request that runs in the thread iterating it."""

    def __init__(self, scheduler: InlineScheduler, req: GenerationRequest):
        self._scheduler = scheduler
        self._stream = scheduler.engine.stream(req)     # validates here, in the caller's thread
        self.result: GenerationResult | None = None

    def cancel(self) -> None:
        self._stream.cancel()

    def __iter__(self) -> Iterator[GroupEvent | GenerationResult]:
        events = iter(self._stream)
        self._scheduler._count(+1)
        try:
            for item in events:
                yield item
            self.result = self._stream.result
        finally:
            events.close()                      # the consumer left early: free the engine
            self._scheduler._count(-1)


class InlineScheduler:
    """The scheduler interface without a worker thread: a request runs when its caller
    iterates the handle (concurrent callers wait on the engine's lock; nothing is batched)."""

    waiting_count = 0

    def __init__(self, engine: Engine):
        self.engine = engine
        self.active_count = 0
        self._lock = threading.Lock()

    def submit(self, req: GenerationRequest) -> InlineHandle:
        return InlineHandle(self, req)

    def _count(self, delta: int) -> None:
        with self._lock:
            self.active_count += delta

    def close(self) -> None:
        """Nothing to stop: there is no worker."""


class TurnScheduler:
    """``inner`` behind the swapper's turn-taking: ``enter()`` before a request is submitted
    (it may swap models, and a swap-in replaces ``inner``), ``leave()`` when its handle has
    ended."""

    def __init__(self, inner: Scheduler, enter: Callable[[], None], leave: Callable[[], None]):
        self.inner, self._enter, self._leave = inner, enter, leave

    def submit(self, req: GenerationRequest) -> TurnHandle:
        self._enter()
        try:
            handle = self.inner.submit(req)
        except BaseException:
            self._leave()
            raise
        return TurnHandle(handle, self._leave)

    @property
    def active_count(self) -> int:
        return self.inner.active_count

    @property
    def waiting_count(self) -> int:
        return self.inner.waiting_count

    def close(self) -> None:
        self.inner.close()


class TurnHandle:
    """``handle``, calling ``leave()`` once when it has ended (or its consumer left)."""

    def __init__(self, handle: Handle, leave: Callable[[], None]):
        self._handle, self._leave, self._left = handle, leave, False

    def cancel(self) -> None:
        self._handle.cancel()

    @property
    def result(self) -> GenerationResult | None:
        return self._handle.result

    def __iter__(self) -> Iterator[GroupEvent | GenerationResult]:
        try:
            yield from self._handle
        finally:
            if not self._left:
                self._left = True
                self._leave()
