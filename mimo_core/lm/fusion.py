"""Which checkpoint tensors the fast path fuses, in which order, and how a fused tensor is laid out.

The fast path computes with a few concatenated weights (docs/FAST_PATH.md): per decoder layer
of each stack q/k/v as one matrix and gate/up as one, the speech embedding tables as one table,
and the patch decoder's channel heads as one zero-padded ``(C, V_max, Dl)`` stack. Each member
module's parameter is a view of its fused tensor, so the model holds one copy and the module
path computes with the views unchanged.

This module is the one description of those groups (:func:`fusion_groups`, derived from the
model's structure) and of their layout (:func:`allocate`). Two places build them:

* the loader (``loading.load_mimo_lm``), which allocates each fused tensor once and reads the
  members' bytes from the checkpoint straight into their slices;
* ``stack.fuse_linears`` / ``fused._padded_heads`` for a model whose weights came any other way
  (built in memory, moved with ``.to()``), which copy the members in.

Both leave a mark (:func:`install`) from which :func:`find_fused` gives the fused tensors back
while the views are in place, so a model fused at load time is never fused a second time. The
mark holds pointers and a layout, not the tensors: once the views are gone (``.to()``,
quantization) the fused storage is freed with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

# the Qwen2 stacks of MimoAudioLM (module paths) and, per decoder layer, the fused members
STACKS = ("model", "local_transformer", "input_local_transformer")
QKV = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")
GATE_UP = ("mlp.gate_proj", "mlp.up_proj")
SPEECH_TABLES = "speech_embeddings"
CHANNEL_HEADS = "local_transformer_lm_heads"
FUSED_ATTR = "_mimo_fused"


class FusionGroup(NamedTuple):
    """Member modules whose parameters live in one fused tensor per parameter name."""

    name: str                         # the fused tensor's name (for messages; not a state-dict key)
    modules: tuple[str, ...]          # member module paths, in fused order
    params: tuple[str, ...]           # ("weight",) or ("weight", "bias"): one fused tensor each
    padded: bool = False              # False: concatenated on dim 0; True: a zero-padded stack

    def keys(self, param: str) -> list[str]:
        """The members' state-dict keys of ``param``, in fused order."""
        return [f"{m}.{param}" for m in self.modules]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _group(root: nn.Module, prefix: str, name: str, members: Sequence[str], padded: bool = False) -> FusionGroup:
    """The group of ``members`` (paths in ``root``, which sits at ``prefix`` in the model); biases
    join when every member has one."""
    modules = [root.get_submodule(m) for m in members]
    has_bias = [getattr(m, "bias", None) is not None for m in modules]
    if any(has_bias) and not all(has_bias):
        raise ValueError(f"{_join(prefix, name)}: all or none of the fused layers must have a bias")
    if padded and any(has_bias):
        raise ValueError(f"{_join(prefix, name)}: a padded stack fuses weights only")
    params = ("weight", "bias") if all(has_bias) else ("weight",)
    return FusionGroup(_join(prefix, name), tuple(_join(prefix, m) for m in members), params, padded)


def layer_groups(stack: nn.Module, prefix: str = "") -> list[tuple[FusionGroup, FusionGroup]]:
    """(q/k/v, gate/up) of every decoder layer of a Qwen2 stack, module paths under ``prefix``."""
    return [
        (_group(stack, prefix, f"layers.{i}.self_attn.qkv_proj", [f"layers.{i}.{m}" for m in QKV]),
         _group(stack, prefix, f"layers.{i}.mlp.gate_up_proj", [f"layers.{i}.{m}" for m in GATE_UP]))
        for i in range(len(stack.layers))
    ]


def speech_table_group(model: nn.Module) -> FusionGroup:
    """The speech embedding tables, channel by channel: one (sum V_c, Di) table."""
    tables = model.get_submodule(SPEECH_TABLES)
    return _group(tables, SPEECH_TABLES, "fused", [str(c) for c in range(len(tables))])


def heads_group(model: nn.Module) -> FusionGroup:
    """The patch decoder's channel heads: one zero-padded (C, V_max, Dl) stack."""
    heads = model.get_submodule(CHANNEL_HEADS)
    return _group(heads, CHANNEL_HEADS, "padded", [str(c) for c in range(len(heads))], padded=True)


