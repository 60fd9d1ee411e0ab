"""Request -> prompt plan, checked, before any model work: the one place user input is validated.

:func:`prepare` (one planner below per task, found in :data:`PLANNERS` by the request's
type) checks texts, options, examples and conversations against the limits and the prompt
layouts' rules, and loads every audio input (24 kHz waveforms): every user error surfaces
here, before any audio is encoded. It returns *data*, a :class:`Prepared`: the waveforms to
encode, which :class:`~mimo_core.prompts.PromptBuilder` method to call with which arguments
(:class:`AudioRef` marks where a waveform's codes go), and whether that prompt opens a think
block. The facade encodes the waveforms under the audio tokenizer's lock, then builds the
prompt under the text lock (:func:`build_prompt`, which checks the one rule that needs the
built prompt: its length against the model's context); no lock is held inside the other.
The builder only asserts what planning checked; the engine checks the request it is sent
once, at submit.

Conversations: a :class:`Conversation` with ``tokens`` continues exactly from that token
history (the reference's ``add_history``; the first turn's voice and system prompt stay as
they were); one with only display ``turns`` is rebuilt as a multi-turn prompt (audio of past
turns re-encoded); none starts a new conversation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..codec.config import real_config
from ..codec.model import code_frames
from ..constants import GROUP_SIZE, SAMPLE_RATE, STREAMS
from ..context import check_context
from ..errors import PromptError
from ..prompts import DEFAULT_DIALOGUE_SYSTEM_PROMPT, DialogueTurn, FewShotPair, PromptBuilder, with_history
from ..prompts.builder import tts_opens_thinking, tts_uses_natural_layout
from ..prompts.templates import LANGUAGES
from .defaults import requested_groups
from .inputs import load_input_audio, load_voice_prompt
from .limits import Limits, check_duration, check_example_count, check_options, check_text
from .registry import TASKS, TaskSpec, spec_of
from .types import (ASRRequest, ChatRequest, ContinueRequest, Conversation, DialogueRequest, FewShotExample,
                    S2SRequest, S2TRequest, TaskRequest, TTSRequest, Turn, UnderstandRequest)


@dataclass(frozen=True)
class AudioRef:
    """Stands for the codes of ``Prepared.waves[index]`` in a prompt plan."""

    index: int


@dataclass
class Prepared:
    """A checked request: the audio to encode and the prompt to build from it."""

    spec: TaskSpec
    build: Callable[..., torch.Tensor]                 # an unbound PromptBuilder method (PromptBuilder.tts)
    args: dict[str, Any]                               # its arguments (AudioRef for codes)
    waves: list = field(default_factory=list)     # 24 kHz float32 inputs (or EncodedAudio), in AudioRef order
    history: Optional[np.ndarray] = None               # exact follow-up: tokens [K, H] prepended
    requested_groups: Optional[int] = None             # continuation: groups for the duration
    conversation: Optional[Conversation] = None        # the conversation this turn continues
    user_turn: Optional[Turn] = None                   # dialogue tasks: this turn, for display
    system_prompt: Optional[str] = None                # dialogue: the system prompt in effect
    opens_thinking: bool = False                       # the prompt ends with an open think block

    @property
    def task(self) -> str:
        return self.spec.name

    def wave(self, wav: np.ndarray) -> AudioRef:
        """Register a waveform to encode; returns its reference."""
        self.waves.append(wav)
        return AudioRef(len(self.waves) - 1)


def build_prompt(builder: PromptBuilder, prepared: Prepared, codes: list[torch.Tensor], *,
                 context_groups: int) -> torch.Tensor:
    """The prompt ``[K, T]``: the planned builder call with ``codes[i]`` for each ``AudioRef(i)``,
    after the token history of an exact follow-up. InputTooLongError when it leaves no room
    in the model's ``context_groups`` (the one length check: only the built prompt knows it)."""
    args = {name: _fill(value, codes) for name, value in prepared.args.items()}
    prompt = prepared.build(builder, **args)
    if prepared.history is not None:
        prompt = with_history(prepared.history, prompt)
    check_context(prompt.shape[1] // GROUP_SIZE, context_groups)
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
    spec_of(request)                                   # a task request, or PromptError
    check_options(request.options)
    return PLANNERS[type(request)](request, limits)


# ------------------------------------------------------------------------------ per task
def _fewest_samples(frames: int) -> int:
    """The shortest waveform the audio tokenizer makes ``frames`` code frames of."""
    cfg, mel_frames = real_config(), 1
    while code_frames((mel_frames - 1) * cfg.hop_length, cfg) < frames:
        mel_frames += 1
    return (mel_frames - 1) * cfg.hop_length


# Speech continuation continues whole groups of the recording (FORMAT.md section 6): one at least.
CONTINUE_MIN_SAMPLES = _fewest_samples(GROUP_SIZE)


def prepare_continue(r, limits: Limits) -> Prepared:
    check_duration(r.duration_s, limits)
    p = Prepared(spec_of(r), PromptBuilder.speech_continuation, {}, requested_groups=requested_groups(r))
    wav = load_input_audio(r.audio, "prompt audio", limits)
    if wav.size < CONTINUE_MIN_SAMPLES:
        raise PromptError(f"prompt audio is too short to continue: {1000 * wav.size / SAMPLE_RATE:.0f} ms; "
                          f"speech continuation needs at least {1000 * CONTINUE_MIN_SAMPLES / SAMPLE_RATE:.0f} ms "
                          f"({GROUP_SIZE} codec frames)")
    p.args["codes"] = p.wave(wav)
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
    p = Prepared(spec_of(r), PromptBuilder.few_shot_s2s, {"instruction": instruction})
    p.args["examples"] = [FewShotPair(p.wave(i), t, p.wave(o)) for i, t, o in examples]
    p.args["query_codes"] = p.wave(query)
    return p


def prepare_tts(r, limits: Limits) -> Prepared:
    text = check_text(r.text, "TTS text", limits)
    instruct = r.instruct if check_text(r.instruct, "style instruction", limits, required=False).strip() else None
    if r.template is not None:
        check_text(r.template, "TTS template", limits)
    if tts_uses_natural_layout(r.natural, instruct, r.voice_prompt is not None) and r.template is not None:
        raise PromptError("a TTS template applies only to template-style prompts, "
                          "not to natural-instruction or voice-prompt-only TTS")
    if r.natural and instruct is not None:
        raise PromptError("natural-instruction TTS takes its style inside the text, not as instruct")
    p = Prepared(spec_of(r), PromptBuilder.tts, {"text": text, "template": r.template, "instruct": instruct,
                                                 "natural": r.natural, "voice_codes": None},
                 opens_thinking=tts_opens_thinking(r.natural, instruct, r.voice_prompt is not None))
    if r.voice_prompt is not None:
        p.args["voice_codes"] = p.wave(load_voice_prompt(r.voice_prompt, "voice prompt", limits))
    return p


def prepare_asr(r, limits: Limits) -> Prepared:
    if r.template is not None:
        check_text(r.template, "ASR template", limits)
    if r.language is not None and r.language not in LANGUAGES:
        raise PromptError(f"unknown language {r.language!r}: use one of {', '.join(LANGUAGES)}")
    p = Prepared(spec_of(r), PromptBuilder.asr, {"template": r.template, "language": r.language})
    p.args["codes"] = p.wave(load_input_audio(r.audio, "audio", limits))
    return p


def prepare_understand(r, limits: Limits) -> Prepared:
    question = check_text(r.question, "question", limits)
    p = Prepared(spec_of(r), PromptBuilder.audio_understanding, {"question": question, "thinking": bool(r.thinking)},
                 opens_thinking=bool(r.thinking))
    p.args["codes"] = p.wave(load_input_audio(r.audio, "audio", limits))
    return p


# ------------------------------------------------------------------------------ dialogues
_DIALOGUE_BUILDERS: dict[type, Callable[..., torch.Tensor]] = {
    DialogueRequest: PromptBuilder.spoken_dialogue, S2TRequest: PromptBuilder.s2t_dialogue,
    ChatRequest: PromptBuilder.text_dialogue}


def _conversation(conv: Optional[Conversation], task: str) -> Optional[Conversation]:
    if conv is None:
        return None
    if not isinstance(conv, Conversation):
        raise PromptError(f"conversation must be a Conversation, got {type(conv).__name__}")
    if conv.task and conv.task != task:
        raise PromptError(f"this conversation belongs to the {conv.task!r} task, not {task!r}")
    if conv.tokens is None and not conv.turns:
        return None                                      # an empty conversation: start afresh
    conv = dataclasses.replace(conv, task=task)          # the reply's conversation names its task
    if conv.tokens is not None:
        tokens = np.asarray(conv.tokens)
        if (tokens.ndim != 2 or tokens.shape[0] != STREAMS or not tokens.shape[1]
                or tokens.shape[1] % GROUP_SIZE or tokens.dtype.kind not in "iu"):
            raise PromptError(f"conversation history must be [{STREAMS}, multiple of {GROUP_SIZE}] integer "
                              f"tokens, got {tokens.dtype} {tuple(tokens.shape)}")
    return conv


def _history_turns(p: Prepared, conv: Conversation, limits: Limits) -> list[DialogueTurn]:
    """Display turns of a token-less conversation as builder turns, their audio loaded and checked."""
    task, turns = p.task, []
    for n, turn in enumerate(conv.turns, 1):
        if not isinstance(turn, Turn):
            raise PromptError(f"conversation turn {n} is a {type(turn).__name__}, expected Turn")
        if turn.role not in ("user", "assistant"):
            raise PromptError(f"conversation turn {n} has role {turn.role!r}: use 'user' or 'assistant'")
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
    if turns and (turns[0].role != "user" or turns[-1].role != "assistant"):
        raise PromptError("a conversation to continue must start with a user turn and end with an "
                          "assistant turn")
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
        p.args["voice_codes"] = p.wave(load_voice_prompt(r.voice_prompt, "voice prompt", limits))


def prepare_dialogue(r, limits: Limits) -> Prepared:
    """Spoken dialogue, speech-to-text dialogue and text chat: one user turn on a conversation."""
    spec = spec_of(r)
    p = Prepared(spec, _DIALOGUE_BUILDERS[type(r)], {})
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
        p.args["thinking"] = p.opens_thinking = bool(r.thinking)
    if conv is not None and conv.tokens is not None:                 # exact follow-up
        p.history = np.asarray(conv.tokens)
        p.args["messages"] = [user]
    else:
        past = _history_turns(p, conv, limits) if conv is not None else []
        p.args["messages"] = past + [user]
    return p


# Each request type's planner: the facade's one dispatch (the registry, torch-free, names none).
PLANNERS: dict[type, Callable[[Any, Limits], Prepared]] = {
    ContinueRequest: prepare_continue, S2SRequest: prepare_s2s, TTSRequest: prepare_tts,
    ASRRequest: prepare_asr, UnderstandRequest: prepare_understand, DialogueRequest: prepare_dialogue,
    S2TRequest: prepare_dialogue, ChatRequest: prepare_dialogue,
}
assert set(PLANNERS) == {spec.request for spec in TASKS.values()}, "a task without a planner"
