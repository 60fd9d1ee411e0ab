"""Running a transformers Qwen2 stack (its layers, norm and rotary table) with our own
positions, masks and KV caches.

``Qwen2Model.forward`` builds masks and caches for us, which is what the eager path uses.
``run_stack`` calls the stack's decoder layers directly with our own positions, masks and
caches (the eager path's patch encoder). ``step_stack`` is the fast path's layer: the same
maths with fused projections and few operations (docs/FAST_PATH.md); it reads the stack's
weights (fused in place, one copy) and rotary tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .fusion import fused_params, layer_groups, members


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


# ---- the fast path's step: fused projections, few operations -----------------------------------
# The fast path does not repeat the reference's operations one by one (see docs/FAST_PATH.md):
# q/k/v and gate/up are one matmul each, the residual adds ride in the output matmuls (addmm),
# the norms are one rms_norm, rotary is applied to q and k together, attention is one SDPA
# call. In float32 it reproduces every greedy golden; its exactness rule is the document's.
class Linear(NamedTuple):
    weight: torch.Tensor              # (out, in), or (in, out) in a LayerWeights (see there)
    bias: torch.Tensor | None
    rows: torch.Tensor | None = None  # in a LayerWeights: the (out, in) layout, for the row kernel


class Norm(NamedTuple):
    weight: torch.Tensor              # (D,)
    eps: torch.Tensor                 # () float32 on the weight's device (no scalar wrapping per call)


class Rotary(NamedTuple):
    """Rotary tables laid out for (B, T, heads, Dh) activations: cos and the sine with its
    first half negated, so that rotate_half(x) * sin == swap_halves(x) * signed_sin."""

    cos: torch.Tensor                 # (B or 1, T, 1, Dh)
    signed_sin: torch.Tensor          # (B or 1, T, 1, Dh)


class LayerWeights(NamedTuple):
    """One decoder layer's tensors and constants, as :func:`step_stack` uses them. The matrices
    are stored transposed (``(in, out)`` views of the module weights, made once) for addmm/mm."""

    input_norm: Norm
    qkv: Linear                       # q, k, v projections concatenated: weight (in, out) view
    o: Linear
    post_norm: Norm
    gate_up: Linear                   # gate then up, concatenated
    down: Linear
    act: Callable[[torch.Tensor], torch.Tensor]
    q_heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    layer_idx: int
    scaling: float


def _transposed(linear: Linear) -> Linear:
    return Linear(linear.weight.t(), linear.bias, linear.weight)


def fuse_linears(modules: Sequence[nn.Module]) -> Linear:
    """The modules' weights (and biases) concatenated on dim 0, once: afterwards each module's
    parameters are views of the fused tensors, so the model holds one copy (the module path
    computes with the views unchanged). Works for nn.Linear and nn.Embedding (rows = ids).
    Idempotent while the views are in place; a model from ``load_mimo_lm`` comes fused already
    (the layout and the groups: :mod:`.fusion`)."""
    has_bias = [getattr(m, "bias", None) is not None for m in modules]
    if any(has_bias) and not all(has_bias):
        raise ValueError("fuse_linears: all or none of the layers must have a bias")
    fused = fused_params(modules, ("weight", "bias") if all(has_bias) else ("weight",), padded=False)
    return Linear(fused[0], fused[1] if len(fused) > 1 else None)


def rotary_tables(stack: nn.Module, like: torch.Tensor, positions: torch.Tensor) -> Rotary:
    """:class:`Rotary` for positions [B, T] in ``like``'s dtype (the stack's own cos/sin)."""
    cos, sin = rotary(stack, like, positions)                                    # (B, T, Dh)
    half = sin.shape[-1] // 2
    signed = torch.cat([-sin[..., :half], sin[..., half:]], dim=-1)
    return Rotary(cos[:, :, None, :], signed[:, :, None, :])


class StepPlan:
    """A stack's fused tensors gathered once for :func:`step_stack` (attribute look-ups through
    ``nn.Module.__getattr__`` cost more than a small model's arithmetic). Building it fuses the
    stack's projections in place (see :func:`fuse_linears`); re-plan after ``.to()``."""

    def __init__(self, stack: nn.Module):
        self.stack = stack
        cfg = stack.config
        self.layers = []
        for layer, (qkv, gate_up) in zip(stack.layers, layer_groups(stack)):
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(LayerWeights(
                _norm(layer.input_layernorm), _transposed(fuse_linears(members(stack, qkv))),
                _transposed(Linear(attn.o_proj.weight, attn.o_proj.bias)), _norm(layer.post_attention_layernorm),
                _transposed(fuse_linears(members(stack, gate_up))),
                _transposed(Linear(mlp.down_proj.weight, mlp.down_proj.bias)),
                mlp.act_fn, cfg.num_attention_heads, cfg.num_key_value_heads, attn.head_dim,
                mlp.gate_proj.weight.shape[0], attn.layer_idx, attn.scaling,
            ))
        self.norm = _norm(stack.norm)
        head_dim, weight = self.layers[0].head_dim, self.layers[0].qkv.weight
        self.swap = halves_swapped(head_dim, weight.device)                        # (Dh,)


