"""The one admit / step / remove loop every way of running requests goes through.

:class:`StepLoop` owns a decoder (fast or eager) and the requests waiting for a row. One
:meth:`StepLoop.turn` ends the active requests whose cancel signal is set, admits waiting
requests into free rows (a request already cancelled while waiting ends without a prefill),
advances every active row by one group, and hands each item to the request's sink: a
:class:`GroupEvent` per group, then its :class:`GenerationResult` last. ``Engine.stream``
runs one request through it, ``Engine.generate_batch`` many, and the scheduler's worker runs
it for concurrent callers; they differ only in their sinks and in ``contain_errors``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .protocols import Decoder
from .types import GenerationResult, GroupEvent, RequestState, StopReason

# receives a request's GroupEvents, then its GenerationResult (or the exception that ended it)
Sink = Callable[[GroupEvent | GenerationResult | BaseException], None]


class StepLoop:
    def __init__(self, decoder: Decoder, *, contain_errors: bool = False):
        """``contain_errors``: a failing prefill goes to that request's sink and a failing step
        to every active request's sink (the loop keeps serving); otherwise failures raise to the
        caller of :meth:`turn`, who calls :meth:`abandon`."""
        self.decoder, self.contain_errors = decoder, contain_errors
        self.waiting: deque[tuple[RequestState, Sink]] = deque()   # appended from any thread
        self._sinks: dict[int, Sink] = {}                          # id(state) -> sink, active rows

    def submit(self, state: RequestState, sink: Sink) -> None:
        self.waiting.append((state, sink))

    @property
    def active_count(self) -> int:
        return len(self._sinks)

    def busy(self) -> bool:
        return bool(self.waiting or self._sinks)

    def turn(self) -> None:
        """Drop cancelled rows, fill free rows, generate one group for every row."""
        decoder = self.decoder
        for state in decoder.active():
            if state.cancelled:
                self._sinks.pop(id(state))(decoder.remove(state, StopReason.CANCELLED))
        while self.waiting and len(decoder.active()) < decoder.capacity:
            state, sink = self.waiting.popleft()
            if state.cancelled:
                sink(state.result(StopReason.CANCELLED))
                continue
            try:
                decoder.add(state)
            except Exception as exc:
                if not self.contain_errors:
                    raise
                sink(exc)
                continue
            self._sinks[id(state)] = sink
        try:
            outputs = decoder.step()
        except Exception as exc:
            if not self.contain_errors:
                raise
            for state in decoder.active():
                decoder.remove(state)
                self._sinks.pop(id(state))(exc)
            return
        for state, event, result in outputs:
            sink = self._sinks[id(state)]
            sink(event)
            if result is not None:
                del self._sinks[id(state)]
                sink(result)

    def cancel_all(self) -> None:
        """End every active and waiting request as cancelled (their sinks get the results)."""
        for state in self.decoder.active():
            self._sinks.pop(id(state))(self.decoder.remove(state, StopReason.CANCELLED))
        while self.waiting:
            state, sink = self.waiting.popleft()
            sink(state.result(StopReason.CANCELLED))

    def abandon(self) -> None:
        """Free every row without telling the sinks (the caller stopped listening or failed)."""
        for state in self.decoder.active():
            self.decoder.remove(state)
        self._sinks.clear()
        self.waiting.clear()
