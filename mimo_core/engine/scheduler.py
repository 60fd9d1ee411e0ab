"""Continuous batching: one worker thread owns the model; callers submit from any thread.

``submit(req)`` validates the request in the caller's thread (so a bad request raises
there) and returns a :class:`RequestHandle`. The worker turns the shared
:class:`~.loop.StepLoop`: it admits waiting requests into free rows (prefill), advances every
active row by one group per step, routes each group to its handle, and refills a row as soon
as its request finishes or is cancelled.

A handle is iterated like :class:`~.engine.GenerationStream` (the
:class:`~.protocols.Handle` protocol): GroupEvents, then the GenerationResult as the last item
(:func:`mimo_core.streams.drain` returns it). ``cancel()`` -- or setting the request's own ``cancel``
event -- frees the request's row at the next step (or drops it from the queue if it has not
started).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .loop import StepLoop
from .types import GenerationRequest, GenerationResult, GroupEvent, RequestState

if TYPE_CHECKING:
    from .engine import Engine


class RequestHandle:
    def __init__(self, scheduler: "BatchScheduler", state: RequestState):
        self._scheduler, self.state = scheduler, state
        self._items: queue.Queue = queue.Queue()
        self.result: GenerationResult | None = None

    def cancel(self) -> None:
        """Set the request's cancel signal (its own, or the one made for it) and wake the worker."""
        self.state.cancel.set()
        self._scheduler._wake()

    def __iter__(self) -> Iterator[GroupEvent | GenerationResult]:
        while True:
            item = self._items.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, GenerationResult):
                return

    # worker side
    def _push(self, item: GroupEvent | GenerationResult | BaseException) -> None:
        if isinstance(item, GenerationResult):
            self.result = item
        self._items.put(item)


class BatchScheduler:
    """The :class:`~.protocols.Scheduler` with a worker thread (see module docstring)."""

    def __init__(self, engine: "Engine", max_batch: int):
        self.engine = engine
        self._work = StepLoop(engine.new_decoder(max_batch), contain_errors=True)
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mimo-engine-worker", daemon=True)
        self._thread.start()

    # ---- caller side -------------------------------------------------------------------
    def submit(self, req: GenerationRequest) -> RequestHandle:
        self.engine.validate(req)
        handle = RequestHandle(self, RequestState.start(req))
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            self._work.submit(handle.state, handle._push)
            self._cond.notify()
        return handle

    @property
    def active_count(self) -> int:
        return self._work.active_count

    @property
    def waiting_count(self) -> int:
        return len(self._work.waiting)

    @property
    def capacity(self) -> int:
        return self._work.decoder.capacity

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker; requests still running or waiting end as cancelled."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    # ---- worker ----------------------------------------------------------------------------
    def _run(self) -> None:
        loop = self._work
        while True:
            with self._cond:
                while not self._closed and not loop.busy():
                    self._cond.wait()
                if self._closed:
                    break
            loop.turn()
        with self._cond:   # no submit can slip in between: it checks _closed under the lock
            loop.cancel_all()