def halves_swapped(head_dim: int, device) -> torch.Tensor:
    """The index that swaps the two halves of a head: x[..., swap] == (x2, x1)."""
    half = head_dim // 2
    return torch.cat([torch.arange(half, head_dim), torch.arange(half)]).to(device)


def _norm(module: nn.Module) -> Norm:
    eps = torch.tensor(module.variance_epsilon, dtype=torch.float32, device=module.weight.device)
    return Norm(module.weight, eps)


def _converted(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x.to(dtype) (the same rounding) in two ops instead of four."""
    return torch.empty(x.shape, dtype=dtype, device=x.device).copy_(x)


def rms_norm(norm: Norm, hidden: torch.Tensor) -> torch.Tensor:
    """Qwen2RMSNorm's maths: float32 statistics, the weight applied in the input dtype (as the
    reference does), in six ops (aten::rms_norm decomposes into more on the CPU). The mean is
    the sum times 1/D: the same bits when D is a power of two, as in every MiMo stack."""
    wide = hidden.dtype == torch.float32
    x = hidden if wide else _converted(hidden, torch.float32)
    variance = torch.add(norm.eps, (x * x).sum(-1, keepdim=True), alpha=1.0 / x.shape[-1])     # (N, 1); x * x: square()'s bits, one op
    x = x * variance.rsqrt_()
    return norm.weight * (x if wide else _converted(x, hidden.dtype))


# one row of 16-bit activations on the CPU: the matrix-vector kernel (addmv) streams a weight
# about 1.4x faster than addmm's matrix-matrix kernel on the CPUs we measured
# (bench/bench_row_kernel.py); float32 and other devices keep addmm
ROW_KERNEL_DTYPES = (torch.bfloat16, torch.float16)


def uses_row_kernel(x: torch.Tensor) -> bool:
    return x.shape[0] == 1 and x.dtype in ROW_KERNEL_DTYPES and x.device.type == "cpu"


def _linear(x: torch.Tensor, linear: Linear, residual: torch.Tensor | None = None) -> torch.Tensor:
    """x (N, in) @ weight (in, out) [+ bias] [+ residual (N, out)] in one matmul op."""
    if uses_row_kernel(x):
        weight = linear.rows if linear.rows is not None else linear.weight.t()      # (out, in) contiguous
        base = residual.view(-1) if residual is not None else linear.bias
        row = x.view(-1)
        out = torch.mv(weight, row) if base is None else torch.addmv(base, weight, row)
        if residual is not None and linear.bias is not None:
            out.add_(linear.bias)
        return out.view(1, -1)                                                      # (1, out)
    if residual is not None:
        out = torch.addmm(residual, x, linear.weight)
        return out.add_(linear.bias) if linear.bias is not None else out
    if linear.bias is not None:
        return torch.addmm(linear.bias, x, linear.weight)
    return torch.mm(x, linear.weight)


def project(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x (N, in) @ weight (out, in).T without bias, e.g. the text head: F.linear, or addmv's
    kernel for one 16-bit row on the CPU (see ROW_KERNEL_DTYPES)."""
    return torch.mv(weight, x.view(-1)).view(1, -1) if uses_row_kernel(x) else F.linear(x, weight)


