"""Reading a generation's output (spec section 8), reproducing the reference exactly.

Input: the generated groups ``[K, 4 * G]`` (the columns after the prompt; in generated groups
the reference repeats the sampled text id in all four columns of row 0).

Text: the text id of every generated group except the last, decoded with special tokens kept,
stripped, then ``<|empty|>``, ``<|eot|>`` and ``<|eostm|>`` removed. Other special tokens
(``<|eosp|>``...) stay in the text, as in the reference.

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

from ..constants import GROUP_SIZE, STREAMS
from ..errors import PromptError
from ..text.special_ids import SpecialIds
from .segments import RELEASE_SPEECH_EMPTY_IDS, group_text_ids, parse_empty_ids

REFERENCE_SILENCE_SECONDS = 1.0   # what the reference writes when no speech frame is left
REMOVED_FROM_TEXT = ("<|empty|>", "<|eot|>", "<|eostm|>")


@dataclass(frozen=True)
class ExtractedOutput:
    text: str                  # cleaned text (see module docstring)
    text_ids: list[int]        # the per-group text ids the text was decoded from
    codes: torch.Tensor        # [C=8, N] int64 codes to decode to audio (N may be 0)
    is_silence: bool           # N == 0: the reference outputs REFERENCE_SILENCE_SECONDS of zeros


def split_generated(generated_ids, prompt_columns: int) -> torch.Tensor:
    """The generated groups ``[K, T_all - prompt_columns]`` of a prompt+output matrix."""
    ids = torch.as_tensor(generated_ids)
    if ids.dim() != 2 or ids.shape[0] != STREAMS or prompt_columns % GROUP_SIZE:
        raise PromptError(f"cannot split {tuple(ids.shape)} at column {prompt_columns}")
    return ids[:, prompt_columns:]


def clean_decoded_text(decoded: str) -> str:
    """Strip, then remove ``<|empty|>``, ``<|eot|>`` and ``<|eostm|>`` (in the reference's order)."""
    text = decoded.strip()
    for token in REMOVED_FROM_TEXT:
        text = text.replace(token, "")
    return text


def output_text_ids(new_ids: torch.Tensor, keep_last_group: bool = False) -> torch.Tensor:
    """Text id of each generated group, without the last one unless ``keep_last_group``. ``[G']``."""
    text = group_text_ids(_check_new_ids(new_ids))
    return text if keep_last_group else text[:-1]


def decode_text(tokenizer, text_ids: Sequence[int]) -> str:
    """Decode text ids with special tokens kept, then :func:`clean_decoded_text`."""
    decoded = tokenizer.decode([int(i) for i in text_ids], skip_special_tokens=False)
    return clean_decoded_text(decoded)


def output_audio_codes(new_ids: torch.Tensor, special_ids: SpecialIds,
                       empty_ids: str | Sequence[int] = RELEASE_SPEECH_EMPTY_IDS,
                       keep_last_group: bool = False) -> torch.Tensor:
    """The codes ``[C=8, N]`` to decode (see the module docstring for the rule)."""
    new_ids = _check_new_ids(new_ids).to(torch.long)
    empty_ids = parse_empty_ids(empty_ids)
    text = output_text_ids(new_ids, keep_last_group)             # (G',)
    starts = (text == special_ids.sostm).nonzero().flatten()
    ends = (text == special_ids.eostm).nonzero().flatten()
    start = int(starts[0]) * GROUP_SIZE + GROUP_SIZE if len(starts) else 0
    end = int(ends[0]) * GROUP_SIZE if len(ends) else text.shape[0] * GROUP_SIZE
    speech = new_ids[1:, start:end]                               # (C, frames)
    keep = speech[0] != empty_ids[0]                              # frames with channel-0 audio
    return speech[:, keep].contiguous()


def extract_output(new_ids, tokenizer, special_ids: SpecialIds,
                   empty_ids: str | Sequence[int] = RELEASE_SPEECH_EMPTY_IDS,
                   *, keep_last_group: bool = False) -> ExtractedOutput:
    """Text and audio codes of the generated groups ``new_ids`` ``[K, 4 * G]``."""
    new_ids = _check_new_ids(torch.as_tensor(new_ids))
    text_ids = output_text_ids(new_ids, keep_last_group)
    codes = output_audio_codes(new_ids, special_ids, empty_ids, keep_last_group)
    return ExtractedOutput(
        text=decode_text(tokenizer, text_ids.tolist()),
        text_ids=[int(i) for i in text_ids],
        codes=codes,
        is_silence=codes.shape[1] == 0,
    )


def _check_new_ids(new_ids) -> torch.Tensor:
    new_ids = torch.as_tensor(new_ids)
    if new_ids.dim() != 2 or new_ids.shape[0] != STREAMS or new_ids.shape[1] % GROUP_SIZE:
        raise PromptError(
            f"generated ids must be [{STREAMS}, multiple of {GROUP_SIZE}], got {tuple(new_ids.shape)}")
    return new_ids
