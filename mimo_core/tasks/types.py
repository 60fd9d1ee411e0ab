"""Typed requests and results shared by the Python API, the CLI, the web UI and the HTTP API.

One request dataclass per task. ``MimoAudio.run(request)`` returns a :class:`TaskResult`;
``MimoAudio.stream(request)`` yields :class:`StreamEvent` s, the last of which carries the
final result. Audio inputs are :data:`AudioInput` values (a path, raw file bytes, a
``(samples, sample_rate)`` pair or a 24 kHz float array); audio outputs are 24 kHz mono
float32 numpy arrays.

Conversation history is a value (:class:`Conversation`) that the caller passes in and gets
back in ``TaskResult.conversation``; nothing about a conversation is stored on the model,
so two callers can never see each other's turns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np

from ..sampler_config import SamplerOverride, nest

@dataclass(frozen=True, eq=False)
class EncodedAudio:
    """Audio already encoded by the audio tokenizer: a voice prompt whose codes are known (a saved
    voice, or the first segment of a long text spoken in the voice of the rest), so reusing it
    skips the codec. ``codes``: int ``[C >= 8, T]`` at 25 Hz (channels 0..7 are used);
    ``audio``: its 24 kHz waveform when known (shown in a UI, sent to a remote engine); ``tag``:
    the codec that made the codes (a saved voice re-encodes when it differs)."""

    codes: np.ndarray = field(repr=False)
    audio: Optional[np.ndarray] = field(default=None, repr=False)
    tag: str = ""

    @property
    def duration_s(self) -> float:
        return int(np.shape(self.codes)[-1]) / 25.0               # 25 codec frames per second


AudioInput = Union[str, Path, bytes, tuple, np.ndarray, EncodedAudio]

@dataclass(frozen=True)
class GenerationOptions:
    """Per-request overrides of the task's defaults (docs/FORMAT.md section 7). None = the task's.

    ``text`` / ``audio``: what the request sets of each sampler (:class:`SamplerOverride`: its
    ``greedy`` is argmax for that sampler alone, what an API's temperature 0 asks for);
    ``greedy``: argmax for both. Greedy wins over the same sampler's other fields. Every option,
    its bounds and its name on each surface: :data:`mimo_core.sampler_config.OPTIONS`;
    :meth:`from_flat` builds one from those names (``text_temperature=0.7``).
    """

    greedy: bool = False
    seed: Optional[int] = None
    max_new_groups: Optional[int] = None      # 6.25 groups per second of output
    min_new_groups: Optional[int] = None
    text: SamplerOverride = SamplerOverride()
    audio: SamplerOverride = SamplerOverride()

    @classmethod
    def from_flat(cls, **values: Any) -> "GenerationOptions":
        """From the options' flat names (``OPTIONS``): ``from_flat(seed=3, audio_top_p=0.9)``."""
        return cls(**nest(values))

    def sampler(self, side: str) -> SamplerOverride:
        """What this request sets of sampler ``side`` ("text" / "audio"), ``greedy`` included."""
        own = getattr(self, side)
        return replace(own, greedy=True) if self.greedy and not own.greedy else own


@dataclass(frozen=True)
class Turn:
    """One finished turn of a conversation, as shown to people."""

    role: Literal["user", "assistant"]
    text: str = ""                            # a reply's answer: no reasoning, no markup
    audio: Optional[np.ndarray] = None        # 24 kHz float32, what was heard / said
    thinking: str = ""                        # the reply's reasoning, shown apart (not re-sent)


@dataclass(frozen=True)
class Conversation:
    """Dialogue history: display turns plus the exact token history the model saw.

    ``tokens`` is the [9, T] int64 matrix (prompt + generated groups) of the previous call,
    used for follow-up turns exactly as the reference's history; ``task`` names the dialogue
    kind it belongs to ("dialogue", "s2t" or "chat").
    """

    task: str = ""
    turns: tuple[Turn, ...] = ()
    tokens: Optional[np.ndarray] = None
    system_prompt: Optional[str] = None

    def after_turn(self, user: Turn, reply: Turn, *, tokens: Optional[np.ndarray] = None,
                   system_prompt: Optional[str] = None) -> "Conversation":
        """This conversation one exchange later (the one way a result's conversation is made):
        ``user`` and ``reply`` appended to the display turns; ``tokens``: the exact history the
        call saw and made (prompt + generated groups; None where it stays on a remote engine);
        ``system_prompt``: the one in effect for the conversation."""
        return replace(self, turns=self.turns + (user, reply), tokens=tokens, system_prompt=system_prompt)

    # -- persistence (CLI: continue a saved conversation) --------------------------------
    def save(self, path: str | Path) -> None:
        """Write the conversation to ``path`` (.npz: tokens, turn texts and turn audio)."""
        arrays: dict[str, Any] = {}
        meta = {"task": self.task, "system_prompt": self.system_prompt, "turns": []}
        for i, turn in enumerate(self.turns):
            meta["turns"].append({"role": turn.role, "text": turn.text, "thinking": turn.thinking,
                                  "has_audio": turn.audio is not None})
            if turn.audio is not None:
                arrays[f"audio_{i}"] = np.asarray(turn.audio, dtype=np.float32)
        if self.tokens is not None:
            arrays["tokens"] = np.asarray(self.tokens, dtype=np.int64)
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Conversation":
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            turns = tuple(
                Turn(role=t["role"], text=t["text"], audio=data[f"audio_{i}"] if t["has_audio"] else None,
                     thinking=t.get("thinking", ""))
                for i, t in enumerate(meta["turns"])
            )
            tokens = data["tokens"] if "tokens" in data else None
        return cls(task=meta["task"], turns=turns, tokens=tokens, system_prompt=meta["system_prompt"])


@dataclass(frozen=True)
class FewShotExample:
    input_audio: AudioInput
    output_audio: AudioInput
    transcript: str                            # transcript of output_audio


# ---------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class ContinueRequest:
    """Speech continuation (Base model): continue ``audio`` for up to ``duration_s`` seconds."""
    audio: AudioInput
    duration_s: float = 10.0
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class S2SRequest:
    """Few-shot speech-to-speech (Base model): instruction + example pairs + query audio."""
    audio: AudioInput
    instruction: str
    examples: tuple[FewShotExample, ...]
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class TTSRequest:
    """Text-to-speech. ``instruct``: style instruction; ``voice_prompt``: audio whose timbre
    to use; ``natural``: the style is written inside ``text`` itself."""
    text: str
    instruct: Optional[str] = None
    voice_prompt: Optional[AudioInput] = None
    natural: bool = False
    template: Optional[str] = None
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class ASRRequest:
    audio: AudioInput
    language: Optional[str] = None             # "en" | "zh" | None (English template)
    template: Optional[str] = None
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class UnderstandRequest:
    audio: AudioInput
    question: str
    thinking: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class DialogueRequest:
    """Spoken dialogue: speech in, speech + text out."""
    audio: AudioInput
    conversation: Optional[Conversation] = None
    voice_prompt: Optional[AudioInput] = None
    system_prompt: Optional[str] = None        # None = the reference UI's default
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class S2TRequest:
    """Speech-to-text dialogue: speech in, text out. ``thinking``: the model reasons first."""
    audio: AudioInput
    conversation: Optional[Conversation] = None
    thinking: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class ChatRequest:
    """Text chat. ``thinking``: the model reasons first."""
    text: str
    conversation: Optional[Conversation] = None
    thinking: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)


