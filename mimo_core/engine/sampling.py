"""Samplers with the reference's order of operations (spec section 7).

For one row of logits: temperature, top-k (drop everything below the k-th largest value),
top-p (sort ascending, drop tokens whose cumulative probability is <= 1 - p, always keeping
the top token), then the forbidden ids are set to -inf. Greedy takes the argmax after the
forbidding (ties go to the lowest id, as ``torch.argmax``).

A sampled row draws exactly one uniform number from its own ``torch.Generator`` per
decision and inverts the CDF, so a request's tokens do not depend on which other requests
share its batch, and a seed reproduces a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import PromptError
from .top_p import NEG_INF, top_p_filter

TopP = Callable[[torch.Tensor, float], torch.Tensor]


@dataclass(frozen=True)
class SamplerConfig:
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    greedy: bool = False

    def __post_init__(self):
        if not self.greedy and not self.temperature > 0:
            raise PromptError(f"sampling temperature must be > 0 (got {self.temperature}); use greedy instead")
        if self.top_k is not None and self.top_k < 1:
            raise PromptError(f"top_k must be >= 1 or None (got {self.top_k})")
        if not 0.0 < self.top_p <= 1.0:
            raise PromptError(f"top_p must be in (0, 1] (got {self.top_p})")


GREEDY = SamplerConfig(greedy=True)


def process_logits(scores: torch.Tensor, cfg: SamplerConfig, top_p: TopP = top_p_filter) -> torch.Tensor:
    """Temperature, top-k, top-p on scores (N, V); returns new scores with -inf where removed.

    ``top_p`` is the nucleus filter: :func:`~mimo_core.engine.top_p.top_p_filter` (default) or
    the reference's own formulation, which gives the same bits more slowly (the eager path
    uses it, so that the baseline is the reference's arithmetic)."""
    scores = scores / cfg.temperature
    if cfg.top_k is not None:
        k = min(cfg.top_k, scores.shape[-1])
        kth = torch.topk(scores, k).values[:, -1:]                      # (N, 1)
        scores = scores.masked_fill(scores < kth, NEG_INF)
    return top_p(scores, cfg.top_p)


