"""Top-p (nucleus) filtering: the reference's formulation and a faster one with the same bits.

The reference sorts each row ascending, takes the softmax of the sorted scores, accumulates
it, and drops every token whose cumulative probability is <= 1 - p (always keeping the
largest). Over the 151,680-entry text vocabulary the sort dominates a CPU decode step:
``torch.sort`` takes ~20 ms per row on a 2-core Xeon, longer than the rest of a small
model's step.

Only the sorted *values* enter the arithmetic; the permutation is used solely to map the
dropped positions back to token ids. The dropped positions are always a prefix of the
ascending order (the cumulative sum of non-negative numbers never decreases), so when the
last dropped value is strictly below the first kept one, "dropped" is exactly "score <= last
dropped value", whatever order a sort gives to equal scores. :func:`top_p_filter` therefore
sorts values only (NumPy's SIMD sort, ~0.6 ms per row here), runs the same softmax and cumsum
on the same sorted values, and falls back to the reference for any row where equal scores
straddle the boundary (there the reference's own tie order decides: ``torch.sort`` is not
stable on the CPU, so no cheaper rule reproduces it). bfloat16 rows, which NumPy cannot sort,
are sorted as float32 (exact both ways, same order) and converted back. Every row of a batch
is handled at once. Its output is equal, bit for bit, to :func:`top_p_reference` on every
input (tested, ties included); off the CPU it simply calls the reference.
"""

from __future__ import annotations

import numpy as np
import torch

NEG_INF = float("-inf")
_NUMPY_DTYPES = (torch.float32, torch.float64, torch.float16)
_VIA_FLOAT32 = (torch.bfloat16,)   # sorted as float32: every bf16 value is exactly a float32


def top_p_reference(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """scores (N, V) -> scores with -inf where top-p drops them (the reference's way)."""
    sorted_scores, order = torch.sort(scores)                           # ascending
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= (1.0 - top_p)
    drop_sorted[:, -1] = False                                          # keep the top token
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def top_p_filter(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Same result as :func:`top_p_reference` (bit for bit), without sorting indices."""
    if (scores.device.type != "cpu" or scores.dtype not in _NUMPY_DTYPES + _VIA_FLOAT32
            or scores.shape[-1] < 2):
        return top_p_reference(scores, top_p)
    if scores.dtype in _VIA_FLOAT32:
        values = torch.from_numpy(np.sort(scores.float().numpy(), axis=-1)).to(scores.dtype)
    else:
        values = torch.from_numpy(np.sort(scores.numpy(), axis=-1))    # == torch.sort(scores).values
    cumulative = values.softmax(dim=-1).cumsum(dim=-1)
    # dropped sorted positions are 0 .. n_drop-1 (cumulative never decreases, so the count of
    # entries <= 1 - p is a binary search); the top token is always kept
    limit = torch.full((scores.shape[0], 1), 1.0 - top_p, dtype=cumulative.dtype)
    n_drop = torch.searchsorted(cumulative, limit, right=True)[:, 0].clamp_(max=scores.shape[-1] - 1)
    rows = torch.arange(scores.shape[0])
    last_dropped = values[rows, (n_drop - 1).clamp(min=0)]
    first_kept = values[rows, n_drop]
    # the reference decides rows with a tie across the boundary, and rows whose cumulative is
    # NaN (from NaN or +inf scores; NaN propagates to the last entry and has no order to search)
    nan = torch.isnan(cumulative[:, -1])
    tied = (((n_drop > 0) & ~(last_dropped < first_kept)) | nan).nonzero()[:, 0]
    # rows that drop nothing get threshold -inf: "<= -inf" only re-fills entries already -inf
    threshold = torch.where(n_drop > 0, last_dropped, torch.full_like(last_dropped, NEG_INF))
    out = scores.masked_fill(scores <= threshold[:, None], NEG_INF)
    if tied.numel():
        out[tied] = top_p_reference(scores[tied], top_p)
    return out
