"""Request -> prompt, in two phases so that nothing runs before every input is checked.

1. :func:`prepare` (no model): validates texts, options and examples against the limits and
   loads every audio input (24 kHz waveforms). All user errors surface here.
2. :meth:`Prepared.build` (needs the audio tokenizer and the text tokenizer): encodes the
   waveforms to codes and builds the ``[K, T]`` prompt with :class:`PromptBuilder`.

Conversations: a :class:`Conversation` with ``tokens`` continues exactly from that token
history (the reference's ``add_history``); one with only display ``turns`` is rebuilt as a
multi-turn prompt (audio of past turns re-encoded); none starts a new conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from ..errors import PromptError
from ..prompts import DEFAULT_DIALOGUE_SYSTEM_PROMPT, DialogueTurn, FewShotPair, PromptBuilder, with_history
from .defaults import groups_for_seconds
from .inputs import load_input_audio
from .limits import Limits, check_duration, check_example_count, check_options, check_text
from .types import (REQUEST_TYPES, ASRRequest, ContinueRequest, Conversation, FewShotExample, S2SRequest,
                    TaskRequest, TTSRequest, Turn, UnderstandRequest)

Encode = Callable[[np.ndarray], torch.Tensor]          # wav [N] -> codes [8, T]
DIALOGUE_TASKS = ("dialogue", "s2t", "chat")


@dataclass
class Prepared:
    """A checked request with its audio loaded; ``build`` turns it into the prompt."""

    task: str
    build_fn: Callable[[PromptBuilder, Encode], torch.Tensor]
    requested_groups: Optional[int] = None             # continuation: groups for the duration
    conversation: Optional[Conversation] = None        # the conversation this turn continues
    user_turn: Optional[Turn] = None                   # dialogue tasks: this turn, for display
    system_prompt: Optional[str] = None                # dialogue: the system prompt in effect

    def build(self, builder: PromptBuilder, encode: Encode) -> torch.Tensor:
        return self.build_fn(builder, encode)


# ------------------------------------------------------------------------------ helpers
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


def _history_turns(conv: Conversation, task: str, limits: Limits) -> list[tuple[Turn, Optional[np.ndarray]]]:
    """Display turns of a token-less conversation, their audio loaded and checked."""
    out = []
    for n, turn in enumerate(conv.turns, 1):
        wav = None
        needs_audio = task == "dialogue" or (task == "s2t" and turn.role == "user")
        if needs_audio:
            if turn.audio is None:
                raise PromptError(f"conversation turn {n} ({turn.role}) has no audio")
            wav = load_input_audio(turn.audio, f"conversation turn {n} audio", limits)
        if turn.role == "assistant" or task == "chat":
            check_text(turn.text, f"conversation turn {n} text", limits,
                       required=not (task == "dialogue" and turn.role == "assistant"))
        out.append((turn, wav))
    if out and out[-1][0].role != "assistant":
        raise PromptError("a conversation to continue must end with an assistant turn")
    return out


def _dialogue_turns(history, task: str, encode: Encode, user: DialogueTurn) -> list[DialogueTurn]:
    turns = []
    for turn, wav in history:
        codes = encode(wav) if wav is not None else None
        turns.append(DialogueTurn(turn.role, text=turn.text or "", codes=codes)
                     if (turn.role == "assistant" or task == "chat")
                     else DialogueTurn(turn.role, codes=codes))
    return turns + [user]


# ------------------------------------------------------------------------------ per task
def _prepare_continue(r: ContinueRequest, limits: Limits) -> Prepared:
    seconds = check_duration(r.duration_s, limits)
    wav = load_input_audio(r.audio, "prompt audio", limits)
    return Prepared("continue", lambda b, enc: b.speech_continuation(enc(wav)),
                    requested_groups=groups_for_seconds(seconds))


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


def _prepare_s2s(r: S2SRequest, limits: Limits) -> Prepared:
    instruction = check_text(r.instruction, "few-shot instruction", limits)
    examples = _check_examples(r.examples, limits)
    wav = load_input_audio(r.audio, "query audio", limits)

    def build(b: PromptBuilder, enc: Encode) -> torch.Tensor:
        pairs = [FewShotPair(enc(i), t, enc(o)) for i, t, o in examples]
        return b.few_shot_s2s(instruction, pairs, enc(wav))
    return Prepared("s2s", build)


def _prepare_tts(r: TTSRequest, limits: Limits) -> Prepared:
    text = check_text(r.text, "TTS text", limits)
    instruct = check_text(r.instruct, "style instruction", limits, required=False) or None
    if r.template is not None:
        check_text(r.template, "TTS template", limits)
    voice = load_input_audio(r.voice_prompt, "voice prompt", limits) if r.voice_prompt is not None else None

    def build(b: PromptBuilder, enc: Encode) -> torch.Tensor:
        return b.tts(text, template=r.template, instruct=instruct,
                     voice_codes=enc(voice) if voice is not None else None, natural=r.natural)
    return Prepared("tts", build)


def _prepare_asr(r: ASRRequest, limits: Limits) -> Prepared:
    if r.template is not None:
        check_text(r.template, "ASR template", limits)
    wav = load_input_audio(r.audio, "audio", limits)
    return Prepared("asr", lambda b, enc: b.asr(enc(wav), template=r.template, language=r.language))


def _prepare_understand(r: UnderstandRequest, limits: Limits) -> Prepared:
    question = check_text(r.question, "question", limits)
    wav = load_input_audio(r.audio, "audio", limits)
    return Prepared("understand", lambda b, enc: b.audio_understanding(enc(wav), question, thinking=r.thinking))


def _prepare_dialogue(r, task: str, limits: Limits) -> Prepared:
    """Spoken dialogue, speech-to-text dialogue and text chat (one user turn on a conversation)."""
    conv = _conversation(r.conversation, task)
    if task == "chat":
        user_text = check_text(r.text, "message", limits)
        wav, user = None, DialogueTurn("user", text=user_text)
        user_turn = Turn("user", text=user_text)
    else:
        wav = load_input_audio(r.audio, "audio", limits)
        user, user_turn = None, Turn("user", audio=wav)
    system_prompt = voice = None
    if task == "dialogue":
        if conv is not None and conv.system_prompt is not None:
            system_prompt = conv.system_prompt
        elif r.system_prompt is None:
            system_prompt = DEFAULT_DIALOGUE_SYSTEM_PROMPT
        else:
            system_prompt = check_text(r.system_prompt, "system prompt", limits, required=False)
        if r.voice_prompt is not None and (conv is None or conv.tokens is None):
            voice = load_input_audio(r.voice_prompt, "voice prompt", limits)
    history = _history_turns(conv, task, limits) if conv is not None and conv.tokens is None else None

    def build(b: PromptBuilder, enc: Encode) -> torch.Tensor:
        this = user if user is not None else DialogueTurn("user", codes=enc(wav))
        if conv is not None and conv.tokens is not None:          # exact follow-up
            if task == "dialogue":
                return b.spoken_dialogue_followup(conv.tokens, this.codes)
            turn = b.s2t_dialogue([this]) if task == "s2t" else b.text_dialogue([this])
            return with_history(conv.tokens, turn)       # length checked by the caller
        turns = _dialogue_turns(history or [], task, enc, this)
        if task == "dialogue":
            return b.spoken_dialogue(turns, system_prompt=system_prompt,
                                     voice_codes=enc(voice) if voice is not None else None)
        return b.s2t_dialogue(turns) if task == "s2t" else b.text_dialogue(turns)

    return Prepared(task, build, conversation=conv, user_turn=user_turn, system_prompt=system_prompt)


_PREPARERS = {
    "continue": _prepare_continue,
    "s2s": _prepare_s2s,
    "tts": _prepare_tts,
    "asr": _prepare_asr,
    "understand": _prepare_understand,
    "dialogue": lambda r, lim: _prepare_dialogue(r, "dialogue", lim),
    "s2t": lambda r, lim: _prepare_dialogue(r, "s2t", lim),
    "chat": lambda r, lim: _prepare_dialogue(r, "chat", lim),
}


def task_of(request) -> str:
    """The task name of a request object (PromptError for anything else)."""
    if isinstance(request, REQUEST_TYPES):
        return request.task
    raise PromptError(f"not a task request: {type(request).__name__}")


def prepare(request: TaskRequest, limits: Limits) -> Prepared:
    """Check ``request`` and load its audio; raises a typed one-line error on bad input."""
    task = task_of(request)
    check_options(request.options)
    return _PREPARERS[task](request, limits)
