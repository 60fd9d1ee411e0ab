"""Variable-length packed self-attention with flash-attn 2 semantics.

Sequences of a batch are packed along one axis ([N, H, Dh], N = sum of lengths) and
attend only within themselves (block-diagonal). ``window = (left, right)`` follows
flash-attn 2: query i of a sequence sees keys j with i - left <= j <= i + right
(-1 = unbounded); ``causal`` caps the right side at 0.

Three interchangeable backends:
- ``flash``: flash-attn's ``flash_attn_varlen_func`` (CUDA, fp16/bf16), imported lazily;
- ``sdpa``: torch ``scaled_dot_product_attention`` per sequence (fused kernels: no mask
  for full attention, ``is_causal`` for causal, a boolean band mask on narrow query blocks
  for sliding windows), computed in float32 and cast back, as the reference's CPU
  stand-in does;
- ``math``: the same rules with the arithmetic of torch's "math" SDPA kernel written out
  (scores materialised per query block). It rounds exactly like the stand-in that made
  the goldens (fp32 encoder outputs bit-identical; bf16 codes closer), at 2-5x the CPU
  cost of ``sdpa``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from ..errors import DeviceError

UNBOUNDED = -1
BACKENDS = ("auto", "flash", "sdpa", "math")
SCORE_BUDGET = 1 << 24        # max attention scores held at once by the sdpa path (x4 bytes)
WINDOW_BLOCK = 128            # queries per block under a sliding window


@lru_cache(maxsize=1)
def _flash_varlen():
    try:
        from flash_attn import flash_attn_varlen_func  # optional dependency
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return flash_attn_varlen_func


def flash_available() -> bool:
    return _flash_varlen() is not None


@lru_cache(maxsize=32)
def resolve_backend(backend: str, device: torch.device, dtype: torch.dtype) -> str:
    """'auto' -> 'flash' on CUDA with fp16/bf16 when flash-attn imports, else 'sdpa'.
    Cached: every layer of every forward asks the same question."""
    if backend not in BACKENDS:
        raise DeviceError(f"unknown attention backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    flash_ok = device.type == "cuda" and dtype in (torch.float16, torch.bfloat16) and flash_available()
    if backend == "flash" and not flash_ok:
        raise DeviceError("attention backend 'flash' needs flash-attn installed, a CUDA device and fp16/bf16 weights")
    if backend == "auto":
        return "flash" if flash_ok else "sdpa"
    return backend


def window_mask(q_start: int, q_end: int, k_start: int, k_end: int, left: int, right: int,
                device: torch.device) -> torch.Tensor | None:
    """Boolean [Lq, Lk] mask (True = attend) for positions inside one sequence, None if all allowed.
    The mask depends only on the block sizes and the query-key offset, so it is built once per
    geometry and device (shared, never modified)."""
    return _relative_mask(q_end - q_start, k_end - k_start, q_start - k_start, left, right, torch.device(device))


@lru_cache(maxsize=64)
def _relative_mask(q_len: int, k_len: int, offset: int, left: int, right: int,
                   device: torch.device) -> torch.Tensor | None:
    """Query i (at offset + i, counted from the first key) sees key j iff
    offset + i - left <= j <= offset + i + right; None when every pair qualifies."""
    left_all = left < 0 or offset + q_len - 1 - left <= 0            # worst case: last query, first key
    right_all = right < 0 or k_len - 1 <= offset + right              # worst case: first query, last key
    if q_len == 0 or k_len == 0 or (left_all and right_all):
        return None
    qi = torch.arange(offset, offset + q_len, device=device)[:, None]
    kj = torch.arange(0, k_len, device=device)[None, :]
    allowed = torch.ones(q_len, k_len, dtype=torch.bool, device=device)
    if left >= 0:
        allowed &= kj >= qi - left
    if right >= 0:
        allowed &= kj <= qi + right
    return allowed


def attend_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(q k^T / sqrt(Dh)) v with the 1/sqrt(Dh) split evenly between q and k, as torch's
    math kernel does; q [..., Lq, Dh], k/v [..., Lk, Dh], mask [Lq, Lk] (True = attend)."""
    root_scale = math.sqrt(1.0 / math.sqrt(q.shape[-1]))
    scores = torch.matmul(q * root_scale, k.transpose(-2, -1) * root_scale)              # [..., Lq, Lk]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _attend_one_sequence(q, k, v, left: int, right: int, math_kernel: bool) -> torch.Tensor:
    """q, k, v [L, H, Dh] float32 of one sequence -> [L, H, Dh]."""
    length, heads, _ = q.shape
    q, k, v = (t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))                     # [1, H, L, Dh]
    if not math_kernel and left < 0 and right in (UNBOUNDED, 0):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=right == 0)              # fused kernel
        return out[0].transpose(0, 1)
    if left >= 0:                  # sliding window: small query blocks keep the key range narrow
        block = max(WINDOW_BLOCK, left + max(right, 0) + 1)
    else:
        block = SCORE_BUDGET // (heads * length)
    block = max(1, min(length, block))
    outs = []
    for q_start in range(0, length, block):
        q_end = min(length, q_start + block)
        k_start = 0 if left < 0 else max(0, q_start - left)
        k_end = length if right < 0 else min(length, q_end + right)
        mask = window_mask(q_start, q_end, k_start, k_end, left, right, q.device)
        qb, kb, vb = q[:, :, q_start:q_end], k[:, :, k_start:k_end], v[:, :, k_start:k_end]
        if math_kernel:
            outs.append(attend_math(qb, kb, vb, mask))
        else:
            outs.append(F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask))
    return torch.cat(outs, dim=2)[0].transpose(0, 1)                                      # [L, H, Dh]


@lru_cache(maxsize=16)
def _cu_seqlens(lengths: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """flash-attn's int32 [B + 1] sequence offsets, built once per batch layout (shared by all layers)."""
    lens = torch.tensor(lengths, dtype=torch.int32, device=device)
    return F.pad(torch.cumsum(lens, 0, dtype=torch.int32), (1, 0))


def packed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: list[int], *,
                     causal: bool, window: tuple[int, int] = (UNBOUNDED, UNBOUNDED),
                     backend: str = "auto") -> torch.Tensor:
    """q, k, v [N, H, Dh] packed over sequences of ``lengths`` -> [N, H, Dh] (input dtype)."""
    left, right = int(window[0]), int(window[1])
    if causal:
        right = 0
    backend = resolve_backend(backend, q.device, q.dtype)
    if backend == "flash":
        cu_seqlens = _cu_seqlens(tuple(lengths), q.device)
        longest = max(lengths)
        return _flash_varlen()(q, k, v, cu_seqlens, cu_seqlens, longest, longest,
                               softmax_scale=1.0 / math.sqrt(q.shape[-1]), causal=causal,
                               window_size=(int(window[0]), int(window[1])))
    out = torch.empty_like(q)
    start = 0
    for length in lengths:
        end = start + length
        if length:
            out[start:end] = _attend_one_sequence(q[start:end].float(), k[start:end].float(),
                                                  v[start:end].float(), left, right,
                                                  backend == "math").to(q.dtype)
        start = end
    return out