def apply_rotary(x: torch.Tensor, rot: Rotary, swap: torch.Tensor) -> torch.Tensor:
    """Rotary on x (B, T, heads, Dh) or (B, heads, 1, Dh): x * cos + rotate_half(x) * sin, with
    rotate_half's negation folded into the table and its halves swapped by one index_select
    (``swap`` from :func:`halves_swapped`; same bits)."""
    return torch.addcmul(x * rot.cos, x.index_select(-1, swap), rot.signed_sin)


def step_stack(
    plan: StepPlan,
    hidden: torch.Tensor,
    rot: Rotary,
    cache,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """New positions of every row through every layer of a stack: hidden [B, T, D] -> [B, T, D].

    Qwen2DecoderLayer's maths with fused projections (see the comment above). It serves the
    fast path's one-token steps (T = 1) and its prefill (``causal``: T positions over an empty
    cache, each seeing the keys up to its own). ``cache`` is required (a
    :class:`~mimo_core.lm.kv_cache.StaticKVCache` positioned by the caller); ``mask`` is
    additive [B or 1, 1, T, keys] or None (every returned key visible).
    """
    B, T = hidden.shape[:2]
    is_causal = causal and T > 1 and mask is None
    hidden = hidden.reshape(B * T, -1)                                              # (B*T, D)
    # one position per row (every decode step): (B, 1, H, Dh) and (B, H, 1, Dh) are the same
    # memory, so q/k/v are taken head-major directly (no transposes), and rotary's (B|1, 1, 1, Dh)
    # tables broadcast over the heads
    one = T == 1
    for layer in plan.layers:
        qkv = _linear(rms_norm(layer.input_norm, hidden), layer.qkv)
        qk_heads = layer.q_heads + layer.kv_heads
        if one:
            qkv = qkv.view(B, -1, 1, layer.head_dim)                                # (B, Hq+2Hkv, 1, Dh)
            qk = apply_rotary(qkv[:, :qk_heads], rot, plan.swap)                  # (B, Hq+Hkv, 1, Dh)
            q, k, v = qk[:, : layer.q_heads], qk[:, layer.q_heads :], qkv[:, qk_heads:]
        else:
            qkv = qkv.view(B, T, -1, layer.head_dim)                                # (B, T, Hq+2Hkv, Dh)
            qk = apply_rotary(qkv[:, :, :qk_heads], rot, plan.swap)               # (B, T, Hq+Hkv, Dh)
            q = qk[:, :, : layer.q_heads].transpose(1, 2)                          # (B, Hq, T, Dh)
            k = qk[:, :, layer.q_heads :].transpose(1, 2)                          # (B, Hkv, T, Dh)
            v = qkv[:, :, qk_heads:].transpose(1, 2)                               # (B, Hkv, T, Dh)
        if cache is not None:
            k, v = cache.update(k, v, layer.layer_idx)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=layer.scaling,
                                             enable_gqa=layer.q_heads != layer.kv_heads)   # (B, Hq, T, Dh)
        attended = out.reshape(B, -1) if one else out.transpose(1, 2).reshape(B * T, -1)   # (B*T, Hq*Dh)
        hidden = _linear(attended, layer.o, hidden)
        gate_up = _linear(rms_norm(layer.post_norm, hidden), layer.gate_up)         # (B*T, 2F)
        x = layer.act(gate_up[:, : layer.ffn]).mul_(gate_up[:, layer.ffn :])
        hidden = _linear(x, layer.down, hidden)
    return rms_norm(plan.norm, hidden).view(B, T, -1)
