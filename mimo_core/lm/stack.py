"""Running a transformers Qwen2 stack (its layers, norm and rotary table) with our own
positions, masks and KV caches.

``Qwen2Model.forward`` builds masks and caches for us, which is what the eager path uses.
The fast path and the patch encoder need more control (per-row positions, a preallocated
cache, a bidirectional 4-frame window), so they call the stack's decoder layers directly;
the layers, norms and rotary embedding are transformers' own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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


class Linear(NamedTuple):
    weight: torch.Tensor              # (out, in)
    bias: torch.Tensor | None


class Norm(NamedTuple):
    weight: torch.Tensor              # (D,)
    eps: float


class LayerWeights(NamedTuple):
    """One decoder layer's tensors and constants, as :func:`step_stack` uses them."""

    input_norm: Norm
    q: Linear
    k: Linear
    v: Linear
    o: Linear
    post_norm: Norm
    gate: Linear
    up: Linear
    down: Linear
    act: Callable[[torch.Tensor], torch.Tensor]
    attention: nn.Module              # transformers' attention module (the attention function reads it)
    head_dim: int
    layer_idx: int
    scaling: float
    window: int | None


def _linear(module: nn.Linear) -> Linear:
    return Linear(module.weight, module.bias)


def _norm(module: nn.Module) -> Norm:
    return Norm(module.weight, module.variance_epsilon)


class StepPlan:
    """A stack's tensors gathered once for :func:`step_stack` (attribute look-ups through
    ``nn.Module.__getattr__`` cost more than a small model's arithmetic). It holds the
    parameters themselves, so in-place weight updates are seen; re-plan after ``.to()``."""

    def __init__(self, stack: nn.Module):
        self.stack = stack
        self.layers = [
            LayerWeights(
                _norm(layer.input_layernorm), _linear(layer.self_attn.q_proj), _linear(layer.self_attn.k_proj),
                _linear(layer.self_attn.v_proj), _linear(layer.self_attn.o_proj),
                _norm(layer.post_attention_layernorm), _linear(layer.mlp.gate_proj), _linear(layer.mlp.up_proj),
                _linear(layer.mlp.down_proj), layer.mlp.act_fn, layer.self_attn, layer.self_attn.head_dim,
                layer.self_attn.layer_idx, layer.self_attn.scaling, layer.self_attn.sliding_window,
            )
            for layer in stack.layers
        ]
        self.norm = _norm(stack.norm)


def step_stack(
    plan: StepPlan,
    hidden: torch.Tensor,
    cos_sin: tuple[torch.Tensor, torch.Tensor],
    cache,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """New positions of every row through every layer of a stack: hidden [B, T, D] -> [B, T, D].

    The same operations, in the same order and with the same kernels, as ``run_stack`` (and so
    as ``Qwen2DecoderLayer.forward``) -- the attention function is transformers' own for the
    stack's implementation -- but without the per-module call machinery, which dominates small
    models' decode steps. It serves the fast path's one-token steps (T = 1) and its prefill
    (``causal``: T positions over an empty cache, each seeing the keys up to its own).
    ``cache`` is required (a :class:`~mimo_core.lm.kv_cache.StaticKVCache` positioned by the
    caller); ``mask`` is additive [B or 1, 1, T, keys] or None (every returned key visible).
    """
    impl = plan.stack.config._attn_implementation
    B, T = hidden.shape[:2]
    is_causal = causal and T > 1
    if is_causal and mask is None and impl == "eager":   # eager attention ignores is_causal
        mask = causal_mask(T, 0, hidden.dtype, hidden.device)
    if impl == "flash_attention_2" and mask is not None:
        impl = "sdpa"   # flash-attn takes no additive masks; SDPA is the same maths
    is_causal = is_causal and mask is None
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(impl, eager_attention_forward)
    cos, sin = cos_sin
    for layer in plan.layers:
        residual = hidden
        x = _rms(*layer.input_norm, hidden)
        shape = (B, T, -1, layer.head_dim)                                    # (B, T, H, Dh)
        q = F.linear(x, *layer.q).view(shape).transpose(1, 2)                 # (B, H, T, Dh)
        k = F.linear(x, *layer.k).view(shape).transpose(1, 2)
        v = F.linear(x, *layer.v).view(shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k, v = cache.update(k, v, layer.layer_idx)
        out, _ = attend(layer.attention, q, k, v, mask, dropout=0.0, scaling=layer.scaling,
                        sliding_window=layer.window, is_causal=is_causal)
        out = out.reshape(B, T, -1).contiguous()                              # (B, T, H*Dh)
        hidden = residual + F.linear(out, *layer.o)
        residual = hidden
        x = _rms(*layer.post_norm, hidden)
        x = F.linear(layer.act(F.linear(x, *layer.gate)) * F.linear(x, *layer.up), *layer.down)
        hidden = residual + x
    return _rms(*plan.norm, hidden)
