"""Prompt builders: task inputs -> the ``[K, T]`` prompt matrix, one per task (docs/FORMAT.md section 6).

Notation in the docstrings: ``[x]`` is one text segment (tokenized on its own), ``A(c)`` an
audio segment (``<|sosp|>``, the codes, ``<|eosp|>``), ``I(text, c)`` an interleaved segment.
Audio inputs are codes ``[C>=8, T]`` from the audio tokenizer (channels 0..7 are used).

User-supplied text (TTS text, instructions, questions, messages, transcripts, system prompts,
template overrides) is tokenized as plain text: control tokens typed into it have no effect
(see :mod:`.text_encoding`). Only TTS text is capitalised when single-case (reference rule).

The builders *assert* their inputs: what a user sends is checked once, before any audio is
encoded, by the task layer's planning (:mod:`mimo_core.tasks.planning`), which uses the
layout rules below (:func:`tts_uses_natural_layout`, :func:`tts_opens_thinking`). A failed
assertion here is a bug in the caller, not a user error; the prompt's length against the
model's context is the caller's to check (:func:`mimo_core.context.check_context`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch

from ..constants import GROUP_SIZE, STREAMS
from ..text.special_ids import SpecialIds
from . import templates as tpl
from .segments import (RELEASE_SPEECH_EMPTY_IDS, audio_segment, check_codes, concat_segments,
                       interleaved_segment, parse_empty_ids, text_segment)
from .text_encoding import Markup, TextEncoder

USER = Markup("<|im_start|>user\n")
ASSISTANT = Markup("<|im_start|>assistant\n")
SYSTEM = Markup("<|im_start|>system\n")
END = Markup("<|im_end|>\n")


@dataclass(frozen=True)
class DialogueTurn:
    """One past or current turn. User turns carry ``codes`` (speech dialogues) or ``text``
    (text chat); assistant turns carry ``text`` and, in spoken dialogue, the ``codes`` of what
    the assistant said."""

    role: Literal["user", "assistant"]
    text: str | None = None
    codes: Any = None                 # [C>=8, T] audio codes (tensor or array)


@dataclass(frozen=True)
class FewShotPair:
    """One few-shot example: input speech, the transcript of the output speech, output speech."""

    input_codes: Any
    transcript: str
    output_codes: Any


def with_history(history, turn_prompt: torch.Tensor) -> torch.Tensor:
    """Follow-up prompt: the previous call's prompt + generated groups, then this turn's prompt.

    This is the reference's ``add_history``: the history is prepended unchanged, including the
    previous call's final stop group and without closing that turn. ``history``: ``[K, H]``
    (tensor or array), H a multiple of P.
    """
    hist = torch.as_tensor(history).to(torch.long)
    assert hist.dim() == 2 and hist.shape[0] == STREAMS and hist.shape[1] % GROUP_SIZE == 0, \
        f"conversation history must be [{STREAMS}, multiple of {GROUP_SIZE}], got {tuple(hist.shape)}"
    return torch.cat([hist, turn_prompt], dim=1)


def tts_uses_natural_layout(natural: bool, instruct: str | None, has_voice: bool) -> bool:
    """Whether :meth:`PromptBuilder.tts` uses the natural-instruction layout: asked for, or a
    voice prompt without a style instruction (``instruct`` None when blank)."""
    return bool(natural) or (has_voice and instruct is None)


def tts_opens_thinking(natural: bool, instruct: str | None, has_voice: bool) -> bool:
    """Whether a TTS prompt ends with an open think block: every layout but the plain one."""
    return instruct is not None or tts_uses_natural_layout(natural, instruct, has_voice)


def _require_text(value, what: str) -> str:
    assert isinstance(value, str) and value.strip(), f"{what} is empty"
    return value


def _optional_text(value) -> str | None:
    """``None`` for a missing or blank optional text (instruction, system prompt)."""
    assert value is None or isinstance(value, str), f"expected text, got {type(value).__name__}"
    return value if value is not None and value.strip() else None


class PromptBuilder:
    """Builds every task's prompt for one text tokenizer.

    ``empty_ids``: the per-channel empty ids (the LM config's ``speech_zeroemb_idx``).
    """

    def __init__(self, tokenizer, special_ids: SpecialIds,
                 empty_ids: str | Sequence[int] = RELEASE_SPEECH_EMPTY_IDS):
        self.tokenizer = tokenizer
        self.ids = special_ids
        self.empty_ids = parse_empty_ids(empty_ids)
        self.encoder = TextEncoder(tokenizer, special_ids)

    # ------------------------------------------------------------------ segment shortcuts
    def text(self, *parts: str | Markup) -> torch.Tensor:
        """``[parts]``: one text segment from markup and plain-text parts."""
        return text_segment(self.encoder.encode(*parts), self.empty_ids)

    def markup(self, text: str) -> torch.Tensor:
        """``[text]`` for a trusted template string (its special tokens are meant)."""
        return self.text(Markup(text))

    def audio(self, codes, what: str = "audio") -> torch.Tensor:
        """``A(codes)``: ``<|sosp|>`` group, audio groups (padded to P frames), ``<|eosp|>`` group."""
        codes = self._codes(codes, what)
        return audio_segment(codes, self.ids.empty, self.empty_ids,
                             sosp_id=self.ids.sosp, eosp_id=self.ids.eosp)

    def interleaved(self, text: str, codes, what: str = "audio") -> torch.Tensor:
        """``I(text, codes)``: ``<|sostm|>``, 5 text tokens / 5 audio groups alternately, ``<|eostm|>``."""
        codes = self._codes(codes, what)
        return interleaved_segment(
            self.encoder.encode(text), codes, sostm_id=self.ids.sostm, eot_id=self.ids.eot,
            eostm_id=self.ids.eostm, empty_text_id=self.ids.empty, empty_ids=self.empty_ids)

    def _codes(self, codes, what: str) -> torch.Tensor:
        assert codes is not None, f"{what} is missing"
        return check_codes(codes, self.empty_ids)

    def _think(self, thinking: bool) -> torch.Tensor:
        return self.markup(tpl.THINK_ON if thinking else tpl.THINK_OFF)

    # ------------------------------------------------------------------------ tasks
    def asr(self, codes, template: str | None = None, language: str | None = None) -> torch.Tensor:
        """ASR: ``[<|im_start|>user\\n] A [template] [<|im_end|>\\n] [<|im_start|>assistant\\n]
        [<think>\\n\\n</think>\\n]``; template by ``language`` (en default, zh) unless given."""
        request = tpl.asr_template(language, template)
        return concat_segments([self.text(USER), self.audio(codes), self.text(request), self.text(END),
                                self.text(ASSISTANT), self._think(False)])

    def tts(self, text: str, template: str | None = None, language: str | None = None, *,
            instruct: str | None = None, voice_codes=None, natural: bool = False) -> torch.Tensor:
        """Text to speech, in the layout the inputs call for.

        * plain: ``[<|im_start|>user\\n{template}: {text}<|im_end|>\\n] [<|im_start|>assistant\\n<|sostm|>]``;
        * ``instruct``: style system block, user ``{template}: {text}({instruct})``, ``<think>\\n``;
        * ``voice_codes`` (+ ``instruct``): voice system block with ``A(voice)`` instead;
        * ``natural=True``, or ``voice_codes`` without ``instruct``: :meth:`natural_tts` (the
          user turn is the bare text). The reference, asked for a voice prompt without an
          instruction in its template mode, silently drops the voice; we use its voice-cloning
          layout (pinned by the ``tts_voice_clone`` golden) instead.

        The template is chosen by ``language`` or by the text (CJK -> zh) unless given; a blank
        ``instruct`` counts as none. Single-case text is capitalised.
        """
        instruct = _optional_text(instruct)
        if tts_uses_natural_layout(natural, instruct, voice_codes is not None):
            assert template is None, "a TTS template applies only to template-style prompts"
            assert not (natural and instruct is not None), "natural-instruction TTS takes no instruct"
            return self.natural_tts(text, voice_codes=voice_codes)
        raw = _require_text(text, "TTS text")
        request = tpl.tts_template(raw, language, template)
        spoken = tpl.capitalize_single_case(raw)
        if instruct is None:
            return concat_segments([
                self.text(USER, request, Markup(": "), spoken, END),
                self.markup("<|im_start|>assistant\n<|sostm|>"),
            ])
        return concat_segments(self._tts_system(voice_codes) + [
            self.text(USER, request, Markup(": "), spoken, Markup("("), instruct, Markup(")"), END),
            self.markup("<|im_start|>assistant\n" + tpl.THINK_ON),
        ])

    def natural_tts(self, text: str, voice_codes=None) -> torch.Tensor:
        """Natural-instruction TTS (style written inside the text): style or voice system block,
        ``[<|im_start|>user\\n{text}<|im_end|>\\n]``, ``[<|im_start|>assistant\\n<think>\\n]``."""
        spoken = tpl.capitalize_single_case(_require_text(text, "TTS text"))
        return concat_segments(self._tts_system(voice_codes) + [
            self.text(USER, spoken, END),
            self.markup("<|im_start|>assistant\n" + tpl.THINK_ON),
        ])

    def _tts_system(self, voice_codes) -> list[torch.Tensor]:
        if voice_codes is None:
            return [self.text(SYSTEM), self.text(tpl.TTS_STYLE_SYSTEM), self.text(END)]
        return [self.text(SYSTEM), self.text(tpl.TTS_VOICE_SYSTEM),
                self.audio(voice_codes, "voice prompt"), self.text(END)]

    def audio_understanding(self, codes, question: str, thinking: bool = False) -> torch.Tensor:
        """``[<|im_start|>user\\n] A [question] [<|im_end|>\\n] [<|im_start|>assistant\\n]`` then
        ``[<think>\\n\\n</think>\\n]`` (thinking off) or ``[<think>\\n]`` (thinking on)."""
        question = _require_text(question, "question")
        return concat_segments([self.text(USER), self.audio(codes), self.text(question), self.text(END),
                                self.text(ASSISTANT), self._think(thinking)])

    def speech_continuation(self, codes) -> torch.Tensor:
        """Speech continuation (Base; inferred, docs/FORMAT.md section 6): ``[<|sosp|>]`` then the prompt's
        audio groups without markers, codes *trimmed* (not padded) to a multiple of P frames, and
        no closing ``<|eosp|>``, so the model goes on speaking."""
        codes = self._codes(codes, "prompt audio")
        return concat_segments([
            self.markup("<|sosp|>"),
            audio_segment(codes, self.ids.empty, self.empty_ids, fit="trim"),
        ])

    def few_shot_s2s(self, instruction: str, examples: Sequence[FewShotPair | tuple],
                     query_codes) -> torch.Tensor:
        """Few-shot speech-to-speech (Base): ``[[Int]:{instruction}\\n]``; per example
        ``A(in) [\\n] I(transcript, out) [ \\n\\n]``; then ``A(query) [\\n] [<|sostm|>]``."""
        instruction = _require_text(instruction, "few-shot instruction")
        pairs = _check_pairs(examples)
        segments = [self.text(Markup(tpl.FEW_SHOT_INSTRUCTION_PREFIX), instruction, Markup("\n"))]
        for n, pair in enumerate(pairs, 1):
            segments += [
                self.audio(pair.input_codes, f"few-shot example {n} input audio"),
                self.markup("\n"),
                self.interleaved(pair.transcript, pair.output_codes, f"few-shot example {n} output audio"),
                self.markup(" \n\n"),
            ]
        segments += [self.audio(query_codes, "query audio"), self.markup("\n"), self.markup("<|sostm|>")]
        return concat_segments(segments)

    # --------------------------------------------------------------------- dialogues
    def spoken_dialogue(self, messages, system_prompt: str | None = None,
                        voice_codes=None) -> torch.Tensor:
        """Spoken dialogue (speech in, speech + text out), single- or multi-turn.

        ``messages``: user speech codes, or :class:`DialogueTurn` s (user: ``codes``; assistant:
        ``text`` + ``codes``), starting and ending with a user turn. Layout: optional voice block
        ``[<|im_start|>system\\n] [Your voice should be:] A(voice) [<|im_end|>\\n]``; user turns
        ``[<|im_start|>user\\n]`` (+ ``[system_prompt] [\\n\\n]`` on the first only) ``A [<|im_end|>\\n]``;
        assistant turns ``[<|im_start|>assistant\\n] I(text, codes) [<|im_end|>\\n]``; finally
        ``[<|im_start|>assistant\\n<|sostm|>]``. A blank system prompt counts as none.
        """
        turns = _as_turns(messages, "codes")
        system_prompt = _optional_text(system_prompt)
        segments = []
        if voice_codes is not None:
            segments += [self.text(SYSTEM), self.text(tpl.DIALOGUE_VOICE_PREFIX),
                         self.audio(voice_codes, "voice prompt"), self.text(END)]
        for n, turn in enumerate(turns):
            if turn.role == "user":
                segments.append(self.text(USER))
                if n == 0 and system_prompt is not None:
                    segments += [self.text(system_prompt), self.markup("\n\n")]
                segments += [self.audio(turn.codes, f"turn {n + 1} user audio"), self.text(END)]
            else:
                text = turn.text if turn.text is not None else ""
                segments += [self.text(ASSISTANT),
                             self.interleaved(text, turn.codes, f"turn {n + 1} assistant audio"),
                             self.text(END)]
        segments.append(self.markup("<|im_start|>assistant\n<|sostm|>"))
        return concat_segments(segments)

    def s2t_dialogue(self, messages, thinking: bool = False) -> torch.Tensor:
        """Speech-to-text dialogue: user turns ``[<|im_start|>user\\n] A [<|im_end|>\\n]``, past
        assistant turns ``[<|im_start|>assistant\\n] [text] [<|im_end|>\\n]``, then
        ``[<|im_start|>assistant\\n]`` and a think segment. ``messages``: codes or turns."""
        turns = _as_turns(messages, "codes")
        segments = []
        for n, turn in enumerate(turns):
            if turn.role == "user":
                segments += [self.text(USER), self.audio(turn.codes, f"turn {n + 1} user audio"),
                             self.text(END)]
            else:
                segments += self._assistant_text(turn, n)
        return concat_segments(segments + [self.text(ASSISTANT), self._think(thinking)])

    def text_dialogue(self, messages, thinking: bool = False) -> torch.Tensor:
        """Text dialogue: like :meth:`s2t_dialogue` with ``[text]`` where the user audio was.
        ``messages``: the user's text, or turns (user and assistant ``text``)."""
        turns = _as_turns(messages, "text")
        segments = []
        for n, turn in enumerate(turns):
            if turn.role == "user":
                message = _require_text(turn.text, f"turn {n + 1} user message")
                segments += [self.text(USER), self.text(message), self.text(END)]
            else:
                segments += self._assistant_text(turn, n)
        return concat_segments(segments + [self.text(ASSISTANT), self._think(thinking)])

    def _assistant_text(self, turn: DialogueTurn, n: int) -> list[torch.Tensor]:
        text = _require_text(turn.text, f"turn {n + 1} assistant text")
        return [self.text(ASSISTANT), self.text(text), self.text(END)]


def _as_turns(messages, user_field: str) -> list[DialogueTurn]:
    """Normalise ``messages`` (one user input, or a sequence of turns); assert their shape."""
    if isinstance(messages, str) or torch.is_tensor(messages) or hasattr(messages, "__array__"):
        messages = [DialogueTurn("user", **{user_field: messages})]
    turns = list(messages)
    assert turns, "the conversation has no turns"
    for n, turn in enumerate(turns, 1):
        assert isinstance(turn, DialogueTurn), f"turn {n} is a {type(turn).__name__}, expected DialogueTurn"
        assert turn.role in ("user", "assistant"), f"turn {n} has role {turn.role!r}"
        assert turn.role != "user" or getattr(turn, user_field) is not None, \
            f"turn {n} (user) has no {'audio' if user_field == 'codes' else 'text'}"
    assert turns[0].role == "user" and turns[-1].role == "user", "a conversation must start and end with a user turn"
    return turns


def _check_pairs(examples) -> list[FewShotPair]:
    pairs = []
    for n, ex in enumerate(examples, 1):
        if isinstance(ex, tuple):
            assert len(ex) == 3, f"few-shot example {n} must be (input audio, transcript, output audio)"
            ex = FewShotPair(*ex)
        assert isinstance(ex, FewShotPair), f"few-shot example {n} is a {type(ex).__name__}, expected FewShotPair"
        assert ex.input_codes is not None and ex.output_codes is not None, \
            f"few-shot example {n} has no {'input' if ex.input_codes is None else 'output'} audio"
        _require_text(ex.transcript, f"few-shot example {n} transcript")
        pairs.append(ex)
    assert pairs, "few-shot speech-to-speech needs at least one example pair"
    return pairs
