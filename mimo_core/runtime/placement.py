"""Where each model goes and whether Base and Instruct can both stay loaded.

Sizes come from the models built on the ``meta`` device (parameter counts times bytes per
weight, nothing allocated) plus the LM's preallocated KV cache; budgets from the device's free
memory. :func:`plan_memory` is a pure function of those numbers:

* everything fits on its device: all models stay loaded;
* Base and Instruct share a device where only one of them fits (beside what else is there):
  they take turns ("swap": the one a request needs is loaded, the other unloaded);
* one model alone does not fit: :class:`~mimo_core.errors.DeviceError` naming what helps
  (``--quantize``, another ``--<role>-device``, the tokenizer on the CPU).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..errors import DeviceError
from ..resolve import DEFAULT_SPECS, Role, is_tiny, resolve_spec

GB = 1e9
LM_ROLES = (Role.INSTRUCT, Role.BASE)
# Memory kept free on a device beside the weights and caches: activations of a step, the
# CUDA context and allocator slack (GPU); the Python process and the app (CPU).
RESERVE_BYTES = {"cuda": int(1.5 * GB), "cpu": int(2.0 * GB)}
# Weight-only quantization: bits per weight of a quantized Linear, plus its scales (one
# bf16 scale and zero point per group of 128 weights, int4; one scale per row, int8).
QUANT_BITS = {"int8": 8, "int4": 4}
INT4_GROUP = 128


@dataclass(frozen=True)
class Need:
    """Bytes one model needs on its device."""

    weights: int
    cache: int = 0                          # the LM's preallocated KV cache

    @property
    def total(self) -> int:
        return self.weights + self.cache


@dataclass(frozen=True)
class MemoryPlan:
    devices: dict                           # Role -> device string
    needs: dict                             # Role -> Need
    budgets: dict                           # device -> bytes available to our models (None: unknown)
    swap: bool = False                      # Base and Instruct take turns on one device

    def describe(self) -> dict:
        """For the status table (GB, rounded)."""
        out = {"mode": "Base and Instruct take turns (swap)" if self.swap else "all models stay loaded"}
        for role, need in self.needs.items():
            out[f"{role.value}_gb"] = f"{need.total / GB:.2f} on {self.devices[role]}"
        for device, budget in self.budgets.items():
            out[f"free_{device}_gb"] = "unknown" if budget is None else round(budget / GB, 1)
        return out


def _bytes_per(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def lm_weight_bytes(config, dtype: torch.dtype, quantize: Optional[str] = None) -> int:
    """Bytes of the LM's weights, from the model built on the meta device. ``quantize``:
    Linear weights of the backbone and heads at int8/int4 (see :mod:`mimo_core.lm.quantize`)."""
    from ..lm.loading import build_meta_model      # mimo_core.lm imports transformers: at the
    from ..lm.quantize import quantized_linears    # plan, not when the facade is imported

    model = build_meta_model(config)
    per = _bytes_per(dtype)
    total = sum(p.numel() for p in model.parameters()) * per
    if quantize is not None:
        for linear in quantized_linears(model):
            n = linear.weight.numel()
            total -= n * per
            total += n * QUANT_BITS[quantize] // 8
            total += (linear.weight.shape[0] * 2 * per if quantize == "int8"
                      else n // INT4_GROUP * 2 * per)
    return total


def kv_cache_bytes(config, dtype: torch.dtype, max_batch: int, context_groups: int) -> int:
    """The backbone's preallocated KV cache: keys and values, every layer, every row, the whole
    context (the patch decoder's cache is a few groups long: left out)."""
    per_row = 2 * config.num_hidden_layers * config.num_key_value_heads * context_groups * config.head_dim
    return per_row * max_batch * _bytes_per(dtype)


def codec_weight_bytes(config, dtype: torch.dtype) -> int:
    from ..codec.model import build_model         # (as above: mimo_core.codec imports transformers)

    return sum(p.numel() for p in build_model(config, "meta").parameters()) * _bytes_per(dtype)


def config_dir(spec, role: Role) -> Path:
    """A directory holding ``role``'s config.json: the checkpoint itself when it is local (or
    tiny), else only config.json fetched from the Hub (the weights are not downloaded)."""
    spec = DEFAULT_SPECS[role] if spec is None else spec
    text = str(spec)
    if is_tiny(spec) or Path(text).expanduser().exists() or text.count("/") != 1:
        return resolve_spec(spec, role)
    try:
        from huggingface_hub import hf_hub_download   # only a Hub spec needs it
        return Path(hf_hub_download(text, "config.json")).parent
    except Exception:  # noqa: BLE001 - offline, gated ...: resolve_spec gives the readable error
        return resolve_spec(spec, role)


def free_bytes(device: str) -> Optional[int]:
    """Memory free on ``device`` now (None when it cannot be told)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested but CUDA is not available on this machine")
        free, _total = torch.cuda.mem_get_info(dev.index if dev.index is not None else 0)
        return int(free)
    if dev.type == "cpu":
        return _available_ram()
    return None


def _available_ram() -> Optional[int]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def free_memory() -> None:
    """Return freed model memory at once (the garbage collector, then CUDA's cache)."""
    gc.collect()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def reserve_for(device: str) -> int:
    return RESERVE_BYTES.get(torch.device(device).type, 0)


def plan_memory(needs: dict, devices: dict, budgets: dict) -> MemoryPlan:
    """The plan for ``needs`` (Role -> Need, configured models only) on ``devices`` (Role ->
    device) given ``budgets`` (device -> bytes our models may use, None = unknown: no check)."""
    load = {}
    for role, need in needs.items():
        load[devices[role]] = load.get(devices[role], 0) + need.total
    over = {d: total for d, total in load.items() if budgets.get(d) is not None and total > budgets[d]}
    if not over:
        return MemoryPlan(devices, needs, budgets)
    lms = [r for r in LM_ROLES if r in needs]
    shared = len(lms) == 2 and devices[lms[0]] == devices[lms[1]]
    if shared:
        device = devices[lms[0]]
        # taking turns, the device holds one LM (the larger) beside whatever else is there
        turns = load[device] - min(needs[r].total for r in lms)
        if set(over) == {device} and turns <= budgets[device]:
            return MemoryPlan(devices, needs, budgets, swap=True)
        if device in over:
            over[device] = turns
    device = next(d for d in over if over[d] > budgets[d])
    raise DeviceError(_why_not(needs, devices, budgets[device], device, over[device]))


def _why_not(needs: dict, devices: dict, budget: int, device: str, required: int) -> str:
    on_it = [r for r in needs if devices[r] == device]
    biggest = max(on_it, key=lambda r: needs[r].total)
    helps = []
    if biggest in LM_ROLES:
        helps.append("--quantize int8 (about half the weights) or int4")
        helps.append(f"--{biggest.value}-device with another device (cuda:1 or cpu)")
    if Role.TOKENIZER in on_it:
        helps.append(f"--tokenizer-device cpu (frees {needs[Role.TOKENIZER].total / GB:.1f} GB)")
    return (f"the {biggest.value} model does not fit on {device}: {required / GB:.1f} GB is needed "
            f"there (with what else is placed on it) but {budget / GB:.1f} GB is available; "
            f"try {'; or '.join(helps)}")
