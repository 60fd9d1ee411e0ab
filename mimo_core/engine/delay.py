"""The patch decoder's delay pattern, as small pure helpers.

Channel c of a group is emitted ``delays[c]`` steps late: at patch-decoder step t it emits
its frame ``t - delays[c]`` when that lies in ``0 .. P-1``. A group of P frames therefore
takes ``P + max(delays)`` steps. Worked example with P = 4 frames, 3 channels, delays
(0, 1, 2) and a group ``codes`` (frames x channels)::

    codes =  [[a0, b0, c0],          delayed = [[a0,  _,  _],     step 0: a0
              [a1, b1, c1],                     [a1, b0,  _],     step 1: a1 b0
              [a2, b2, c2],                     [a2, b1, c0],     step 2: a2 b1 c0
              [a3, b3, c3]]                     [a3, b2, c1],     step 3: a3 b2 c1
                                                [ _, b3, c2],     step 4:    b3 c2
                                                [ _,  _, c3]]     step 5:       c3

where ``_`` is the fill value (``UNGENERATED`` by default). ``undelay(delay(codes)) == codes``.
The release uses 8 channels with delays 0..7, so 4 + 7 = 11 steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

UNGENERATED = -1  # a canvas slot that no step has written yet


def num_steps(delays: Sequence[int], frames: int) -> int:
    return frames + max(delays)


def schedule(delays: Sequence[int], frames: int) -> list[tuple[tuple[int, int], ...]]:
    """For every step t, the (channel, frame) pairs emitted at t, channels in increasing order."""
    return [
        tuple((c, t - d) for c, d in enumerate(delays) if 0 <= t - d < frames)
        for t in range(num_steps(delays, frames))
    ]


def delay(codes: torch.Tensor, delays: Sequence[int], fill: int = UNGENERATED) -> torch.Tensor:
    """codes (..., P, C) -> delayed (..., P + max(delays), C): delayed[t, c] = codes[t - d_c, c]."""
    frames, channels = codes.shape[-2], codes.shape[-1]
    if len(delays) != channels:
        raise ValueError(f"{len(delays)} delays for {channels} channels")
    out = codes.new_full((*codes.shape[:-2], num_steps(delays, frames), channels), fill)
    for c, d in enumerate(delays):
        out[..., d : d + frames, c] = codes[..., :, c]
    return out


def undelay(delayed: torch.Tensor, delays: Sequence[int], frames: int,
            check_fill: int | None = UNGENERATED) -> torch.Tensor:
    """delayed (..., P + max(delays), C) -> codes (..., P, C), the inverse of :func:`delay`.

    With ``check_fill`` set, raises if any emitted slot still holds that value (a step that
    was never sampled).
    """
    if delayed.shape[-2] != num_steps(delays, frames):
        raise ValueError(f"delayed has {delayed.shape[-2]} steps, expected {num_steps(delays, frames)}")
    codes = torch.stack([delayed[..., d : d + frames, c] for c, d in enumerate(delays)], dim=-1)
    if check_fill is not None and bool((codes == check_fill).any()):
        raise RuntimeError("patch decoder left a slot ungenerated")
    return codes
