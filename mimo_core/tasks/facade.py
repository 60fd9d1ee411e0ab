"""``MimoAudio``: every MiMo-Audio task behind one object.

    from mimo_core.tasks import MimoAudio
    mimo = MimoAudio(instruct="XiaomiMiMo/MiMo-Audio-7B-Instruct", base=None)
    result = mimo.tts("Hello there.")                 # TaskResult: text, audio, tokens ...
    for event in mimo.stream(ASRRequest(audio="a.wav")):
        print(event.text_delta, end="")

Models load lazily: the audio tokenizer once on first use, each LM on first use of a task
that needs it ("continue" and "s2s" need Base; everything else Instruct). A task whose LM
is not configured fails with :class:`ModelNotConfiguredError` before any work. Thread-safe:
many threads may call :meth:`stream` / :meth:`run` at once; LM work goes through one
continuous-batching worker per model, so concurrent requests are batched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..constants import GROUP_SIZE, SAMPLE_RATE
from ..errors import MimoError
from ..prompts import REFERENCE_SILENCE_SECONDS, extract_output
from ..resolve import fill_specs, is_tiny, warn_tiny
from .defaults import TASK_DEFAULTS, resolve_options
from .inputs import CodeEncoder
from .limits import Limits, check_context
from .models import LoadedLM, ModelManager
from .planning import DIALOGUE_TASKS, Prepared, prepare, task_of
from .streaming import OutputTracker
from .types import (ASRRequest, ChatRequest, ContinueRequest, Conversation, DialogueRequest,
                    FewShotExample, GenerationOptions, S2SRequest, S2TRequest, StreamEvent,
                    TaskRequest, TaskResult, TTSRequest, Turn, UnderstandRequest)

_CANCEL_POLL_S = 0.02


class MimoAudio:
    """The task facade (see module docstring).

    ``instruct`` / ``base`` / ``tokenizer``: model specs (local dir, HF repo id or ``"tiny"``);
    ``None`` for an LM means "not configured", ``None`` for the tokenizer means the official
    repo. ``limits`` bounds the inputs; ``max_batch`` the rows each LM worker batches.
    """

    def __init__(self, instruct=None, base=None, tokenizer=None, *, device: str = "cpu",
                 dtype="float32", attn: str = "auto", limits: Optional[Limits] = None,
                 max_batch: int = 4, **model_options):
        # model_options: ModelManager's placement options (synchronous, devices, quantize ...)
        self.models = ModelManager(instruct, base, tokenizer, device=device, dtype=dtype, attn=attn,
                                   max_batch=max_batch, **model_options)
        self.limits = limits or Limits()

    @classmethod
    def from_specs(cls, instruct=None, base=None, tokenizer=None, **kwargs) -> "MimoAudio":
        """Like the constructor; ``"tiny"`` anywhere fills the unset roles with ``"tiny"`` too
        (:func:`~mimo_core.resolve.fill_specs`; the tiny Base and Instruct are the same weights)."""
        return cls(*fill_specs(instruct, base, tokenizer, official=False), **kwargs)

    # ------------------------------------------------------------------ model management
    def status(self) -> dict:
        """What is configured and loaded, device, dtype, parameter counts, memory."""
        return self.models.status()

    def load(self, role: str) -> None:
        """Load ``"instruct"``, ``"base"`` or ``"tokenizer"`` now (instead of on first use)."""
        self.models.load(role)

    def unload(self, role: str) -> None:
        self.models.unload(role)

    def close(self) -> None:
        """Stop the LM workers and free the models."""
        self.models.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ running tasks
    def run(self, request: TaskRequest, cancel: Optional[threading.Event] = None,
            progress: Optional[Callable[[int, int], None]] = None) -> TaskResult:
        """Run a task to its end and return its result. ``progress(groups_done, max_groups)``
        is called after every generated group (from this thread)."""
        job = self._start(request)
        result = None
        for event in self._iterate(job, cancel, streaming=False, progress=progress):
            result = event.result if event.result is not None else result
        assert result is not None
        return result

    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> Iterator[StreamEvent]:
        """Yield text deltas and audio chunks as groups are generated; the last event carries
        the :class:`TaskResult`. Bad input raises here, before anything is generated.
        Setting ``cancel`` (or closing the iterator) stops generation promptly and frees the
        engine slot; the final event then has ``stop_reason == "cancelled"``.
        """
        job = self._start(request)
        return self._iterate(job, cancel, streaming=True, progress=None)

    def prepare(self, request: TaskRequest) -> tuple[Prepared, LoadedLM, torch.Tensor]:
        """Check the request, load what it needs and build its prompt ``[K, T]`` (no generation)."""
        task = task_of(request)
        role = TASK_DEFAULTS[task].role
        self.models.require(role, task)
        prepared = prepare(request, self.limits)           # every input checked, audio loaded
        lm = self.models.lm(role)
        encode = CodeEncoder(self.models.audio_tokenizer, self.models.codec_lock)
        with lm.text_lock:
            prompt = prepared.build(lm.builder, encode)     # (K, T)
        check_context(prompt.shape[1] // GROUP_SIZE)
        return prepared, lm, prompt

    def _start(self, request: TaskRequest) -> "_Job":
        from ..engine import GenerationRequest

        prepared, lm, prompt = self.prepare(request)
        defaults = TASK_DEFAULTS[prepared.task]
        if is_tiny(lm.spec) or (defaults.speaks and self.models.tokenizer_is_tiny()):
            warn_tiny(f"task {prepared.task}")
        opts = resolve_options(prepared.task, request.options, prompt.shape[1] // GROUP_SIZE,
                               prepared.requested_groups)
        gen = GenerationRequest(
            prompt_ids=prompt, text_sampler=opts.text.config(), audio_sampler=opts.audio.config(),
            stop_ids=frozenset(getattr(lm.special_ids, name) for name in defaults.stop),
            max_new_groups=opts.max_new_groups, min_new_groups=opts.min_new_groups, seed=opts.seed)
        lm.engine.validate(gen)
        codec = self.models.audio_tokenizer() if defaults.speaks else None
        return _Job(prepared, lm, prompt, gen, codec)

    def _iterate(self, job: "_Job", cancel: Optional[threading.Event], streaming: bool,
                 progress) -> Iterator[StreamEvent]:
        from ..engine import GenerationResult

        lm, ids, max_groups = job.lm, job.lm.special_ids, job.gen.max_new_groups
        tracker = None
        if streaming:                        # run() needs only the final, batch-extracted result
            tracker = OutputTracker(
                lm.tokenizer, ids, lm.empty_ids, speaks=job.speaks,
                speech_open=int(job.prompt[0, -GROUP_SIZE]) in (ids.sostm, ids.empty),
                decoder=job.codec.streaming_decoder() if job.speaks else None,
                codec_lock=self.models.codec_lock)
        handle = lm.scheduler.submit(job.gen)
        done = threading.Event()
        if cancel is not None:
            threading.Thread(target=_watch_cancel, args=(cancel, done, handle), daemon=True,
                             name="mimo-cancel-watch").start()
        final: Optional[GenerationResult] = None
        try:
            for item in handle:
                if isinstance(item, GenerationResult):
                    final = item
                    break
                if progress is not None:
                    progress(item.index + 1, max_groups)
                if tracker is not None:
                    delta, chunk = tracker.push(item.text_id, item.codes)
                    yield StreamEvent(text_delta=delta, audio_chunk=chunk, groups_done=item.index + 1,
                                      max_groups=max_groups)
        finally:
            done.set()
            if final is None:                   # the consumer left early: free the slot
                handle.cancel()
        result = self._result(job, final)
        delta, chunk = tracker.finish(result.text) if tracker is not None else ("", None)
        yield StreamEvent(text_delta=delta, audio_chunk=chunk, groups_done=result.new_groups,
                          max_groups=max_groups, result=result)

    def _result(self, job: "_Job", final) -> TaskResult:
        prepared, lm, codec = job.prepared, job.lm, job.codec
        out = extract_output(final.new_ids, lm.tokenizer, lm.special_ids, lm.empty_ids)
        audio = None
        if job.speaks:
            if out.is_silence:
                audio = np.zeros(int(REFERENCE_SILENCE_SECONDS * SAMPLE_RATE), dtype=np.float32)
            else:
                with self.models.codec_lock, torch.inference_mode():
                    audio = codec.decode(out.codes).detach().to("cpu", torch.float32).numpy()
        tokens = final.generated_ids.to("cpu", torch.long).numpy()
        conversation = None
        if prepared.task in DIALOGUE_TASKS:
            before = prepared.conversation or Conversation(task=prepared.task)
            conversation = Conversation(
                task=prepared.task,
                turns=before.turns + (prepared.user_turn, Turn("assistant", text=out.text, audio=audio)),
                tokens=tokens, system_prompt=prepared.system_prompt)
        stop_token = None
        if final.stop_token is not None:
            stop_token = lm.tokenizer.convert_ids_to_tokens(int(final.stop_token))
        return TaskResult(text=out.text, audio=audio, tokens=tokens, new_groups=final.new_groups,
                          stop_reason=final.stop_reason.value, conversation=conversation,
                          task=prepared.task, stop_token=stop_token, seed=final.seed,
                          prompt_columns=final.prompt_columns)

    # ------------------------------------------------------------------ convenience
    def tts(self, text: str, *, instruct=None, voice_prompt=None, natural=False, template=None,
            options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(TTSRequest(text, instruct, voice_prompt, natural, template, options))

    def asr(self, audio, *, language=None, template=None,
            options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(ASRRequest(audio, language, template, options))

    def continue_speech(self, audio, duration_s: float = 10.0,
                        options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(ContinueRequest(audio, duration_s, options))

    def s2s(self, audio, instruction: str, examples, options: GenerationOptions = GenerationOptions()) -> TaskResult:
        examples = tuple(ex if isinstance(ex, FewShotExample) else FewShotExample(**ex) for ex in examples)
        return self.run(S2SRequest(audio, instruction, examples, options))

    def understand(self, audio, question: str, *, thinking: bool = False,
                   options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(UnderstandRequest(audio, question, thinking, options))

    def dialogue(self, audio, conversation: Optional[Conversation] = None, *, voice_prompt=None,
                 system_prompt=None, options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(DialogueRequest(audio, conversation, voice_prompt, system_prompt, options))

    def s2t(self, audio, conversation: Optional[Conversation] = None,
            options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(S2TRequest(audio, conversation, options))

    def chat(self, text: str, conversation: Optional[Conversation] = None,
             options: GenerationOptions = GenerationOptions()) -> TaskResult:
        return self.run(ChatRequest(text, conversation, options))


@dataclass
class _Job:
    """A prepared request, ready to submit."""

    prepared: Prepared
    lm: LoadedLM
    prompt: torch.Tensor                  # (K, T)
    gen: object                           # engine GenerationRequest
    codec: object                         # the audio tokenizer when the task speaks, else None

    @property
    def speaks(self) -> bool:
        return self.codec is not None


def _watch_cancel(cancel: threading.Event, done: threading.Event, handle) -> None:
    while not done.is_set():
        if cancel.wait(_CANCEL_POLL_S):
            handle.cancel()
            return


__all__ = ["MimoAudio", "MimoError"]
