"""Request -> prompt plan, checked, before any model work: the one place user input is validated.

:func:`prepare` (through one planner below per task, named in the registry) checks
texts, options and examples against the limits and loads every audio input (24 kHz
waveforms); all user errors surface here. It returns *data*, a :class:`Prepared`: the
waveforms to encode, and which :class:`~mimo_core.prompts.PromptBuilder` method to call with
which arguments (:class:`AudioRef` marks where a waveform's codes go). The facade encodes the
waveforms under the audio tokenizer's lock, then builds the prompt under the text lock
(:func:`build_prompt`); no lock is held inside the other. The builder and the engine only
assert what planning checked.

Conversations: a :class:`Conversation` with ``tokens`` continues exactly from that token
history (the reference's ``add_history``; the first turn's voice and system prompt stay as
they were); one with only display ``turns`` is rebuilt as a multi-turn prompt (audio of past
turns re-encoded); none starts a new conversation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from ..constants import GROUP_SIZE
from ..context import check_context
from ..errors import PromptError
from ..prompts import DEFAULT_DIALOGUE_SYSTEM_PROMPT, DialogueTurn, FewShotPair, PromptBuilder, with_history
from .defaults import requested_groups
from .inputs import load_input_audio
from .limits import Limits, check_duration, check_example_count, check_options, check_text
from .registry import TaskSpec, spec_of
from .types import ChatRequest, Conversation, DialogueRequest, FewShotExample, TaskRequest, Turn


@dataclass(frozen=True)
class AudioRef:
    """Stands for the codes of ``Prepared.waves[index]`` in a prompt plan."""

    index: int


@dataclass
class Prepared:
    """A checked request: the audio to encode and the prompt to build from it."""

    spec: TaskSpec
    method: str                                        # PromptBuilder method
    args: dict[str, Any]                               # its arguments (AudioRef for codes)
    waves: list[np.ndarray] = field(default_factory=list)   # 24 kHz float32 inputs, in AudioRef order
    history: Optional[np.ndarray] = None               # exact follow-up: tokens [K, H] prepended
    requested_groups: Optional[int] = None             # continuation: groups for the duration
    conversation: Optional[Conversation] = None        # the conversation this turn continues
    user_turn: Optional[Turn] = None                   # dialogue tasks: this turn, for display
    system_prompt: Optional[str] = None                # dialogue: the system prompt in effect

    @property
    def task(self) -> str:
        return self.spec.name

    def wave(self, wav: np.ndarray) -> AudioRef:
        """Register a waveform to encode; returns its reference."""
        self.waves.append(wav)
        return AudioRef(len(self.waves) - 1)


def build_prompt(builder: PromptBuilder, prepared: Prepared, codes: list[torch.Tensor]) -> torch.Tensor:
    """The prompt ``[K, T]``: the planned builder call with ``codes[i]`` for each ``AudioRef(i)``,
    after the token history of an exact follow-up."""
    args = {name: _fill(value, codes) for name, value in prepared.args.items()}
    prompt = getattr(builder, prepared.method)(**args)
    if prepared.history is not None:
        prompt = with_history(prepared.history, prompt)
    check_context(prompt.shape[1] // GROUP_SIZE)          # the engine asserts the same edge
    return prompt


def _fill(value: Any, codes: list[torch.Tensor]) -> Any:
    if isinstance(value, AudioRef):
        return codes[value.index]
    if isinstance(value, (list, tuple)):
        return type(value)(_fill(v, codes) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _fill(getattr(value, f.name), codes)
                                             for f in dataclasses.fields(value)})
    return value


def prepare(request: TaskRequest, limits: Limits) -> Prepared:
    """Check ``request`` and load its audio; raises a typed one-line error on bad input."""
    spec = spec_of(request)
    check_options(request.options)
    planner = globals()[spec.planner]     # named in the registry, which stays torch-free
    return planner(request, limits)


# ------------------------------------------------------------------------------ per task
def prepare_continue(r, limits: Limits) -> Prepared:
    check_duration(r.duration_s, limits)
    p = Prepared(spec_of(r), "speech_continuation", {}, requested_groups=requested_groups(r))
    p.args["codes"] = p.wave(load_input_audio(r.audio, "prompt audio", limits))
    return p


def _check_examples(examples, limits: Limits) -> list[tuple[np.ndarray, str, np.ndarray]]:
    examples = tuple(examples or ())
    check_example_count(len(examples), limits)
    loaded = []
    for n, ex in enumerate(examples, 1):
        if not isinstance(ex, FewShotExample):
            raise PromptError(f"few-shot example {n} is a {type(ex).__name__}, expected FewShotExample")
        if ex.input_audio is None or ex.output_audio is None:
            side = "input" if ex.input_audio is None else "output"
            raise PromptError(f"few-shot example {n} has no {side} audio (examples must be pairs)")
        transcript = check_text(ex.transcript, f"few-shot example {n} transcript", limits)
        loaded.append((load_input_audio(ex.input_audio, f"few-shot example {n} input audio", limits),
                       transcript,
                       load_input_audio(ex.output_audio, f"few-shot example {n} output audio", limits)))
    return loaded


def prepare_s2s(r, limits: Limits) -> Prepared:
    instruction = check_text(r.instruction, "few-shot instruction", limits)
    examples = _check_examples(r.examples, limits)
    query = load_input_audio(r.audio, "query audio", limits)
    p = Prepared(spec_of(r), "few_shot_s2s", {"instruction": instruction})
    p.args["examples"] = [FewShotPair(p.wave(i), t, p.wave(o)) for i, t, o in examples]
    p.args["query_codes"] = p.wave(query)
    return p


def prepare_tts(r, limits: Limits) -> Prepared:
    text = check_text(r.text, "TTS text", limits)
    instruct = check_text(r.instruct, "style instruction", limits, required=False) or None
    if r.template is not None:
        check_text(r.template, "TTS template", limits)
    p = Prepared(spec_of(r), "tts", {"text": text, "template": r.template, "instruct": instruct,
                                     "natural": r.natural, "voice_codes": None})
    if r.voice_prompt is not None:
        p.args["voice_codes"] = p.wave(load_input_audio(r.voice_prompt, "voice prompt", limits))
    return p


def prepare_asr(r, limits: Limits) -> Prepared:
    if r.template is not None:
        check_text(r.template, "ASR template", limits)
    p = Prepared(spec_of(r), "asr", {"template": r.template, "language": r.language})
    p.args["codes"] = p.wave(load_input_audio(r.audio, "audio", limits))
    return p


def prepare_understand(r, limits: Limits) -> Prepared:
    question = check_text(r.question, "question", limits)
    p = Prepared(spec_of(r), "audio_understanding", {"question": question, "thinking": bool(r.thinking)})
    p.args["codes"] = p.wave(load_input_audio(r.audio, "audio", limits))
    return p


# ------------------------------------------------------------------------------ dialogues
_DIALOGUE_METHODS: dict[str, str] = {"dialogue": "spoken_dialogue", "s2t": "s2t_dialogue",
                                     "chat": "text_dialogue"}


def _conversation(conv: Optional[Conversation], task: str) -> Optional[Conversation]:
    if conv is None:
        return None
    if not isinstance(conv, Conversation):
        raise PromptError(f"conversation must be a Conversation, got {type(conv).__name__}")
    if conv.task and conv.task != task:
        raise PromptError(f"this conversation belongs to the {conv.task!r} task, not {task!r}")
    if conv.tokens is None and not conv.turns:
        return None                                      # an empty conversation: start afresh
    return conv


def _history_turns(p: Prepared, conv: Conversation, limits: Limits) -> list[DialogueTurn]:
    """Display turns of a token-less conversation as builder turns, their audio loaded and checked."""
    task, turns = p.task, []
    for n, turn in enumerate(conv.turns, 1):
        codes = None
        if task == "dialogue" or (task == "s2t" and turn.role == "user"):
            if turn.audio is None:
                raise PromptError(f"conversation turn {n} ({turn.role}) has no audio")
            codes = p.wave(load_input_audio(turn.audio, f"conversation turn {n} audio", limits))
        if turn.role == "assistant" or task == "chat":
            text = check_text(turn.text, f"conversation turn {n} text", limits,
                              required=not (task == "dialogue" and turn.role == "assistant"))
            turns.append(DialogueTurn(turn.role, text=text or "", codes=codes))
        else:
            turns.append(DialogueTurn(turn.role, codes=codes))
    if turns and turns[-1].role != "assistant":
        raise PromptError("a conversation to continue must end with an assistant turn")
    return turns


def _dialogue_options(p: Prepared, r: DialogueRequest, conv: Optional[Conversation], limits: Limits) -> None:
    """Spoken dialogue's voice prompt and system prompt. They shape the first turn's prompt;
    on an exact follow-up they are fixed, so a different one is refused, never ignored."""
    asked = None if r.system_prompt is None else check_text(r.system_prompt, "system prompt", limits,
                                                            required=False)
    if conv is not None and conv.tokens is not None:
        if r.voice_prompt is not None:
            raise PromptError("a voice prompt applies from the first turn of a conversation only; "
                              "clear the conversation to use another voice")
        if asked is not None and asked != conv.system_prompt:
            raise PromptError("the system prompt applies from the first turn of a conversation only; "
                              "clear the conversation to change it")
        p.system_prompt = conv.system_prompt
        return
    if asked is not None:
        p.system_prompt = asked
    elif conv is not None and conv.system_prompt is not None:
        p.system_prompt = conv.system_prompt
    else:
        p.system_prompt = DEFAULT_DIALOGUE_SYSTEM_PROMPT
    p.args["system_prompt"] = p.system_prompt
    if r.voice_prompt is not None:
        p.args["voice_codes"] = p.wave(load_input_audio(r.voice_prompt, "voice prompt", limits))


def prepare_dialogue(r, limits: Limits) -> Prepared:
    """Spoken dialogue, speech-to-text dialogue and text chat: one user turn on a conversation."""
    spec = spec_of(r)
    p = Prepared(spec, _DIALOGUE_METHODS[spec.name], {})
    conv = p.conversation = _conversation(r.conversation, spec.name)
    if isinstance(r, ChatRequest):
        user_text = check_text(r.text, "message", limits)
        user = DialogueTurn("user", text=user_text)
        p.user_turn = Turn("user", text=user_text)
    else:
        wav = load_input_audio(r.audio, "audio", limits)
        user = DialogueTurn("user", codes=p.wave(wav))
        p.user_turn = Turn("user", audio=wav)
    if isinstance(r, DialogueRequest):
        _dialogue_options(p, r, conv, limits)
    else:
        p.args["thinking"] = bool(r.thinking)
    if conv is not None and conv.tokens is not None:                 # exact follow-up
        p.history = np.asarray(conv.tokens)
        p.args["messages"] = [user]
    else:
        past = _history_turns(p, conv, limits) if conv is not None else []
        p.args["messages"] = past + [user]
    return p
