"""The generation engine: token ids in, token ids out.

``Engine.generate(req)`` runs one request to its end; ``Engine.stream(req)`` returns a
:class:`GenerationStream`; ``Engine.generate_batch(reqs)`` runs many requests together,
refilling a finished row with the next waiting request; :class:`~.scheduler.BatchScheduler`
does the same from a worker thread for concurrent callers.

Streaming protocol: iterating a :class:`GenerationStream` (or a scheduler handle) yields a
:class:`GroupEvent` for every generated group as soon as it exists and then, as the very
last item, the :class:`GenerationResult`. ``cancel()`` (from any thread), or setting the
request's own ``cancel`` event, ends the request after the current group with
``StopReason.CANCELLED``; the result is still yielded last. All three ways of running
requests share one loop (:class:`~.loop.StepLoop`).

The synchronous methods of one Engine are serialised by a lock; use a scheduler to serve
several callers at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence

from ..context import model_context_groups
from ..lm.modules import MimoAudioLM
from ..streams import drain
from .batch import BatchDecoder
from .eager import EagerDecoder
from .host_memory import keep_freed_memory
from .loop import StepLoop
from .protocols import Decoder
from .scheduler import BatchScheduler
from .types import GenerationRequest, GenerationResult, GroupEvent, RequestState, validate_request


class Engine:
    def __init__(self, model: MimoAudioLM, empty_text_id: int, max_batch: int = 8, *, fast: bool = True,
                 context_groups: int | None = None):
        """``fast=False`` selects the eager reference-like path (one request at a time).

        ``context_groups`` (default: the 8192-group context of the release, or the model's
        max_position_embeddings if smaller) sizes the fast path's KV cache; a request stops
        with ``StopReason.CONTEXT_LIMIT`` when prompt + generated groups reach it.
        """
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.model, self.empty_text_id, self.max_batch, self.fast = model, empty_text_id, max_batch, fast
        limit = model_context_groups(model.config)
        self.context_groups = min(context_groups, limit) if context_groups else limit
        self._lock = threading.Lock()
        self._decoder: Decoder | None = None
        if model.device.type == "cpu":
            keep_freed_memory()              # no page faults on a step's big temporaries

    # ---- shared pieces -----------------------------------------------------------------------
    def validate(self, req: GenerationRequest) -> None:
        cfg = self.model.config
        validate_request(req, group_size=cfg.group_size, vocab_sizes=cfg.speech_vocab_sizes,
                         text_vocab=cfg.vocab_size, context_groups=self.context_groups)

    def new_decoder(self, capacity: int | None = None) -> Decoder:
        """A fresh decoder (its own caches) for this engine's model and path."""
        if not self.fast:
            return EagerDecoder(self.model, self.empty_text_id, self.context_groups)
        return BatchDecoder(self.model, self.empty_text_id, self.context_groups, capacity or self.max_batch)

    def _sync_decoder(self) -> Decoder:
        if self._decoder is None:
            self._decoder = self.new_decoder()
        return self._decoder

    # ---- synchronous API -----------------------------------------------------------------------
    def stream(self, req: GenerationRequest) -> "GenerationStream":
        self.validate(req)
        return GenerationStream(self, req)

    def generate(self, req: GenerationRequest) -> GenerationResult:
        return drain(self.stream(req))          # its last item: the GenerationResult

    def generate_batch(self, reqs: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """All requests, advanced together (max_batch rows at a time); results in input order."""
        for req in reqs:
            self.validate(req)
        states = [RequestState.start(r) for r in reqs]
        results: dict[int, GenerationResult] = {}
        with self._lock:
            loop = StepLoop(self._sync_decoder())
            for state in states:
                loop.submit(state, lambda item, key=id(state): _keep_result(results, key, item))
            try:
                while loop.busy():
                    loop.turn()
            finally:
                loop.abandon()
        return [results[id(s)] for s in states]

    def scheduler(self, max_batch: int | None = None) -> BatchScheduler:
        """A continuous-batching scheduler with its own worker thread and caches."""
        return BatchScheduler(self, max_batch or self.max_batch)


class GenerationStream:
    """One request's events: GroupEvent per group, then the GenerationResult (see module doc)."""

    def __init__(self, engine: Engine, req: GenerationRequest):
        self._engine = engine
        self._state = RequestState.start(req)
        self._started = False
        self.result: GenerationResult | None = None

    def cancel(self) -> None:
        """Set the request's cancel signal (its own, or the one this stream made for it)."""
        self._state.cancel.set()

    def __iter__(self) -> Iterator[GroupEvent | GenerationResult]:
        if self._started:
            raise RuntimeError("a GenerationStream can be iterated once")
        self._started = True
        return self._events()

    def _events(self) -> Iterator[GroupEvent | GenerationResult]:
        engine, items = self._engine, deque()
        with engine._lock:
            loop = StepLoop(engine._sync_decoder())
            loop.submit(self._state, items.append)
            try:
                while loop.busy():
                    loop.turn()
                    while items:
                        item = items.popleft()
                        if isinstance(item, GenerationResult):
                            self.result = item
                        yield item
            finally:
                loop.abandon()   # rows still active: the consumer stopped iterating early


def _keep_result(results: dict[int, GenerationResult], key: int, item) -> None:
    if isinstance(item, GenerationResult):
        results[key] = item
