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
sorts values only (:func:`sorted_values`: NumPy's SIMD sort, or a counting sort of the bit
patterns for 16-bit text rows, ~0.4-0.6 ms per row here) and runs the same softmax and cumsum
on the same sorted values.

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
import torch.nn.functional as F

NEG_INF = float("-inf")
_NUMPY_DTYPES = (torch.float32, torch.float64, torch.float16)
_VIA_FLOAT32 = (torch.bfloat16,)   # sorted as float32: every bf16 value is exactly a float32
Ties = Literal["reference", "index"]
COUNTING_SORT_MIN = 8192    # narrower 16-bit rows (audio channels) sort faster by comparison
PREFIX = 65536              # sorted positions summed before the rest of a row (if need be)


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
    stable = _check_ties(ties)
    if not _sortable(scores):
        return top_p_reference(scores, top_p, stable)
    first_kept, tied_dropped, nan = _boundary(sorted_values(scores), top_p)
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


def _check_ties(ties: str) -> bool:
    if ties not in ("reference", "index"):
        raise ValueError(f"ties must be 'reference' or 'index', not {ties!r}")
    return ties == "index"


def _sortable(scores: torch.Tensor) -> bool:
    return (scores.device.type == "cpu" and scores.dtype in _NUMPY_DTYPES + _VIA_FLOAT32
            and scores.shape[-1] >= 2)


def sorted_values(scores: torch.Tensor) -> torch.Tensor:
    """The rows of CPU scores (N, V) sorted ascending: ``torch.sort(scores).values`` (equal
    scores are interchangeable, except that -0.0 and +0.0 may come in either order; a row
    with NaN may place it differently, and such rows go to the reference anyway).

    16-bit rows as wide as a text vocabulary are counting-sorted: a 16-bit score has one of
    65,536 bit patterns, so a histogram of the patterns in value order, expanded back, is the
    sorted row (~2x faster than a comparison sort of 151,680 scores). Narrower rows, and 32/64-bit
    ones, use NumPy's SIMD sort (bfloat16 as float32: exact both ways, same order)."""
    if scores.element_size() == 2 and scores.shape[-1] >= COUNTING_SORT_MIN:
        return _counting_sort16(scores)
    if scores.dtype in _VIA_FLOAT32:
        return torch.from_numpy(np.sort(scores.float().numpy(), axis=-1)).to(scores.dtype)
    return torch.from_numpy(np.sort(scores.numpy(), axis=-1))


def _counting_sort16(scores: torch.Tensor) -> torch.Tensor:
    # a 16-bit float is sign and magnitude: bit patterns 0x0000..0x7FFF are +0.0 up to +NaN in
    # ascending order, 0x8000..0xFFFF are -0.0 down to -NaN. So the sorted row is the negative
    # patterns from 0xFFFF down to 0x8000, then the positive ones from 0x0000 up, each repeated
    # as often as it occurs (-0.0 comes just before +0.0)
    patterns = scores.contiguous().view(torch.int16).to(torch.int32) & 0xFFFF
    out = np.empty(scores.shape, dtype=np.int16)
    for row in range(scores.shape[0]):
        counts = torch.bincount(patterns[row], minlength=65536).numpy()
        negative = counts[0x8000:][::-1]
        split = int(negative.sum())
        out[row, :split] = np.repeat(_NEGATIVE_DESCENDING, negative)
        out[row, split:] = np.repeat(_POSITIVE_ASCENDING, counts[:0x8000])
    return torch.from_numpy(out).view(scores.dtype)


_NEGATIVE_DESCENDING = np.arange(0xFFFF, 0x7FFF, -1, dtype=np.int32).astype(np.uint16).view(np.int16)
_POSITIVE_ASCENDING = np.arange(0x8000, dtype=np.int16)


