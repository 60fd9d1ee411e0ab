"""The engine's seams, declared: what a decoder, a scheduler and a request handle provide.

* :class:`Decoder` -- rows of requests advanced one group per :meth:`~Decoder.step`; what
  :class:`~.loop.StepLoop` drives. Implementations: :class:`~.batch.BatchDecoder` (the fast
  path, ``capacity`` rows) and :class:`~.eager.EagerDecoder` (the reference-like path, one row).
* :class:`Handle` -- one submitted request: iterated, it yields a GroupEvent per group and
  then the GenerationResult, last; ``cancel()`` from any thread ends it at the next step.
  Implementations: :class:`~.scheduler.RequestHandle`, :class:`~.engine.GenerationStream`,
  and the lifecycle's inline and turn handles (:mod:`mimo_core.runtime.schedulers`).
  :func:`mimo_core.streams.drain` runs one to its end.
* :class:`Scheduler` -- takes requests from any thread and serves them. Implementations:
  :class:`~.scheduler.BatchScheduler` (a worker thread, continuous batching) and, in
  :mod:`mimo_core.runtime.schedulers`, ``InlineScheduler`` (no worker) and ``TurnScheduler``
  (Base / Instruct taking turns in front of another scheduler).

Structural types (``typing.Protocol``): an implementation does not inherit from them; the
tests check that each one provides every member.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .types import GenerationRequest, GenerationResult, GroupEvent, RequestState, StepOutput, StopReason


class Decoder(Protocol):
    capacity: int                       # rows it holds at once

    def active(self) -> list[RequestState]:
        """The requests holding a row, in row order."""
        ...

    def add(self, state: RequestState) -> None:
        """Prefill ``state`` into a free row."""
        ...

    def remove(self, state: RequestState, reason: StopReason = StopReason.CANCELLED,
               stop_token: int | None = None) -> GenerationResult:
        """Free ``state``'s row; its result."""
        ...

    def step(self) -> list[StepOutput]:
        """One group for every row: (state, its GroupEvent, its result when it ended)."""
        ...


class Handle(Protocol):
    result: GenerationResult | None     # None until the request has ended

    def __iter__(self) -> Iterator[GroupEvent | GenerationResult]:
        """GroupEvents as they are generated, then the GenerationResult as the last item."""
        ...

    def cancel(self) -> None:
        """End the request after its current group (from any thread)."""
        ...


class Scheduler(Protocol):
    def submit(self, req: GenerationRequest) -> Handle:
        """Validate ``req`` (raising here, in the caller's thread) and queue it."""
        ...

    @property
    def active_count(self) -> int:
        """Requests generating now."""
        ...

    @property
    def waiting_count(self) -> int:
        """Requests queued for a row."""
        ...

    def close(self) -> None:
        """Stop serving; requests still running end as cancelled."""
        ...
