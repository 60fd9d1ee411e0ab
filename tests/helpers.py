"""Helpers only tests use: rules written out a second way to hold the production code to, and
shortcuts over the production API. Nothing in mimo_core or app imports this module."""

from __future__ import annotations

from typing import Sequence

import torch

from mimo_core.constants import GROUP_SIZE, LM_CHANNELS, STREAMS
from mimo_core.engine.top_p import NEG_INF, top_p_filter
from mimo_core.prompts import RELEASE_SPEECH_EMPTY_IDS, PromptBuilder, parse_empty_ids, with_history
from mimo_core.sampler_config import SamplerConfig
from mimo_core.text.special_ids import SpecialIds


# ------------------------------------------------------------------------------ prompts
def group_text_ids(matrix: torch.Tensor) -> torch.Tensor:
    """Row 0 at each group's first column: the text id of every LM position. ``[K, T] -> [T/P]``."""
    return matrix[0, ::GROUP_SIZE]


def spoken_dialogue_followup(builder: PromptBuilder, history, codes) -> torch.Tensor:
    """Next spoken-dialogue turn on top of a token history (the reference's ``add_history``):
    ``history`` (previous prompt + generated groups, ``[K, H]``) followed by
    ``[<|im_start|>user\\n] A [<|im_end|>\\n] [<|im_start|>assistant\\n<|sostm|>]``, as the task
    layer builds an exact follow-up (planning.build_prompt)."""
    return with_history(history, builder.spoken_dialogue(codes))


# ------------------------------------------------------------------ the output rule as slices
def split_generated(generated_ids, prompt_columns: int) -> torch.Tensor:
    """The generated groups ``[K, T_all - prompt_columns]`` of a prompt+output matrix."""
    ids = torch.as_tensor(generated_ids)
    assert ids.dim() == 2 and ids.shape[0] == STREAMS and prompt_columns % GROUP_SIZE == 0, \
        f"cannot split {tuple(ids.shape)} at column {prompt_columns}"
    return ids[:, prompt_columns:]


def output_text_ids(new_ids: torch.Tensor, keep_last_group: bool = False) -> torch.Tensor:
    """Text id of each generated group, without the last one unless ``keep_last_group``. ``[G']``."""
    text = group_text_ids(torch.as_tensor(new_ids))
    return text if keep_last_group else text[:-1]


def output_audio_codes(new_ids: torch.Tensor, special_ids: SpecialIds,
                       empty_ids: str | Sequence[int] = RELEASE_SPEECH_EMPTY_IDS,
                       keep_last_group: bool = False) -> torch.Tensor:
    """The codes ``[C=8, N]`` to decode, written as the rule's slices of the whole output
    (docs/FORMAT.md section 8), which the tests hold ``OutputReader`` to."""
    new_ids = torch.as_tensor(new_ids).to(torch.long)
    assert new_ids.dim() == 2 and new_ids.shape[0] == LM_CHANNELS + 1 and new_ids.shape[1] % GROUP_SIZE == 0
    empty_ids = parse_empty_ids(empty_ids)
    text = output_text_ids(new_ids, keep_last_group)             # (G',)
    starts = (text == special_ids.sostm).nonzero().flatten()
    ends = (text == special_ids.eostm).nonzero().flatten()
    start = int(starts[0]) * GROUP_SIZE + GROUP_SIZE if len(starts) else 0
    end = int(ends[0]) * GROUP_SIZE if len(ends) else text.shape[0] * GROUP_SIZE
    speech = new_ids[1:, start:end]                               # (C, frames)
    keep = speech[0] != empty_ids[0]                              # frames with channel-0 audio
    return speech[:, keep].contiguous()


def streamed_codes(tracker) -> torch.Tensor:
    """All frames an ``OutputTracker`` pushed to the streaming decoder, ``(C, N)``."""
    if not tracker.pushed_frames:
        return torch.zeros(LM_CHANNELS, 0, dtype=torch.long)
    return torch.cat(tracker.pushed_frames, dim=1)


# ------------------------------------------------------------------------------- sampling
def process_logits(scores: torch.Tensor, cfg: SamplerConfig, top_p=top_p_filter) -> torch.Tensor:
    """Temperature, top-k, top-p on scores (N, V); returns new scores with -inf where removed.

    The filter order of docs/FORMAT.md section 7 over whole rows: the definition the engine's
    ``candidates`` and ``decide_rows`` are tested against. ``top_p`` is the nucleus filter (see
    :mod:`mimo_core.engine.top_p`; both give the same bits)."""
    scores = scores / cfg.temperature
    if cfg.top_k is not None:
        k = min(cfg.top_k, scores.shape[-1])
        kth = torch.topk(scores, k).values[:, -1:]                      # (N, 1)
        scores = scores.masked_fill(scores < kth, NEG_INF)
    return top_p(scores, cfg.top_p)