def _boundary(values: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From sorted rows (N, V): (first kept score (N, 1), how many scores equal to it are
    dropped (N,), whether the row's probabilities are NaN (N,)): the reference's softmax and
    cumulative sum over the same sorted values."""
    probs = values.softmax(dim=-1)
    limit = torch.full((values.shape[0], 1), 1.0 - top_p, dtype=probs.dtype)
    n_drop = _count_at_most(probs, limit).clamp_(max=values.shape[-1] - 1)  # the top token is kept
    first_kept = values[torch.arange(values.shape[0]), n_drop][:, None]  # (N, 1)
    # "dropped" = every score < first_kept, plus, where the boundary value is shared by dropped
    # and kept entries, some of the scores equal to it: how many is n_drop minus the count below
    tied_dropped = n_drop - torch.searchsorted(values, first_kept)[:, 0]
    # rows whose probabilities are NaN (from NaN or +inf scores, or no finite score: NaN
    # propagates to every entry and has no order to search) go to the reference
    return first_kept, tied_dropped, torch.isnan(probs[:, -1])


def _count_at_most(probs: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    """Per row of probs (N, V), how many leading entries have a cumulative sum <= limit (N, 1):
    the dropped sorted positions are 0 .. count-1 (the cumulative sum never decreases, so this
    is a binary search). The sum is sequential, so its first PREFIX entries are bit for bit the
    whole sum's: a flat row (whose boundary comes early) is summed over that prefix only. A
    peaked row, whose prefix provably sums to less than half the limit (PREFIX times its largest
    entry, the prefix's last, is below that), is summed whole at once; so is a row whose prefix
    turned out to stay under the limit."""
    n, width = probs.shape
    if width <= PREFIX:
        return torch.searchsorted(probs.cumsum(dim=-1), limit, right=True)[:, 0]
    count = torch.full((n,), width, dtype=torch.long)
    bound = probs[:, PREFIX - 1 : PREFIX].float() * PREFIX               # >= the prefix's sum
    flat = (bound > 0.5 * limit.float())[:, 0].nonzero()[:, 0]
    if flat.numel():
        part = probs[flat, :PREFIX] if flat.numel() < n else probs[:, :PREFIX]
        count[flat] = torch.searchsorted(part.cumsum(dim=-1), limit[flat], right=True)[:, 0]
    whole = (count >= PREFIX).nonzero()[:, 0]
    if whole.numel():
        rows = probs[whole] if whole.numel() < n else probs
        count[whole] = torch.searchsorted(rows.cumsum(dim=-1), limit[whole], right=True)[:, 0]
    return count


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
    nearly every text row has such a tie; docs/FAST_PATH.md, "Sampling in 16 bits").

    Returns the filtered scores widened to float32 when they are 16-bit: exactly
    ``top_p_filter(...).float()``, which is what the sampler's softmax takes. Rows as wide as a
    text vocabulary skip ``masked_fill`` and boolean masks (several ms per 8 rows on a CPU):
    each row is thresholded in place just below its first kept score, and the few tied scores
    it drops are found with NumPy."""
    wide = scores.dtype in (torch.float32, torch.float64)
    ties: Ties = "reference" if wide else "index"
    if not _sortable(scores) or scores.shape[-1] < COUNTING_SORT_MIN:
        out = top_p_filter(scores, top_p, ties)
        return out if wide else out.float()
    first_kept, tied_dropped, nan = _boundary(sorted_values(scores), top_p)
    out = scores.float() if not wide else scores.clone()
    grid = out.numpy()
    fallback = []
    for row, (value, count, bad) in enumerate(zip(first_kept[:, 0].tolist(), tied_dropped.tolist(),
                                                  nan.tolist())):
        if bad or (count and wide):
            fallback.append(row)
            continue
        # x > (the largest number below value) <=> x >= value, for every x of out's dtype
        below = np.nextafter(grid.dtype.type(value), grid.dtype.type(NEG_INF))
        F.threshold_(out[row], float(below), NEG_INF)
        if count:                                # tied scores dropped by id: the lowest ids first
            grid[row, np.flatnonzero(grid[row] == value)[:count]] = NEG_INF
    if fallback:
        index = torch.tensor(fallback)
        out[index] = top_p_reference(scores[index], top_p, stable=not wide).to(out.dtype)
    return out
