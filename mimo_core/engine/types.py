"""Requests, events and results of the generation engine (ids only, no text, no audio).

Token matrices use the layout of docs/FORMAT.md section 1: K = C + 1 rows (row 0 text, rows 1..C the RVQ
channels), T columns at the codec frame rate, T a multiple of P (4); every P columns are one
LM position ("group"). In a prompt, row 0 holds the text id in a group's first column and
``TEXT_FILLER`` (-100) in the others; a *generated* group repeats its text id in all P columns
(as the reference does), and holds the channels' empty ids when its text id is not
``<|empty|>``.
"""

from __future__ import annotations

import enum
import secrets
import threading
from dataclasses import dataclass, field

import torch

from ..errors import InputTooLongError, PromptError
from .sampling import SamplerConfig


class StopReason(str, enum.Enum):
    STOP_TOKEN = "stop_token"          # the newest group's text id is in stop_ids (see .stop_token)
    MAX_NEW_GROUPS = "max_new_groups"
    CONTEXT_LIMIT = "context_limit"    # prompt + generated groups reached the context size
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: torch.Tensor                 # LongTensor (K, T), T a multiple of P
    text_sampler: SamplerConfig
    audio_sampler: SamplerConfig
    stop_ids: frozenset[int]
    max_new_groups: int
    min_new_groups: int = 0
    seed: int | None = None
    # set from any thread to end the request after its current group (StopReason.CANCELLED);
    # None: the stream or scheduler handle running it makes its own (see RequestState.cancel)
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class GroupEvent:
    """One generated group, emitted as soon as it exists."""

    index: int               # 0-based index among the generated groups
    text_id: int
    codes: torch.Tensor      # LongTensor (P, C) frames x channels; the empty ids for a text group


@dataclass(frozen=True)
class GenerationResult:
    generated_ids: torch.Tensor              # LongTensor (K, T + P * new_groups): prompt then groups
    new_groups: int
    stop_reason: StopReason
    stop_token: int | None = None            # the id that stopped it, for StopReason.STOP_TOKEN
    seed: int | None = None                  # the seed actually used (drawn when the request had none)

    prompt_columns: int = 0                  # T: where the generated columns start

    @property
    def new_ids(self) -> torch.Tensor:
        """Just the generated columns (K, P * new_groups)."""
        return self.generated_ids[:, self.prompt_columns:]


def stop_after_group(text_id: int, new_groups: int, total_groups: int, req: GenerationRequest,
                     context_groups: int) -> tuple[StopReason | None, int | None]:
    """The stop rule, checked after each appended group (reference order: stop token, lengths)."""
    if text_id in req.stop_ids and new_groups >= req.min_new_groups:
        return StopReason.STOP_TOKEN, text_id
    if new_groups >= req.max_new_groups:
        return StopReason.MAX_NEW_GROUPS, None
    if total_groups >= context_groups:
        return StopReason.CONTEXT_LIMIT, None
    return None, None


def validate_request(req: GenerationRequest, *, group_size: int, vocab_sizes: tuple[int, ...],
                     text_vocab: int, context_groups: int) -> None:
    """Raise PromptError / InputTooLongError for a request the model cannot run."""
    ids = req.prompt_ids
    streams = len(vocab_sizes) + 1
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[0] != streams:
        shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise PromptError(f"prompt_ids must be a ({streams}, T) integer tensor, got {shape}")
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise PromptError(f"prompt_ids must hold integer ids, got dtype {ids.dtype}")
    if ids.shape[1] == 0 or ids.shape[1] % group_size:
        raise PromptError(f"prompt_ids has {ids.shape[1]} columns; need a positive multiple of {group_size}")
    groups = ids.shape[1] // group_size
    if groups >= context_groups:
        raise InputTooLongError(f"prompt of {groups} groups leaves no room in the {context_groups}-group context")
    text = ids[0, ::group_size]
    if bool(((text < 0) | (text >= text_vocab)).any()):
        raise PromptError(f"prompt text ids must lie in [0, {text_vocab})")
    for c, size in enumerate(vocab_sizes):
        row = ids[c + 1]
        if bool(((row < 0) | (row >= size)).any()):
            raise PromptError(f"prompt codes of channel {c} must lie in [0, {size})")
    if req.max_new_groups < 1:
        raise PromptError(f"max_new_groups must be >= 1 (got {req.max_new_groups})")
    if req.min_new_groups < 0 or req.min_new_groups > req.max_new_groups:
        raise PromptError(f"min_new_groups must be in [0, max_new_groups] (got {req.min_new_groups})")


@dataclass(eq=False)
class RequestState:
    """A request while it is being generated: its rng, its cancel signal, its groups so far."""

    request: GenerationRequest
    seed: int
    generator: torch.Generator
    cancel: threading.Event                                     # the request's own, or a new one
    groups: list[torch.Tensor] = field(default_factory=list)   # each (K, P), on CPU

    @classmethod
    def start(cls, request: GenerationRequest) -> "RequestState":
        seed = request.seed if request.seed is not None else secrets.randbits(63)
        cancel = request.cancel if request.cancel is not None else threading.Event()
        return cls(request, seed, torch.Generator().manual_seed(seed), cancel)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    @property
    def new_groups(self) -> int:
        return len(self.groups)

    def forbidden_text(self) -> tuple[int, ...]:
        """Stop ids are banned while fewer than min_new_groups groups exist."""
        req = self.request
        return tuple(sorted(req.stop_ids)) if self.new_groups < req.min_new_groups else ()

    def append(self, text_id: int, codes: torch.Tensor) -> GroupEvent:
        """Add a generated group: text id repeated over the P columns, codes (P, C)."""
        frames = codes.shape[0]
        group = torch.empty(codes.shape[1] + 1, frames, dtype=torch.long)   # (K, P)
        group[0] = text_id
        group[1:] = codes.T
        self.groups.append(group)
        return GroupEvent(self.new_groups - 1, text_id, codes)

    def result(self, reason: StopReason, stop_token: int | None = None) -> GenerationResult:
        prompt = self.request.prompt_ids.to("cpu", torch.long)
        ids = torch.cat([prompt, *self.groups], dim=1) if self.groups else prompt.clone()
        return GenerationResult(ids, self.new_groups, reason, stop_token, self.seed, prompt.shape[1])


# what a decoder's step gives per row: the row's request, its new group, its result when it ended
StepOutput = tuple[RequestState, GroupEvent, GenerationResult | None]