TaskRequest = Union[ContinueRequest, S2SRequest, TTSRequest, ASRRequest, UnderstandRequest,
                    DialogueRequest, S2TRequest, ChatRequest]     # each task's spec: registry.TASKS


# ----------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class TaskResult:
    """A task's output. ``text`` is the exact decoded text (the reference's rule, special tokens
    and reasoning included: what the goldens compare); ``answer`` and ``thinking`` are what
    people see, split once by the output reader and free of markup (docs/FORMAT.md section 8)."""

    text: str
    audio: Optional[np.ndarray]                # 24 kHz float32, None for text-only tasks
    tokens: np.ndarray                         # [9, T] int64: prompt + generated groups
    new_groups: int
    stop_reason: str
    answer: str                                # the reply without reasoning or markup
    thinking: str = ""                         # the reasoning without markup ("" when it did not think)
    conversation: Optional[Conversation] = None
    sample_rate: int = 24_000
    # Added by the task layer (all optional, for display / reproducibility):
    task: str = ""
    stop_token: Optional[str] = None          # the stop token's text when stop_reason == "stop_token"
    seed: Optional[int] = None                # the seed actually used (drawn when none was given)
    prompt_columns: int = 0                   # tokens[:, :prompt_columns] is the prompt
    opened_thinking: bool = False             # the prompt ended with an open <think> block

    @property
    def duration_s(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) / self.sample_rate


@dataclass(frozen=True)
class StreamEvent:
    """A streaming update: new text and/or a new audio chunk; the last event has ``result``.

    The three text deltas add up to the result's fields: ``text_delta`` to ``text`` (exact,
    with markup), ``thinking_delta`` and ``answer_delta`` to ``thinking`` and ``answer`` (what
    people see: show these)."""

    text_delta: str = ""
    audio_chunk: Optional[np.ndarray] = None
    groups_done: int = 0
    max_groups: int = 0
    result: Optional[TaskResult] = None
    thinking_delta: str = ""
    answer_delta: str = ""
