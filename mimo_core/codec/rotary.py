"""Rotary position embeddings, rotate-half convention (first half / second half of a head).

inv_freq = 1 / theta^(2i / head_dim); no attention scaling factor. The tables are built
in float32 and cast to the activation dtype; in bfloat16 the reference also stores
inv_freq itself in bf16 (``.bfloat16()`` casts every buffer), which we mirror.
"""

from __future__ import annotations

import torch


def inverse_frequencies(head_dim: int, theta: float, dtype: torch.dtype = torch.float32,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """[head_dim // 2] inverse frequencies, rounded to ``dtype`` (bf16 mirrors the reference)."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / head_dim
    inv_freq = 1.0 / (theta ** exponents)
    return inv_freq.to(dtype)


def rotary_tables(positions: torch.Tensor, inv_freq: torch.Tensor, dtype: torch.dtype
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """positions [N] (int) -> cos, sin [N, head_dim] in ``dtype`` (angles computed in float32)."""
    angles = (inv_freq.float()[:, None] @ positions.float()[None, :]).transpose(0, 1)   # [N, Dh/2]
    angles = torch.cat((angles, angles), dim=-1)                                          # [N, Dh]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [N, H, Dh], cos/sin [N, Dh] -> rotated x [N, H, Dh]."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)                                         # [N, 1, Dh]
    return (x * cos) + (rotate_half(x) * sin)


def packed_positions(lengths: torch.Tensor) -> torch.Tensor:
    """Positions that restart at 0 for every sequence of a packed batch: [sum(lengths)]."""
    starts = torch.cumsum(lengths, 0) - lengths                                           # [B]
    total = int(lengths.sum())
    return torch.arange(total, device=lengths.device) - torch.repeat_interleave(starts, lengths)
