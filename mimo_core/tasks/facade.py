"""``MimoAudio``: every MiMo-Audio task behind one object.

    from mimo_core.tasks import MimoAudio
    mimo = MimoAudio(instruct="XiaomiMiMo/MiMo-Audio-7B-Instruct", base=None)
    result = mimo.tts("Hello there.")                 # TaskResult: text, audio, tokens ...
    for event in mimo.stream(ASRRequest(audio="a.wav")):
        print(event.answer_delta, end="")

Models load lazily: the audio tokenizer once on first use, each LM on first use of a task
that needs it ("continue" and "s2s" need Base; everything else Instruct). A task whose LM
is not configured fails with :class:`ModelNotConfiguredError` before any work. Thread-safe:
many threads may call :meth:`stream` / :meth:`run` at once; LM work goes through one
continuous-batching worker per model, so concurrent requests are batched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from ..constants import GROUP_SIZE, SAMPLE_RATE
from ..errors import MimoError
from ..prompts import REFERENCE_SILENCE_SECONDS
from ..resolve import fill_specs, is_tiny, warn_tiny
from ..runtime import LoadedLM, ModelManager
from .backend import EventStream, Progress, final_result
from .defaults import resolve_options
from .inputs import CodeEncoder
from .limits import Limits
from .planning import Prepared, build_prompt, prepare
from .registry import spec_of
from .streaming import OutputTracker
from .types import (ASRRequest, ChatRequest, ContinueRequest, Conversation, DialogueRequest,
                    FewShotExample, S2SRequest, S2TRequest, StreamEvent, TaskRequest, TaskResult,
                    TTSRequest, Turn, UnderstandRequest)

if TYPE_CHECKING:       # annotations only: the engine and the codec import transformers
    from ..codec import AudioTokenizer
    from ..engine import GenerationRequest


class MimoAudio:
    """The task facade (see module docstring); a :class:`~.backend.Backend`.

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

    @property
    def batching(self) -> bool:
        """Concurrent requests batch (False when ``synchronous``: ZeroGPU, no worker threads)."""
        return not self.models.synchronous

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
            progress: Optional[Progress] = None) -> TaskResult:
        """Run a task to its end and return its result. ``progress(groups_done, max_groups)``
        is called after every generated group (from this thread)."""
        job = self._start(request, cancel)
        return final_result(self._iterate(job, streaming=False, progress=progress))

    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> EventStream:
        """Yield text deltas and audio chunks as groups are generated; the last event carries
        the :class:`TaskResult`. Bad input raises here, before anything is generated.
        Setting ``cancel`` (or closing the iterator) stops generation promptly and frees the
        engine slot; the final event then has ``stop_reason == "cancelled"``.
        """
        job = self._start(request, cancel)
        return self._iterate(job, streaming=True, progress=None)

    def prepare(self, request: TaskRequest) -> tuple[Prepared, LoadedLM, torch.Tensor]:
        """Check the request, load what it needs and build its prompt ``[K, T]`` (no generation)."""
        spec = spec_of(request)
        self.models.require(spec.role, spec.name)
        prepared = prepare(request, self.limits)           # every input checked, audio loaded
        lm = self.models.lm(spec.role)
        encode = CodeEncoder(self.models.audio_tokenizer, self.models.codec_lock)
        codes = [encode(wav) for wav in prepared.waves]    # under the codec lock, one at a time
        with lm.text_lock:
            # the length check against the model's one context limit (its engine's)
            prompt = build_prompt(lm.builder, prepared, codes, context_groups=lm.engine.context_groups)  # (K, T)
        return prepared, lm, prompt

    def _start(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> "_Job":
        from ..engine import GenerationRequest

        prepared, lm, prompt = self.prepare(request)
        spec = prepared.spec
        if is_tiny(lm.spec) or (spec.speaks and self.models.tokenizer_is_tiny()):
            warn_tiny(f"task {spec.name}")
        opts = resolve_options(spec, request.options, prompt.shape[1] // GROUP_SIZE,
                               prepared.requested_groups, context_groups=lm.engine.context_groups)
        gen = GenerationRequest(
            prompt_ids=prompt, text_sampler=opts.text, audio_sampler=opts.audio,
            stop_ids=frozenset(getattr(lm.special_ids, name) for name in spec.stop),
            max_new_groups=opts.max_new_groups, min_new_groups=opts.min_new_groups, seed=opts.seed,
            cancel=cancel)                  # the engine checks it once, when it is submitted
        codec = self.models.audio_tokenizer() if spec.speaks else None
        return _Job(prepared, lm, prompt, gen, codec)

    def _iterate(self, job: "_Job", streaming: bool, progress: Optional[Progress]) -> EventStream:
        from ..engine import GenerationResult

        lm, ids, max_groups = job.lm, job.lm.special_ids, job.gen.max_new_groups
        cancel = job.gen.cancel
        # the one output rule for both: run() replays the groups without live text or audio
        tracker = OutputTracker(
            lm.tokenizer, ids, lm.empty_ids, speaks=job.speaks and streaming, deltas=streaming,
            speech_open=int(job.prompt[0, -GROUP_SIZE]) in (ids.sostm, ids.empty),
            decoder=job.codec.streaming_decoder() if (job.speaks and streaming) else None,
            codec_lock=self.models.codec_lock, opened_thinking=job.prepared.opens_thinking)
        handle = lm.scheduler.submit(job.gen)
        final: Optional[GenerationResult] = None
        try:
            for item in handle:
                if isinstance(item, GenerationResult):
                    final = item
                    break
                if progress is not None:
                    progress(item.index + 1, max_groups)
                if streaming and cancel is not None and cancel.is_set():
                    # stopped: the groups already made are only read, not decoded or sent, so
                    # the result comes at once however many were waiting
                    streaming = False
                    tracker.stop_live()
                update = tracker.push(item.text_id, item.codes)
                if streaming:
                    yield _event(update, groups_done=item.index + 1, max_groups=max_groups)
        finally:
            if final is None:                   # the consumer left early: free the slot
                handle.cancel()
        update = tracker.finish()
        result = self._result(job, final, tracker.output())
        yield _event(update, groups_done=result.new_groups, max_groups=max_groups, result=result)

    def _result(self, job: "_Job", final, out) -> TaskResult:
        prepared, lm, codec = job.prepared, job.lm, job.codec
        audio = None
        if job.speaks:
            if out.is_silence:
                audio = np.zeros(int(REFERENCE_SILENCE_SECONDS * SAMPLE_RATE), dtype=np.float32)
            else:
                # Decoded whole even after a stream: the streaming decoder's chunks are not
                # decode()'s bits (its GroupNorms see a window, not the utterance: 5 % RMS, see
                # codec/streaming.py), and the result must be the same as run()'s, the goldens'.
                with self.models.codec_lock, torch.inference_mode():
                    audio = codec.decode(out.codes).detach().to("cpu", torch.float32).numpy()
        tokens = final.generated_ids.to("cpu", torch.long).numpy()
        conversation = None
        if prepared.spec.conversation:
            reply = Turn("assistant", text=out.answer, audio=audio, thinking=out.thinking)
            conversation = (prepared.conversation or Conversation(task=prepared.task)).after_turn(
                prepared.user_turn, reply, tokens=tokens, system_prompt=prepared.system_prompt)
        stop_token = None
        if final.stop_token is not None:
            stop_token = lm.tokenizer.convert_ids_to_tokens(int(final.stop_token))
        return TaskResult(text=out.text, thinking=out.thinking, answer=out.answer, audio=audio, tokens=tokens,
                          new_groups=final.new_groups, stop_reason=final.stop_reason.value,
                          conversation=conversation, task=prepared.task, stop_token=stop_token, seed=final.seed,
                          prompt_columns=final.prompt_columns, opened_thinking=prepared.opens_thinking)

    # ------------------------------------------------------------------ convenience
    def tts(self, text: str, **fields) -> TaskResult:
        """``run(TTSRequest(text, **fields))``; likewise for every task below (fields by name)."""
        return self.run(TTSRequest(text=text, **fields))

    def asr(self, audio, **fields) -> TaskResult:
        return self.run(ASRRequest(audio=audio, **fields))

    def continue_speech(self, audio, **fields) -> TaskResult:
        return self.run(ContinueRequest(audio=audio, **fields))

    def s2s(self, audio, instruction: str, examples, **fields) -> TaskResult:
        examples = tuple(ex if isinstance(ex, FewShotExample) else FewShotExample(**ex) for ex in examples)
        return self.run(S2SRequest(audio=audio, instruction=instruction, examples=examples, **fields))

    def understand(self, audio, question: str, **fields) -> TaskResult:
        return self.run(UnderstandRequest(audio=audio, question=question, **fields))

    def dialogue(self, audio, conversation: Optional[Conversation] = None, **fields) -> TaskResult:
        return self.run(DialogueRequest(audio=audio, conversation=conversation, **fields))

    def s2t(self, audio, conversation: Optional[Conversation] = None, **fields) -> TaskResult:
        return self.run(S2TRequest(audio=audio, conversation=conversation, **fields))

    def chat(self, text: str, conversation: Optional[Conversation] = None, **fields) -> TaskResult:
        return self.run(ChatRequest(text=text, conversation=conversation, **fields))


@dataclass
class _Job:
    """A prepared request, ready to submit."""

    prepared: Prepared
    lm: LoadedLM
    prompt: torch.Tensor                  # (K, T)
    gen: GenerationRequest
    codec: Optional[AudioTokenizer]       # the audio tokenizer when the task speaks, else None

    @property
    def speaks(self) -> bool:
        return self.codec is not None


def _event(update, **fields) -> StreamEvent:
    """A StreamEvent carrying an :class:`~.streaming.Update`'s deltas and audio."""
    return StreamEvent(text_delta=update.text, thinking_delta=update.thinking, answer_delta=update.answer,
                       audio_chunk=update.audio, **fields)


__all__ = ["MimoAudio", "MimoError"]
