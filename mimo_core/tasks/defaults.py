"""Per-task defaults (spec section 7): samplers, stop tokens, which LM, whether it speaks.

Pure data plus pure functions, :func:`resolve_options` (and its sampler part,
:func:`resolve_samplers`), that merge a request's :class:`GenerationOptions` over the task's
defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..constants import GROUP_RATE, MAX_CONTEXT_GROUPS
from ..resolve import Role
from .types import GenerationOptions


@dataclass(frozen=True)
class Sampling:
    """One sampler's settings (the engine's SamplerConfig is built from this)."""

    temperature: float = 1.0
    top_k: Optional[int] = None
    top_p: float = 1.0
    greedy: bool = False

    def config(self):
        """The engine's ``SamplerConfig`` with these settings."""
        from ..engine import SamplerConfig
        return SamplerConfig(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                             greedy=self.greedy)


GREEDY = Sampling(greedy=True)
LOCAL_AUDIO = Sampling(temperature=0.9, top_p=0.95)   # every task's patch-decoder sampler

# Stop tokens are named by SpecialIds field; ids come from the loaded tokenizer.
EOS, IM_END, EOSTM, EOSP = "endoftext", "im_end", "eostm", "eosp"

# Speech continuation: the shortest output, so it cannot stop at once (spec section 6,
# "inferred": the golden harness uses 8 groups = 1.28 s).
CONTINUE_MIN_NEW_GROUPS = 8


@dataclass(frozen=True)
class TaskDefaults:
    role: Role                        # which LM runs the task
    text: Sampling                    # global (text) sampler
    audio: Sampling                   # local (patch decoder) sampler
    stop: tuple[str, ...]             # SpecialIds field names
    speaks: bool                      # whether audio is extracted from the output
    min_new_groups: int = 0


TASK_DEFAULTS: dict[str, TaskDefaults] = {
    "asr": TaskDefaults(Role.INSTRUCT, GREEDY, LOCAL_AUDIO, (EOS, IM_END), speaks=False),
    "tts": TaskDefaults(Role.INSTRUCT, Sampling(temperature=0.6, top_p=1.0), LOCAL_AUDIO,
                        (EOS, EOSTM, IM_END), speaks=True),
    "dialogue": TaskDefaults(Role.INSTRUCT, Sampling(temperature=0.6, top_p=0.95), LOCAL_AUDIO,
                             (EOS, EOSTM, IM_END), speaks=True),
    "s2t": TaskDefaults(Role.INSTRUCT, Sampling(temperature=0.6, top_p=0.95), LOCAL_AUDIO,
                        (EOS, IM_END), speaks=False),
    "understand": TaskDefaults(Role.INSTRUCT, Sampling(temperature=0.3, top_p=0.95), LOCAL_AUDIO,
                               (EOS, IM_END), speaks=False),
    "chat": TaskDefaults(Role.INSTRUCT, Sampling(temperature=0.4, top_p=0.95), LOCAL_AUDIO,
                         (EOS, IM_END), speaks=False),
    "s2s": TaskDefaults(Role.BASE, GREEDY, LOCAL_AUDIO, (EOS, EOSTM), speaks=True),
    # Continuation has no task row: the reference's forward() without a task name uses its
    # default samplers (the only ones with a top-k), as the golden harness did.
    "continue": TaskDefaults(Role.BASE, Sampling(temperature=0.6, top_k=50, top_p=0.95),
                             Sampling(temperature=0.9, top_k=50, top_p=0.95),
                             (EOSP, EOS), speaks=True, min_new_groups=CONTINUE_MIN_NEW_GROUPS),
}


@dataclass(frozen=True)
class ResolvedOptions:
    text: Sampling
    audio: Sampling
    max_new_groups: int
    min_new_groups: int
    seed: Optional[int]


def groups_for_seconds(seconds: float) -> int:
    """Output groups covering ``seconds`` of audio (6.25 groups per second, rounded up)."""
    return max(1, math.ceil(seconds * GROUP_RATE - 1e-9))


def _override(base: Sampling, greedy: bool, temperature, top_k, top_p) -> Sampling:
    if greedy:
        return GREEDY
    return Sampling(
        temperature=base.temperature if temperature is None else float(temperature),
        top_k=base.top_k if top_k is None else (int(top_k) or None),     # 0 = top-k off
        top_p=base.top_p if top_p is None else float(top_p),
        greedy=base.greedy and temperature is None and top_k is None and top_p is None,
    )


def resolve_samplers(task: str, options: GenerationOptions) -> tuple[Sampling, Sampling]:
    """The task's (text, audio) samplers with ``options``' sampling overrides; greedy wins."""
    d = TASK_DEFAULTS[task]
    return (_override(d.text, options.greedy, options.text_temperature, options.text_top_k,
                      options.text_top_p),
            _override(d.audio, options.greedy, options.audio_temperature, options.audio_top_k,
                      options.audio_top_p))


def resolve_options(task: str, options: GenerationOptions, prompt_groups: int,
                    requested_groups: Optional[int] = None) -> ResolvedOptions:
    """Merge ``options`` over the task's defaults.

    ``requested_groups``: a task-specific length (continuation duration). ``max_new_groups`` in
    ``options`` wins over it; both are capped by the context left after the prompt.
    """
    d = TASK_DEFAULTS[task]
    room = MAX_CONTEXT_GROUPS - prompt_groups
    max_new = options.max_new_groups if options.max_new_groups is not None else requested_groups
    max_new = room if max_new is None else min(int(max_new), room)
    min_new = d.min_new_groups if options.min_new_groups is None else int(options.min_new_groups)
    text, audio = resolve_samplers(task, options)
    return ResolvedOptions(
        text=text,
        audio=audio,
        max_new_groups=max_new,
        min_new_groups=max(0, min(min_new, max_new)),
        seed=options.seed,
    )
