"""Reading a generation's output (docs/FORMAT.md section 8), reproducing the reference exactly.

Input: the generated groups ``[K, 4 * G]`` (the columns after the prompt; in generated groups
the reference repeats the sampled text id in all four columns of row 0).

Text: the text id of every generated group except the last, decoded with special tokens kept,
stripped, then ``<|empty|>``, ``<|eot|>`` and ``<|eostm|>`` removed. Other special tokens
(``<|eosp|>``...) stay in the text, as in the reference: that is ``text``, the exact one.

What people see (docs/FORMAT.md section 8) is read from the same ids once: the ids decoded
without any markup (every id of :func:`~mimo_core.text.special_ids.markup_ids`), split into
the reasoning and the answer (:func:`mimo_core.thinking.split_thinking`, given whether the
prompt opened a think block): ``thinking`` and ``answer``.

Audio: the codes between one group after the first ``<|sostm|>`` (or the start) and the first
``<|eostm|>`` (or the end), looking only at the groups kept for the text; frames whose
channel-0 code is that channel's empty id (text groups) are dropped. The result
``[C=8, N]`` is what the audio tokenizer decodes. When no frame is left the reference writes
:data:`REFERENCE_SILENCE_SECONDS` of zeros instead; :attr:`ExtractedOutput.is_silence` flags it.

Reference quirk, kept on purpose (exactness first): the last generated group is dropped from
both text and audio *even when generation stopped at the length limit* (not on a stop token),
so a real last token and its 4 frames are lost. ``keep_last_group=True`` keeps it; use it only
when the caller knows the last group is not a stop token and parity is not required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..constants import GROUP_SIZE, LM_CHANNELS, STREAMS
from ..errors import PromptError
from ..text.special_ids import SpecialIds, markup_ids
from ..thinking import split_thinking
from .segments import RELEASE_SPEECH_EMPTY_IDS, parse_empty_ids

REFERENCE_SILENCE_SECONDS = 1.0   # what the reference writes when no speech frame is left
REMOVED_FROM_TEXT = ("<|empty|>", "<|eot|>", "<|eostm|>")


@dataclass(frozen=True)
class ExtractedOutput:
    text: str                  # cleaned text, the reference's (see module docstring)
    text_ids: list[int]        # the per-group text ids the text was decoded from
    codes: torch.Tensor        # [C=8, N] int64 codes to decode to audio (N may be 0)
    is_silence: bool           # N == 0: the reference outputs REFERENCE_SILENCE_SECONDS of zeros
    thinking: str = ""         # the reasoning, without markup ("" when the model did not think)
    answer: str = ""           # the rest, without markup: what people see (and hear said)


def clean_decoded_text(decoded: str) -> str:
    """Strip, then remove ``<|empty|>``, ``<|eot|>`` and ``<|eostm|>`` (in the reference's order)."""
    text = decoded.strip()
    for token in REMOVED_FROM_TEXT:
        text = text.replace(token, "")
    return text


def decode_text(tokenizer, text_ids: Sequence[int]) -> str:
    """Decode text ids with special tokens kept, then :func:`clean_decoded_text`."""
    decoded = tokenizer.decode([int(i) for i in text_ids], skip_special_tokens=False)
    return clean_decoded_text(decoded)


class OutputReader:
    """The one output rule, one generated group at a time: the text so far and the frames that
    are part of the output audio. :func:`extract_output` is a replay of it, and the task layer's
    streaming tracker drives it live, so a streamed and a one-shot result cannot diverge.

    Each group is held back until the next one arrives, because the reference drops the last
    generated group from text and audio (``keep_last_group=True`` keeps it at :meth:`finish`).
    ``opened_thinking``: the prompt ended with an open think block (planning says so).
    """

    def __init__(self, tokenizer, special_ids: SpecialIds,
                 empty_ids: str | Sequence[int] = RELEASE_SPEECH_EMPTY_IDS, *, keep_last_group: bool = False,
                 opened_thinking: bool = False):
        self.tokenizer, self.ids = tokenizer, special_ids
        self.empty0 = int(parse_empty_ids(empty_ids)[0])
        self.keep_last_group = keep_last_group
        self.opened_thinking = opened_thinking
        self.markup = markup_ids(tokenizer, special_ids)
        self.text_ids: list[int] = []
        self.kept: list[torch.Tensor] = []          # output frames so far, (C, t) each
        self.sostm_seen = self.ended = False
        self._pending: tuple[int, torch.Tensor] | None = None

    def push(self, text_id: int, codes: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """Take one generated group (text id, codes ``(P, C)``); return the groups committed now
        as ``(text id, frames (C, t) added to the output)``."""
        committed = [self._commit(*self._pending)] if self._pending is not None else []
        self._pending = (int(text_id), codes)
        return committed

    def finish(self) -> list[tuple[int, torch.Tensor]]:
        """End of generation: the held-back group is dropped (or committed with keep_last_group)."""
        pending, self._pending = self._pending, None
        return [self._commit(*pending)] if (pending is not None and self.keep_last_group) else []

    def _commit(self, text_id: int, codes: torch.Tensor) -> tuple[int, torch.Tensor]:
        self.text_ids.append(text_id)
        none = codes.new_zeros((codes.shape[1], 0))                  # (C, 0)
        if text_id == self.ids.sostm and not self.sostm_seen:
            # the output starts one group after the first <|sostm|>: what came before is not part
            # of it, and when <|eostm|> already came, nothing is (the slice is empty)
            self.sostm_seen, self.kept = True, []
            return text_id, none
        if text_id == self.ids.eostm:
            self.ended = True
        if self.ended:
            return text_id, none
        frames = codes.T[:, codes[:, 0] != self.empty0]             # (C, t) frames with audio
        if frames.shape[1]:
            self.kept.append(frames)
        return text_id, frames

    def text(self) -> str:
        """The exact text so far (the reference's rule)."""
        return decode_text(self.tokenizer, self.text_ids)

    def thinking_and_answer(self, final: bool = True) -> tuple[str, str]:
        """``(thinking, answer)`` so far, without markup. ``final=False`` (more groups may come):
        only what later groups cannot change (an incomplete character or a ``</think>`` that may
        be arriving is held back), so that the parts only ever grow."""
        shown = [i for i in self.text_ids if i not in self.markup]
        visible = self.tokenizer.decode(shown, skip_special_tokens=False)
        if not final:
            visible = visible.rstrip("\ufffd")               # a character still arriving
        return split_thinking(visible, self.opened_thinking, final=final)

    def output(self) -> ExtractedOutput:
        codes = (torch.cat(self.kept, dim=1) if self.kept
                 else torch.zeros(LM_CHANNELS, 0, dtype=torch.long))
        thinking, answer = self.thinking_and_answer()
        return ExtractedOutput(text=self.text(), text_ids=list(self.text_ids), codes=codes.to(torch.long),
                               is_silence=codes.shape[1] == 0, thinking=thinking, answer=answer)


def extract_output(new_ids, tokenizer, special_ids: SpecialIds,
                   empty_ids: str | Sequence[int] = RELEASE_SPEECH_EMPTY_IDS,
                   *, keep_last_group: bool = False, opened_thinking: bool = False) -> ExtractedOutput:
    """Text and audio codes of the generated groups ``new_ids`` ``[K, 4 * G]``: a replay of
    :class:`OutputReader` over every group."""
    new_ids = _check_new_ids(torch.as_tensor(new_ids)).to(torch.long)
    reader = OutputReader(tokenizer, special_ids, empty_ids, keep_last_group=keep_last_group,
                          opened_thinking=opened_thinking)
    for g in range(new_ids.shape[1] // GROUP_SIZE):
        group = new_ids[:, g * GROUP_SIZE:(g + 1) * GROUP_SIZE]      # (K, P)
        reader.push(int(group[0, 0]), group[1:].T)                   # codes (P, C)
    reader.finish()
    return reader.output()


def _check_new_ids(new_ids) -> torch.Tensor:
    new_ids = torch.as_tensor(new_ids)
    if new_ids.dim() != 2 or new_ids.shape[0] != STREAMS or new_ids.shape[1] % GROUP_SIZE:
        raise PromptError(
            f"generated ids must be [{STREAMS}, multiple of {GROUP_SIZE}], got {tuple(new_ids.shape)}")
    return new_ids
