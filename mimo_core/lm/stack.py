"""Running a transformers Qwen2 stack (its layers, norm and rotary table) with our own
positions, masks and KV caches.

``Qwen2Model.forward`` builds masks and caches for us, which is what the eager path uses.
The fast path and the patch encoder need more control (per-row positions, a preallocated
cache, a bidirectional 4-frame window), so they call the stack's decoder layers directly;
the layers, norms and rotary embedding are transformers' own modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb, eager_attention_forward


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
        # flash-attn takes padding masks, not additive ones. The engine never sends one here
        # (prefill and the patch encoder are unmasked; masked decode steps go through
        # step_stack, which picks SDPA per call); the config is shared with the worker thread,
        # so it is not switched here.
        raise ValueError("run_stack: an additive mask needs the sdpa or eager attention, not flash-attn")
    for layer in stack.layers:
        hidden = layer(
            hidden,
            attention_mask=mask,
            position_embeddings=cos_sin,
            past_key_values=cache,
            is_causal=needs_window and mask is None,
        )
    return stack.norm(hidden)


# ---- the fast path's one-token step ----------------------------------------------------------
def _rms(weight: torch.Tensor, eps: float, hidden: torch.Tensor) -> torch.Tensor:
    """Qwen2RMSNorm.forward, op for op (called without the module-call machinery)."""
    input_dtype = hidden.dtype
    hidden = hidden.to(torch.float32)
    variance = hidden.pow(2).mean(-1, keepdim=True)
    hidden = hidden * torch.rsqrt(variance + eps)
    return weight * hidden.to(input_dtype)


class StepPlan:
    """A stack's tensors gathered once for :func:`step_stack` (attribute look-ups through
    ``nn.Module.__getattr__`` cost more than a small model's arithmetic). It holds the
    parameters themselves, so in-place weight updates are seen; re-plan after ``.to()``."""

    def __init__(self, stack: nn.Module):
        self.stack = stack
        self.layers = []
        for layer in stack.layers:
            attn, mlp = layer.self_attn, layer.mlp
            ln1, ln2 = layer.input_layernorm, layer.post_attention_layernorm
            self.layers.append((
                ln1.weight, ln1.variance_epsilon, attn,
                attn.q_proj.weight, attn.q_proj.bias, attn.k_proj.weight, attn.k_proj.bias,
                attn.v_proj.weight, attn.v_proj.bias, attn.o_proj.weight, attn.o_proj.bias,
                ln2.weight, ln2.variance_epsilon,
                mlp.gate_proj.weight, mlp.gate_proj.bias, mlp.up_proj.weight, mlp.up_proj.bias,
                mlp.down_proj.weight, mlp.down_proj.bias, mlp.act_fn,
                attn.head_dim, attn.layer_idx, attn.scaling, attn.sliding_window,
            ))
        self.norm = (stack.norm.weight, stack.norm.variance_epsilon)


def step_stack(
    plan: StepPlan,
    hidden: torch.Tensor,
    cos_sin: tuple[torch.Tensor, torch.Tensor],
    cache,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One new position per row through every layer of a stack: hidden [B, 1, D] -> [B, 1, D].

    The same operations, in the same order and with the same kernels, as ``run_stack`` (and so
    as ``Qwen2DecoderLayer.forward``) for a single query position -- the attention function is
    transformers' own for the stack's implementation -- but without the per-module call
    machinery, which dominates small models' decode steps. ``cache`` is required (a
    :class:`~mimo_core.lm.kv_cache.StaticKVCache` positioned by the caller); ``mask`` is
    additive [B or 1, 1, 1, keys] or None (every returned key visible).
    """
    impl = plan.stack.config._attn_implementation
    if impl == "flash_attention_2" and mask is not None:
        impl = "sdpa"   # flash-attn takes no additive masks; SDPA is the same maths
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(impl, eager_attention_forward)
    cos, sin = cos_sin
    B = hidden.shape[0]
    for (ln1, eps1, attn, qw, qb, kw, kb, vw, vb, ow, ob, ln2, eps2, gw, gb, uw, ub, dw, db, act,
         head_dim, layer_idx, scaling, window) in plan.layers:
        residual = hidden
        x = _rms(ln1, eps1, hidden)
        shape = (B, 1, -1, head_dim)                                          # (B, 1, H, Dh)
        q = F.linear(x, qw, qb).view(shape).transpose(1, 2)                   # (B, H, 1, Dh)
        k = F.linear(x, kw, kb).view(shape).transpose(1, 2)
        v = F.linear(x, vw, vb).view(shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k, v = cache.update(k, v, layer_idx)
        out, _ = attend(attn, q, k, v, mask, dropout=0.0, scaling=scaling, sliding_window=window, is_causal=False)
        out = out.reshape(B, 1, -1).contiguous()
        hidden = residual + F.linear(out, ow, ob)
        residual = hidden
        x = _rms(ln2, eps2, hidden)
        x = F.linear(act(F.linear(x, gw, gb)) * F.linear(x, uw, ub), dw, db)
        hidden = residual + x
    return _rms(*plan.norm, hidden)
