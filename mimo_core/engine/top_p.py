"""Top-p (nucleus) filtering: the reference's formulation, and faster ones.

The reference sorts each row ascending, takes the softmax of the sorted scores, accumulates
it, and drops every token whose cumulative probability is <= 1 - p (always keeping the
largest). Over the 151,680-entry text vocabulary the sort dominates a CPU decode step:
``torch.sort`` takes ~14-20 ms per row on a 2-core Xeon, longer than the rest of a small
model's step.

Only the sorted *values* enter the arithmetic; the permutation is used solely to map the
dropped positions back to token ids. The dropped positions are always a prefix of the
ascending order (the cumulative sum of non-negative numbers never decreases), so when the
last dropped value is strictly below the first kept one, "dropped" is exactly "score <= last
dropped value", whatever order a sort gives to equal scores. :func:`top_p_filter` therefore
sorts values only (NumPy's SIMD sort, ~1 ms per row here) and runs the same softmax and
cumsum on the same sorted values.

Rows where equal scores straddle the boundary need a tie order, and ``ties`` chooses it:

* ``"reference"`` hands them to :func:`top_p_reference`: ``torch.sort`` is not stable on the
  CPU, so only that sort reproduces which of the tied tokens the reference drops. Output equal,
  bit for bit, to :func:`top_p_reference` on every input.
* ``"index"`` drops the tied tokens in token-id order (the lowest ids first), which is what a
  *stable* ascending sort gives: output equal, bit for bit, to
  ``top_p_reference(scores, p, stable=True)``, without any sort of indices. The kept set has
  the same size and the same probabilities as the reference's; only which of several tokens of
  one equal score are kept may differ. In bfloat16 over the text vocabulary such ties are the
  rule rather than the exception (8-bit mantissa), so this is what makes 16-bit sampling cheap.

bfloat16 rows, which NumPy cannot sort, are sorted as float32 (exact both ways, same order)
and converted back. Every row of a batch is handled at once; off the CPU both filters call
the reference (a device sort is cheap there), stable for ``"index"``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

NEG_INF = float("-inf")
_NUMPY_DTYPES = (torch.float32, torch.float64, torch.float16)
_VIA_FLOAT32 = (torch.bfloat16,)   # sorted as float32: every bf16 value is exactly a float32
Ties = Literal["reference", "index"]


def top_p_reference(scores: torch.Tensor, top_p: float, stable: bool = False) -> torch.Tensor:
    """scores (N, V) -> scores with -inf where top-p drops them (the reference's way; with
    ``stable``, equal scores keep their id order in the sort)."""
    sorted_scores, order = torch.sort(scores, stable=stable)            # ascending
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= (1.0 - top_p)
    drop_sorted[:, -1] = False                                          # keep the top token
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def top_p_filter(scores: torch.Tensor, top_p: float, ties: Ties = "reference") -> torch.Tensor:
    """:func:`top_p_reference`'s result without sorting indices; see the module text for ``ties``."""
    stable = ties == "index"
    if ties not in ("reference", "index"):
        raise ValueError(f"ties must be 'reference' or 'index', not {ties!r}")
    if (scores.device.type != "cpu" or scores.dtype not in _NUMPY_DTYPES + _VIA_FLOAT32
            or scores.shape[-1] < 2):
        return top_p_reference(scores, top_p, stable)
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
    first_kept = values[rows, n_drop][:, None]                          # (N, 1)
    # "dropped" = every score < first_kept, plus, where the boundary value is shared by dropped
    # and kept entries, some of the scores equal to it: how many is n_drop minus the count below
    tied_dropped = n_drop - torch.searchsorted(values, first_kept)[:, 0]
    # rows whose cumulative is NaN (from NaN or +inf scores: NaN propagates to the last entry
    # and has no order to search) go to the reference; so do tie rows under "reference"
    nan = torch.isnan(cumulative[:, -1])
    out = scores.masked_fill(scores < first_kept, NEG_INF)
    if stable:
        tied = ((tied_dropped > 0) & ~nan).nonzero()[:, 0]
        if tied.numel():
            _drop_ties_by_id(out, scores, tied, first_kept[tied], tied_dropped[tied])
        fallback = nan.nonzero()[:, 0]
    else:
        fallback = ((tied_dropped > 0) | nan).nonzero()[:, 0]
    if fallback.numel():
        out[fallback] = top_p_reference(scores[fallback], top_p, stable)
    return out


def _drop_ties_by_id(out: torch.Tensor, scores: torch.Tensor, rows: torch.Tensor, value: torch.Tensor,
                     count: torch.Tensor) -> None:
    """In ``out``, on ``rows``, set to -inf the ``count`` entries of lowest id whose score is
    ``value`` (per row): the tied entries a stable ascending sort puts first."""
    whole = rows.numel() == scores.shape[0]                             # skip the row gather
    tied = (scores if whole else scores[rows]) == value
    row, col = tied.nonzero(as_tuple=True)                              # row-major: ids ascending
    starts = torch.searchsorted(row, torch.arange(rows.numel()))        # each row's first tie
    rank = torch.arange(row.numel()) - starts[row]                      # 0, 1, ... within a row
    take = rank < count[row]
    out[rows[row[take]], col[take]] = NEG_INF


def top_p_fast(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """The fast path's filter: the reference's bits for 32/64-bit scores (where boundary ties
    are rare, so its fallback costs little), tied tokens by id for 16-bit scores (where
    nearly every text row has such a tie; docs/FAST_PATH.md, "Sampling in 16 bits")."""
    wide = scores.dtype in (torch.float32, torch.float64)
    return top_p_filter(scores, top_p, "reference" if wide else "index")
