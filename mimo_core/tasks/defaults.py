"""Merging a request's :class:`GenerationOptions` over its task's defaults (the samplers, stop
tokens and lengths declared in :mod:`.registry`). Pure functions, no torch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..constants import GROUP_RATE
from ..sampler_config import GREEDY, SamplerConfig
from .limits import context_room
from .registry import TaskSpec
from .types import GenerationOptions


@dataclass(frozen=True)
class ResolvedOptions:
    text: SamplerConfig
    audio: SamplerConfig
    max_new_groups: int
    min_new_groups: int
    seed: Optional[int]


def groups_for_seconds(seconds: float) -> int:
    """Output groups covering ``seconds`` of audio (6.25 groups per second, rounded up)."""
    return max(1, math.ceil(seconds * GROUP_RATE - 1e-9))


def _override(base: SamplerConfig, greedy: bool, temperature, top_k, top_p) -> SamplerConfig:
    if greedy:
        return GREEDY
    return SamplerConfig(
        temperature=base.temperature if temperature is None else float(temperature),
        top_k=base.top_k if top_k is None else (int(top_k) or None),     # 0 = top-k off
        top_p=base.top_p if top_p is None else float(top_p),
        greedy=base.greedy and temperature is None and top_k is None and top_p is None,
    )


def resolve_samplers(spec: TaskSpec, options: GenerationOptions) -> tuple[SamplerConfig, SamplerConfig]:
    """The task's (text, audio) samplers with ``options``' sampling overrides; greedy wins."""
    return (_override(spec.text, options.greedy, options.text_temperature, options.text_top_k,
                      options.text_top_p),
            _override(spec.audio, options.greedy, options.audio_temperature, options.audio_top_k,
                      options.audio_top_p))


def resolve_options(spec: TaskSpec, options: GenerationOptions, prompt_groups: int,
                    requested_groups: Optional[int] = None) -> ResolvedOptions:
    """Merge ``options`` over the task's defaults.

    ``requested_groups``: a task-specific length (continuation duration). ``max_new_groups`` in
    ``options`` wins over it; both are capped by the context left after the prompt.
    """
    room = context_room(prompt_groups)
    max_new = options.max_new_groups if options.max_new_groups is not None else requested_groups
    max_new = room if max_new is None else min(int(max_new), room)
    min_new = spec.min_new_groups if options.min_new_groups is None else int(options.min_new_groups)
    text, audio = resolve_samplers(spec, options)
    return ResolvedOptions(
        text=text,
        audio=audio,
        max_new_groups=max_new,
        min_new_groups=max(0, min(min_new, max_new)),
        seed=options.seed,
    )