def fusion_groups(model: nn.Module) -> list[FusionGroup]:
    """Every group the fast path fuses in a MimoAudioLM (built on any device, meta included)."""
    groups = []
    for prefix in STACKS:
        for qkv, gate_up in layer_groups(model.get_submodule(prefix), prefix):
            groups += [qkv, gate_up]
    return groups + [speech_table_group(model), heads_group(model)]


def members(root: nn.Module, group: FusionGroup) -> list[nn.Module]:
    return [root.get_submodule(m) for m in group.modules]


# ---- the layout ------------------------------------------------------------------------------
def fused_shape(shapes: Sequence[Sequence[int]], padded: bool) -> tuple[int, ...]:
    """Members (out_i, *rest) -> (sum out_i, *rest), or (N, max out_i, *rest) when padded."""
    rest = tuple(shapes[0][1:])
    if any(tuple(s[1:]) != rest for s in shapes):
        raise ValueError(f"fused members differ past dim 0: {[tuple(s) for s in shapes]}")
    rows = [s[0] for s in shapes]
    return (len(rows), max(rows), *rest) if padded else (sum(rows), *rest)


def allocate(shapes: Sequence[Sequence[int]], padded: bool, dtype: torch.dtype,
             device: torch.device | str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One fused tensor for members of ``shapes`` and each member's view of it (contiguous rows).
    A padded stack starts as zeros (its padding rows stay zero); a concatenation is left for the
    caller to fill entirely."""
    make = torch.zeros if padded else torch.empty
    fused = make(fused_shape(shapes, padded), dtype=dtype, device=device)
    if padded:
        return fused, [fused[i, : s[0]] for i, s in enumerate(shapes)]            # (out_i, *rest) each
    return fused, list(fused.split([s[0] for s in shapes]))                        # (out_i, *rest) each


class _Mark(NamedTuple):
    pointers: tuple[int, ...]                          # every member parameter's data_ptr, params-major
    layouts: tuple[tuple[tuple[int, ...], int], ...]   # per param: the fused shape and storage offset


def _pointers(modules: Sequence[nn.Module], params: Sequence[str]) -> tuple[int, ...]:
    return tuple(getattr(m, p).data_ptr() for p in params for m in modules)


def install(modules: Sequence[nn.Module], params: Sequence[str], fused: Sequence[torch.Tensor],
            views: Sequence[Sequence[torch.Tensor]], requires_grad: bool = False) -> None:
    """Make each member's parameters the views (``views[j][i]``: param j of module i) and mark
    the first member so that :func:`find_fused` finds ``fused`` again."""
    for param, param_views in zip(params, views):
        for module, view in zip(modules, param_views):
            module._parameters[param] = nn.Parameter(view, requires_grad=requires_grad)
    layouts = tuple((tuple(f.shape), f.storage_offset()) for f in fused)
    object.__setattr__(modules[0], FUSED_ATTR, _Mark(_pointers(modules, params), layouts))


def find_fused(modules: Sequence[nn.Module], params: Sequence[str]) -> tuple[torch.Tensor, ...] | None:
    """The fused tensors (one per param) while the members are still the views :func:`install`
    made, else None."""
    mark = getattr(modules[0], FUSED_ATTR, None)
    if mark is None or mark.pointers != _pointers(modules, params):
        return None
    out = []
    for param, (shape, offset) in zip(params, mark.layouts):
        first = getattr(modules[0], param).detach()
        out.append(first.as_strided(shape, torch.empty(shape, device="meta").stride(), offset))
    return tuple(out)


def fuse_in_place(modules: Sequence[nn.Module], params: Sequence[str], padded: bool) -> tuple[torch.Tensor, ...]:
    """Copy the members' current parameters into fused tensors and make them views of those."""
    fused, views = [], []
    with torch.no_grad():
        for param in params:
            tensors = [getattr(m, param) for m in modules]
            whole, parts = allocate([t.shape for t in tensors], padded, tensors[0].dtype, tensors[0].device)
            for part, tensor in zip(parts, tensors):
                part.copy_(tensor)
            fused.append(whole)
            views.append(parts)
    install(modules, params, fused, views, requires_grad=getattr(modules[0], params[0]).requires_grad)
    return tuple(fused)


def fused_params(modules: Sequence[nn.Module], params: Sequence[str], padded: bool) -> tuple[torch.Tensor, ...]:
    """The members' fused tensors: found when already fused (at load time or before), else made."""
    found = find_fused(modules, params)
    return found if found is not None else fuse_in_place(modules, params, padded)