def candidates(scores: torch.Tensor, cfg: SamplerConfig,
               top_p: TopP = top_p_filter) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The ids that survive temperature / top-k / top-p for one row (V,), with their scores.

    Same decisions as :func:`process_logits`, computed on the top-k survivors only (a sort
    of k values instead of the whole vocabulary). Returns (ids or None for "all", scores).
    """
    scores = scores / cfg.temperature
    ids = None
    if cfg.top_k is not None:
        k = min(cfg.top_k, scores.shape[-1])
        kth = torch.topk(scores, k).values[-1]
        ids = torch.nonzero(scores >= kth)[:, 0]          # ties at the k-th value are kept
        scores = scores[ids]
    if cfg.top_p < 1.0:   # at 1.0 only zero-probability ids go, which a draw never picks
        scores = top_p(scores[None], cfg.top_p)[0]
    return ids, scores


def draw(scores: torch.Tensor, generator: torch.Generator | None) -> int:
    """Sample one index from one row of scores (V,) by inverting the CDF with one uniform draw."""
    probs = torch.softmax(scores.float(), dim=-1)
    cdf = probs.cumsum(dim=-1)
    u = torch.rand((), generator=generator).item()                      # in [0, 1)
    target = cdf[-1:] * (1.0 - u)                                       # in (0, total]
    index = torch.searchsorted(cdf, target).clamp_(max=scores.shape[-1] - 1)
    return int(index.item())


def sample_rows(
    logits: torch.Tensor,
    samplers: Sequence[SamplerConfig],
    generators: Sequence[torch.Generator | None],
    forbidden: Sequence[Sequence[int]] | None = None,
    active: Sequence[bool] | None = None,
    forbid_all: Sequence[int] = (),
    top_p: TopP = top_p_filter,
) -> torch.Tensor:
    """Choose one id per row of logits (N, V) -> LongTensor (N,) on logits' device.

    Row i uses ``samplers[i]`` and ``generators[i]`` and never returns ``forbidden[i]`` nor
    any id of ``forbid_all``. Rows with ``active[i]`` False are not sampled (their generator
    is untouched); they get the masked argmax, which the caller discards.
    """
    argmax_rows = [row for row, cfg in enumerate(samplers) if cfg.greedy or (active is not None and not active[row])]
    if argmax_rows:
        scores = logits.clone()
        if forbid_all:
            scores[:, list(forbid_all)] = NEG_INF
        if forbidden is not None:
            for row, ids in enumerate(forbidden):
                if ids:
                    scores[row, list(ids)] = NEG_INF
        choice = torch.argmax(scores, dim=-1)
    else:   # every row is sampled below: no argmax needed
        choice = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    for row, cfg in enumerate(samplers):
        if cfg.greedy or (active is not None and not active[row]):
            continue
        ids, kept = candidates(logits[row], cfg, top_p)
        banned = [*forbid_all, *(forbidden[row] if forbidden is not None else ())]
        if banned:                                   # forbidden ids go to -inf after the filters
            banned_t = torch.tensor(banned, device=kept.device)
            hit = torch.isin(ids, banned_t) if ids is not None else None
            kept = kept.masked_fill(hit, NEG_INF) if hit is not None else kept.index_fill(0, banned_t, NEG_INF)
        index = draw(kept, generators[row])
        choice[row] = ids[index] if ids is not None else index
    return choice


def sample_one(logits: torch.Tensor, sampler: SamplerConfig, generator: torch.Generator | None,
               forbidden: Sequence[int] = ()) -> int:
    """One decision from logits (V,) or (1, V): the single-row form of :func:`sample_rows`."""
    row = logits.reshape(1, -1)
    return int(sample_rows(row, [sampler], [generator], [tuple(forbidden)])[0].item())


def sample_stacked(
    logits: torch.Tensor,
    samplers: Sequence[SamplerConfig],
    generators: Sequence[torch.Generator | None],
    banned: torch.Tensor,
    limits: torch.Tensor,
    active: Sequence[bool],
    top_p: TopP = top_p_filter,
) -> torch.Tensor:
    """Vectorised decisions for many rows at once (the fast path's patch decoder).

    logits (M, V): rows may be padded with -inf beyond their own vocabulary ``limits[i]``;
    ``banned[i]`` is the one id row i must never return (the channel's empty id). Rows that
    share a SamplerConfig are filtered together (temperature, top-k, top-p, then the ban, as
    :func:`process_logits`); each active sampled row draws one uniform from its own generator,
    in row order, so a request's draws do not depend on the other rows. Inactive rows and
    greedy rows get the argmax after the ban.
    """
    groups: dict[SamplerConfig, list[int]] = {}
    sampled = 0
    for i, cfg in enumerate(samplers):
        if active[i] and not cfg.greedy:
            groups.setdefault(cfg, []).append(i)
            sampled += 1
    if sampled < logits.shape[0]:
        rows = torch.arange(logits.shape[0], device=logits.device)
        masked = logits.clone()
        masked[rows, banned] = NEG_INF
        choice = torch.argmax(masked, dim=-1)
    else:   # every row is sampled below: no argmax needed
        choice = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    for cfg, members in groups.items():
        whole = len(members) == logits.shape[0]                                  # every row: no gather
        index = slice(None) if whole else torch.tensor(members, device=logits.device)
        scores = (logits if whole else logits[index]) / cfg.temperature          # (m, V)
        if cfg.top_k is not None:
            kth = torch.topk(scores, min(cfg.top_k, scores.shape[-1])).values[:, -1:]
            scores = scores.masked_fill(scores < kth, NEG_INF)
        if cfg.top_p < 1.0:
            scores = process_logits(scores, SamplerConfig(top_p=cfg.top_p), top_p)
        scores[torch.arange(len(members), device=logits.device), banned[index]] = NEG_INF
        cdf = torch.softmax(scores.float(), dim=-1).cumsum(dim=-1)                # (m, V)
        u = torch.tensor([torch.rand((), generator=generators[i]).item() for i in members],
                         device=logits.device, dtype=cdf.dtype)[:, None]
        picked = torch.searchsorted(cdf, cdf[:, -1:] * (1.0 - u))[:, 0]
        choice[index] = torch.minimum(picked, limits[index] - 1)
    return choice
