"""A stand-in for ``mimo_core.tasks.MimoAudio`` with the same API (the
:class:`~mimo_core.tasks.backend.Backend` protocol; tests/test_protocols.py checks it), for fast
UI tests.

It checks requests with the real planning (the same one-line errors, before any "work": every
rule the real backend refuses a request by, except the built prompt's length against the
model's context, which needs the real text tokenizer and audio tokenizer to count), streams
like the real one (text deltas, the reasoning and the answer apart, 24 kHz float32 audio
chunks of one LM position each, a final event with the result), honours the cancel event
between steps, and keeps conversations as values. Its output is a quiet tone, and its text
says which request it got, so tests can check what reached the model.
"""

from __future__ import annotations

import threading
import time
from typing import Iterator, Optional

import numpy as np

from mimo_core.constants import GROUP_SIZE, SAMPLE_RATE, SAMPLES_PER_FRAME, STREAMS
from mimo_core.tasks.backend import EventStream, Progress, final_result
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.planning import prepare
from mimo_core.tasks.registry import spec_of
from mimo_core.tasks.types import Conversation, StreamEvent, TaskRequest, TaskResult, Turn

CHUNK = GROUP_SIZE * SAMPLES_PER_FRAME            # samples per LM position (3840)


class FakeMimoAudio:
    def __init__(self, groups: int = 12, step_s: float = 0.02, batching: bool = True):
        self.groups = groups              # positions per answer (unless options say fewer)
        self.step_s = step_s              # time per position
        self.batching = batching          # False: as a facade opened synchronous (ZeroGPU)
        self.loaded = {"instruct": True, "base": False}
        self.requests: list = []          # every request that passed the checks, in order
        self.limits = Limits()            # what the checks allow (as MimoAudio.limits)
        self.think = ""                   # reasoning written first when the prompt opens a think block
        self.active = 0                   # streams running now
        self.max_active = 0
        self._lock = threading.Lock()

    # -- the MimoAudio API ----------------------------------------------------------------
    def status(self) -> dict:
        return {"device": "cpu", "dtype": "float32", "model": "fake",
                "loaded": {k: ("yes" if v else "no") for k, v in self.loaded.items()},
                "memory": {"cpu_rss_gib": 0.1}}

    def load(self, role: str) -> None:
        self.loaded[role] = True

    def unload(self, role: str) -> None:
        self.loaded[role] = False

    def close(self) -> None:
        """Nothing to release."""

    def run(self, request: TaskRequest, cancel: Optional[threading.Event] = None,
            progress: Optional[Progress] = None) -> TaskResult:
        return final_result(self.stream(request, cancel))

    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> EventStream:
        prepared = prepare(request, self.limits)       # the real checks: bad input raises here
        self.requests.append(request)
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            yield from self._stream(request, prepared, cancel)
        finally:
            with self._lock:
                self.active -= 1

    # -- what it "generates" ------------------------------------------------------------
    def _answer_text(self, request) -> str:
        said = getattr(request, "text", None) or getattr(request, "question", None) or ""
        turns = len(request.conversation.turns) // 2 if getattr(request, "conversation", None) else 0
        return f"[{spec_of(request).name} turn {turns + 1}] {said}".strip()

    def _stream(self, request, prepared, cancel) -> Iterator[StreamEvent]:
        speaks = spec_of(request).speaks
        limit = request.options.max_new_groups or self.groups
        n = min(self.groups, limit)
        opened = bool(self.think) and prepared.opens_thinking     # planning's decision, as the real one
        words = ([f"{self.think}</think>\n"] if opened else []) + self._answer_text(request).split(" ")
        chunks, text, thinking, answer = [], "", "", ""
        stop_reason = "length"
        for i in range(n):
            if cancel is not None and cancel.is_set():
                stop_reason = "cancelled"               # like the facade: a final "cancelled" result
                n = i
                break
            time.sleep(self.step_s)
            delta = (words[i] + " ") if i < len(words) else ""
            text += delta
            # the reasoning is the first "word" when it thinks; answer words joined by spaces
            think_delta = self.think if (opened and i == 0) else ""
            answer_delta = "" if (i >= len(words) or think_delta) else (" " if answer else "") + words[i]
            thinking, answer = thinking + think_delta, answer + answer_delta
            chunk = None
            if speaks:
                t = (np.arange(CHUNK) + i * CHUNK) / SAMPLE_RATE
                chunk = (0.1 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
                chunks.append(chunk)
            yield StreamEvent(text_delta=delta, thinking_delta=think_delta, answer_delta=answer_delta,
                              audio_chunk=chunk, groups_done=i + 1, max_groups=n)
        text = " ".join(words) if n >= len(words) and stop_reason == "length" else text.strip()
        audio = np.concatenate(chunks) if chunks else None
        conversation = None
        if spec_of(request).conversation:
            reply = Turn("assistant", text=answer, audio=audio, thinking=thinking)
            conversation = (prepared.conversation or Conversation(task=spec_of(request).name)).after_turn(
                prepared.user_turn, reply, tokens=np.zeros((STREAMS, GROUP_SIZE), np.int64),
                system_prompt=prepared.system_prompt)
        yield StreamEvent(groups_done=n, max_groups=n, result=TaskResult(
            text=text, thinking=thinking, answer=answer, audio=audio, tokens=np.zeros((STREAMS, n), np.int64),
            new_groups=n, stop_reason=stop_reason, conversation=conversation, task=spec_of(request).name,
            opened_thinking=opened))
