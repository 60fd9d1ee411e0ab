"""Merging a request's :class:`GenerationOptions` over its task's defaults (the samplers, stop
tokens and lengths declared in :mod:`.registry`). Pure functions, no torch.

:func:`resolve_settings` is everything a request asks for that does not depend on its prompt
(what a remote engine is sent: mimo_core/remote); :func:`resolve_options` caps its length by
the context the prompt leaves (what the local engine runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..constants import GROUP_RATE
from ..sampler_config import SamplerConfig
from .limits import check_options, context_room
from .registry import TaskSpec, spec_of
from .types import ContinueRequest, GenerationOptions


@dataclass(frozen=True)
class ResolvedOptions:
    text: SamplerConfig
    audio: SamplerConfig
    max_new_groups: int
    min_new_groups: int
    seed: Optional[int]


@dataclass(frozen=True)
class TaskSettings:
    """A request's samplers and lengths before its prompt is built: ``max_new_groups`` None
    means "until a stop token or the end of the context" (the room the prompt leaves)."""

    text: SamplerConfig
    audio: SamplerConfig
    max_new_groups: Optional[int]
    min_new_groups: int
    seed: Optional[int]


def groups_for_seconds(seconds: float) -> int:
    """Output groups covering ``seconds`` of audio (6.25 groups per second, rounded up)."""
    return max(1, math.ceil(seconds * GROUP_RATE - 1e-9))


def resolve_samplers(spec: TaskSpec, options: GenerationOptions) -> tuple[SamplerConfig, SamplerConfig]:
    """The task's (text, audio) samplers with ``options``' sampling overrides; greedy wins."""
    return options.sampler("text").over(spec.text), options.sampler("audio").over(spec.audio)


def requested_groups(request) -> Optional[int]:
    """The length a request's own inputs ask for, in groups (a continuation's duration), or None."""
    if isinstance(request, ContinueRequest):
        return groups_for_seconds(float(request.duration_s))
    return None


def resolve_settings(spec: TaskSpec, options: GenerationOptions,
                     requested: Optional[int] = None) -> TaskSettings:
    """Merge ``options`` over the task's defaults, without the prompt.

    ``requested``: a task-specific length (continuation duration); ``max_new_groups`` in
    ``options`` wins over it. The minimum is the task's unless ``options`` sets one, and never
    above the maximum.
    """
    max_new = options.max_new_groups if options.max_new_groups is not None else requested
    max_new = None if max_new is None else int(max_new)
    min_new = spec.min_new_groups if options.min_new_groups is None else int(options.min_new_groups)
    if max_new is not None:
        min_new = min(min_new, max_new)
    text, audio = resolve_samplers(spec, options)
    return TaskSettings(text=text, audio=audio, max_new_groups=max_new, min_new_groups=max(0, min_new),
                        seed=options.seed)


def request_settings(request) -> TaskSettings:
    """:func:`resolve_settings` for a task request (its spec and its own requested length), its
    options checked first as a local run checks them."""
    spec = spec_of(request)
    check_options(request.options)
    return resolve_settings(spec, request.options, requested_groups(request))


def resolve_options(spec: TaskSpec, options: GenerationOptions, prompt_groups: int,
                    requested_groups: Optional[int] = None, *, context_groups: int) -> ResolvedOptions:
    """:func:`resolve_settings`, the length capped by the room the prompt leaves in the model's
    ``context_groups`` (planning has checked there is some)."""
    wanted = resolve_settings(spec, options, requested_groups)
    room = context_room(prompt_groups, context_groups)
    max_new = room if wanted.max_new_groups is None else min(wanted.max_new_groups, room)
    return ResolvedOptions(text=wanted.text, audio=wanted.audio, max_new_groups=max_new,
                           min_new_groups=max(0, min(wanted.min_new_groups, max_new)), seed=wanted.seed)
