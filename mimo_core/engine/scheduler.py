"""Continuous batching: one worker thread owns the model; callers submit from any thread.

``submit(req)`` validates the request in the caller's thread (so a bad request raises
there) and returns a :class:`RequestHandle`. The worker admits waiting requests into free
rows (prefill), advances every active row by one group per step, routes each group to its
handle, and refills a row as soon as its request finishes or is cancelled.

A handle is iterated like :class:`~.engine.GenerationStream`: GroupEvents, then the
GenerationResult as the last item. ``cancel()`` frees the request's row at the next step
(or drops it from the queue if it has not started).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator

from .types import GenerationRequest, GenerationResult, GroupEvent, RequestState, StopReason



class RequestHandle:
    def __init__(self, scheduler: "BatchScheduler", state: RequestState):
        self._scheduler, self.state = scheduler, state
        self._items: queue.Queue = queue.Queue()
        self.cancel_requested = False
        self.result: GenerationResult | None = None

    def cancel(self) -> None:
        self.cancel_requested = True
        self._scheduler._wake()

    def __iter__(self) -> Iterator[GroupEvent | GenerationResult]:
        while True:
            item = self._items.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, GenerationResult):
                return

    def wait(self) -> GenerationResult:
        """Consume the events and return the result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result

    # worker side
    def _push(self, item) -> None:
        if isinstance(item, GenerationResult):
            self.result = item
        self._items.put(item)


class BatchScheduler:
    def __init__(self, engine, max_batch: int):
        self.engine = engine
        self._decoder = engine.new_decoder(max_batch)
        self._waiting: deque[RequestHandle] = deque()
        self._handles: dict[int, RequestHandle] = {}        # id(state) -> handle, active rows
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="mimo-engine-worker", daemon=True)
        self._thread.start()

    # ---- caller side -------------------------------------------------------------------
    def submit(self, req: GenerationRequest) -> RequestHandle:
        self.engine.validate(req)
        handle = RequestHandle(self, RequestState.start(req))
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            self._waiting.append(handle)
            self._cond.notify()
        return handle

    @property
    def active_count(self) -> int:
        return len(self._handles)

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)

    @property
    def capacity(self) -> int:
        return self._decoder.capacity

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
    def _admit(self) -> None:
        decoder = self._decoder
        while len(decoder.active()) < decoder.capacity:
            with self._cond:
                if not self._waiting:
                    return
                handle = self._waiting.popleft()
            if handle.cancel_requested:
                handle._push(handle.state.result(StopReason.CANCELLED))
                continue
            try:
                decoder.add(handle.state)
            except Exception as exc:  # noqa: BLE001 - hand the failure to its caller
                handle._push(exc)
                continue
            self._handles[id(handle.state)] = handle

    def _drop_cancelled(self) -> None:
        for state in self._decoder.active():
            handle = self._handles[id(state)]
            if handle.cancel_requested:
                del self._handles[id(state)]
                handle._push(self._decoder.remove(state, StopReason.CANCELLED))

    def _loop(self) -> None:
        decoder = self._decoder
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not self._handles:
                    self._cond.wait()
                if self._closed:
                    break
            try:
                self._drop_cancelled()
                self._admit()
                for state, event, result in decoder.step():
                    handle = self._handles[id(state)]
                    handle._push(event)
                    if result is not None:
                        del self._handles[id(state)]
                        handle._push(result)
            except Exception as exc:  # noqa: BLE001 - fail every running request, keep serving
                for state in decoder.active():
                    decoder.remove(state)
                    self._handles.pop(id(state))._push(exc)
        for state in decoder.active():
            self._handles.pop(id(state))._push(decoder.remove(state, StopReason.CANCELLED))
        for handle in self._waiting:
            handle._push(handle.state.result(StopReason.CANCELLED))
