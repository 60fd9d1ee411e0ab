"""Running a transformers Qwen2 stack (its layers, norm and rotary table) with our own
positions, masks and KV caches.

``Qwen2Model.forward`` builds masks and caches for us, which is what the eager path uses.
The fast path and the patch encoder need more control (per-row positions, a preallocated
cache, a bidirectional 4-frame window), so they call the stack's decoder layers directly;
the layers, norms and rotary embedding are transformers' own modules.
"""

from __future__ import annotations

import torch
from torch import nn


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool ``allowed`` -> additive float mask (0 where allowed, the dtype's min elsewhere)."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    neg = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, neg)


def causal_mask(q_len: int, past_len: int, dtype: torch.dtype, device) -> torch.Tensor:
    """[1, 1, q, past+q] additive mask: query i (at position past+i) sees keys 0..past+i."""
    q_pos = torch.arange(q_len, device=device)[:, None] + past_len
    k_pos = torch.arange(past_len + q_len, device=device)[None, :]
    return additive_mask(k_pos <= q_pos, dtype)[None, None]


def rotary(stack: nn.Module, like: torch.Tensor, positions: torch.Tensor):
    """(cos, sin), each [B, T, Dh] in ``like``'s dtype, for positions [B, T] (fp32 inv_freq)."""
    return stack.rotary_emb(like, positions)


def run_stack(
    stack: nn.Module,
    hidden: torch.Tensor,
    cos_sin: tuple[torch.Tensor, torch.Tensor],
    *,
    causal: bool = True,
    past_len: int = 0,
    mask: torch.Tensor | None = None,
    cache=None,
) -> torch.Tensor:
    """Apply every decoder layer of ``stack`` then its final norm. hidden: [B, T, D] -> [B, T, D].

    ``mask`` (additive, [B or 1, 1, T, keys]) overrides everything. Without it, attention is
    causal or full over the keys; for an SDPA/flash stack with a causal window over an empty
    cache we pass ``is_causal`` and no mask (the reference's kernel path); the eager attention
    function ignores ``is_causal``, so it gets an explicit mask.
    """
    q_len = hidden.shape[1]
    impl = stack.config._attn_implementation
    needs_window = causal and q_len > 1
    if mask is None and needs_window and (impl == "eager" or past_len > 0):
        mask = causal_mask(q_len, past_len, hidden.dtype, hidden.device)
    if mask is not None and impl == "flash_attention_2":
        # flash-attn takes padding masks, not additive ones: masked calls (batched decode over
        # rows of different lengths) go through SDPA, which is the same maths.
        stack.config._attn_implementation = "sdpa"
    try:
        for layer in stack.layers:
            hidden = layer(
                hidden,
                attention_mask=mask,
                position_embeddings=cos_sin,
                past_key_values=cache,
                is_causal=needs_window and mask is None,
            )
    finally:
        stack.config._attn_implementation = impl
    return stack.norm(hidden)
