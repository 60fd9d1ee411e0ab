"""Weight-only quantization of the LM's backbone and heads (``--quantize int8|int4``).

Through torchao (the PyTorch project's quantization library, released with each torch
version): every ``nn.Linear`` of the Qwen2 backbone, the text head and the audio heads keeps
its weight as integers plus scales, and computes in the model's dtype. Embeddings, norms and
the two small local transformers stay as loaded.

* int8: one scale per output row; runs on the CPU and on CUDA.
* int4: groups of 128 weights share a scale and zero point; torchao 0.18 has int4 kernels on
  CUDA only (its CPU int4 layout was removed), so int4 needs a CUDA device and bfloat16.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..errors import DeviceError

MODES = ("int8", "int4")
INT4_GROUP_SIZE = 128


def check_mode(mode) -> str | None:
    if mode in (None, "", "none"):
        return None
    if mode not in MODES:
        raise DeviceError(f"unknown --quantize {mode!r} (use int8 or int4)")
    return mode


def quantized_linears(model: nn.Module) -> Iterator[nn.Linear]:
    """The Linear layers that ``--quantize`` converts: backbone, text head, audio heads."""
    for part in (model.model, model.lm_head, model.local_transformer_lm_heads):
        for module in part.modules():
            if isinstance(module, nn.Linear):
                yield module


def _config(mode: str, device: torch.device, dtype: torch.dtype):
    try:
        from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig
    except ImportError:
        raise DeviceError("--quantize needs the torchao package (pip install torchao)") from None
    if mode == "int8":
        return Int8WeightOnlyConfig()
    if device.type != "cuda":
        raise DeviceError("--quantize int4 needs a CUDA device (torchao has no CPU int4 kernel); "
                          "use --quantize int8 on the CPU")
    if dtype != torch.bfloat16:
        raise DeviceError("--quantize int4 needs --dtype bfloat16")
    return Int4WeightOnlyConfig(group_size=INT4_GROUP_SIZE, int4_packing_format="tile_packed_to_4d")


def quantize_lm(model: nn.Module, mode: str | None) -> nn.Module:
    """Quantize ``model``'s backbone and heads in place (``mode`` None: unchanged)."""
    mode = check_mode(mode)
    if mode is None:
        return model
    weight = model.lm_head.weight
    config = _config(mode, weight.device, weight.dtype)
    from torchao.quantization import quantize_

    targets = set(map(id, quantized_linears(model)))
    quantize_(model, config, filter_fn=lambda module, _name: id(module) in targets)
    return model


def held_bytes(module: nn.Module) -> int:
    """Bytes the parameters hold, looking inside tensor subclasses (torchao's quantized weights
    keep their data in inner tensors)."""
    total = 0
    for p in module.parameters():
        if hasattr(p, "__tensor_flatten__"):
            inner, _ = p.__tensor_flatten__()
            total += sum(getattr(p, n).numel() * getattr(p, n).element_size() for n in inner)
        else:
            total += p.numel() * p.element_size()
    return total
