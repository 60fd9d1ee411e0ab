"""Helpers only tests use: rules written out a second way to hold the production code to, and
shortcuts over the production API. Nothing in mimo_core or app imports this module."""

from __future__ import annotations

import torch

from mimo_core.prompts import PromptBuilder, with_history


def spoken_dialogue_followup(builder: PromptBuilder, history, codes) -> torch.Tensor:
    """Next spoken-dialogue turn on top of a token history (the reference's ``add_history``):
    ``history`` (previous prompt + generated groups, ``[K, H]``) followed by
    ``[<|im_start|>user\\n] A [<|im_end|>\\n] [<|im_start|>assistant\\n<|sostm|>]``, as the task
    layer builds an exact follow-up (planning.build_prompt)."""
    return with_history(history, builder.spoken_dialogue(codes))
