"""Samplers with the reference's order of operations (docs/FORMAT.md section 7).

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

import torch

from ..sampler_config import GREEDY, SamplerConfig  # noqa: F401 - the one sampler type, re-exported
from .top_p import NEG_INF, top_p_filter

TopP = Callable[[torch.Tensor, float], torch.Tensor]


def candidates(scores: torch.Tensor, cfg: SamplerConfig,
               top_p: TopP = top_p_filter) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The ids that survive temperature / top-k / top-p for one row (V,), with their scores.

    The filter order of the module docstring over a whole row (which the tests write out to
    hold this to), computed on the top-k survivors only (a sort of k values instead of the
    whole vocabulary). Returns (ids or None for "all", scores).
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


def uniform(generator: torch.Generator | None) -> float:
    """The one uniform number in [0, 1) a sampled decision consumes from its generator."""
    return torch.rand((), generator=generator).item()


def invert(scores: torch.Tensor, u: float) -> int:
    """The index of one row of scores (V,) whose CDF interval holds ``u``'s point."""
    cdf = torch.softmax(scores.float(), dim=-1).cumsum(dim=-1)
    target = cdf[-1:] * (1.0 - u)                                       # in (0, total]
    index = torch.searchsorted(cdf, target).clamp_(max=scores.shape[-1] - 1)
    return int(index.item())


def decide(row: torch.Tensor, cfg: SamplerConfig, banned: Sequence[int], u: float,
           top_p: TopP = top_p_filter) -> int:
    """One sampled decision on one row of logits (V,) with the uniform ``u``: the filters,
    then the banned ids to -inf, then the CDF inversion."""
    ids, kept = candidates(row, cfg, top_p)
    if banned:                                   # forbidden ids go to -inf after the filters
        banned_t = torch.tensor(list(banned), device=kept.device)
        hit = torch.isin(ids, banned_t) if ids is not None else None
        kept = kept.masked_fill(hit, NEG_INF) if hit is not None else kept.index_fill(0, banned_t, NEG_INF)
    index = invert(kept, u)
    return int(ids[index]) if ids is not None else index


def decide_rows(logits: torch.Tensor, cfg: SamplerConfig, banned: tuple[list[int], list[int]],
                uniforms: Sequence[float], top_p: TopP = top_p_filter) -> torch.Tensor:
    """:func:`decide` for the rows of logits (m, V) at once, for a sampler without top-k: row
    by row the same arithmetic (every step is row-wise). ``banned`` = (row positions, ids)."""
    scores = logits / cfg.temperature
    if cfg.top_p < 1.0:   # at 1.0 only zero-probability ids go, which a draw never picks
        scores = top_p(scores, cfg.top_p)
    if banned[0]:
        scores[torch.tensor(banned[0], device=scores.device), torch.tensor(banned[1], device=scores.device)] = NEG_INF
    cdf = torch.softmax(scores.float(), dim=-1).cumsum(dim=-1)                # (m, V)
    keep = torch.tensor([[1.0 - u] for u in uniforms], device=cdf.device, dtype=cdf.dtype)
    return torch.searchsorted(cdf, cdf[:, -1:] * keep)[:, 0].clamp_(max=scores.shape[-1] - 1)


def sample_rows(
    logits: torch.Tensor,
    samplers: Sequence[SamplerConfig],
    generators: Sequence[torch.Generator | None],
    forbidden: Sequence[Sequence[int]] | None = None,
    active: Sequence[bool] | None = None,
    top_p: TopP = top_p_filter,
    widths: Sequence[int] | None = None,
) -> torch.Tensor:
    """Choose one id per row of logits (N, V) -> LongTensor (N,) on logits' device.

    Row i uses ``samplers[i]`` and ``generators[i]`` and never returns an id of
    ``forbidden[i]``. With ``widths``, row i is decided on its first ``widths[i]``
    columns only (the fast path stacks channels of different vocabulary sizes, padded with
    -inf: the padding must not enter a softmax, whose rounding it would change -- in bf16
    that changes decisions). Rows with ``active[i]`` False are not sampled (their generator
    is untouched); they get id 0, which the caller discards. Every sampled row
    draws its one uniform first, in row order (so a request's draws do not depend on the other
    rows); rows sharing a sampler without top-k and a width are then decided together
    (:func:`decide_rows`), top-k rows one by one (:func:`decide`: top-k compacts each row
    differently).
    """
    n = logits.shape[0]
    widths = [logits.shape[1]] * n if widths is None else widths
    banned = [list(forbidden[row]) if forbidden is not None else [] for row in range(n)]
    groups: dict[tuple[SamplerConfig, int], list[int]] = {}
    greedy: list[int] = []
    for row, cfg in enumerate(samplers):
        if active is not None and not active[row]:
            continue
        if cfg.greedy:
            greedy.append(row)
        else:
            groups.setdefault((cfg, widths[row]), []).append(row)
    u = {row: uniform(generators[row]) for row in sorted(r for rows in groups.values() for r in rows)}
    decided = len(greedy) + len(u)
    make = torch.empty if decided == n else torch.zeros                 # inactive rows: id 0
    choice = make(n, dtype=torch.long, device=logits.device)
    if greedy:
        index = torch.tensor(greedy, device=logits.device)
        scores = logits[index]
        ban_rows = [i for i, row in enumerate(greedy) for _ in banned[row]]
        if ban_rows:
            scores[ban_rows, [b for row in greedy for b in banned[row]]] = NEG_INF
        choice[index] = torch.argmax(scores, dim=-1)
    for (cfg, width), rows in groups.items():
        if cfg.top_k is not None:
            for row in rows:
                choice[row] = decide(logits[row, :width], cfg, banned[row], u[row], top_p)
            continue
        bans = ([i for i, row in enumerate(rows) for _ in banned[row]], [b for row in rows for b in banned[row]])
        if rows == list(range(n)):               # every row: a view, not a gathered copy
            choice[:] = decide_rows(logits[:, :width], cfg, bans, [u[row] for row in rows], top_p)
            continue
        index = torch.tensor(rows, device=logits.device)
        choice[index] = decide_rows(logits[index, :width], cfg, bans, [u[row] for row in rows], top_p)
    return choice
