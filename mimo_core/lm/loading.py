"""Loading the MiMo-Audio LM from an official checkpoint (local directory or HF repo id).

The module is built on the ``meta`` device (no memory), every tensor name and shape in the
checkpoint is checked against it before anything is read, then the shards are read one at a
time and each tensor is assigned in place of its meta placeholder, already converted to the
target dtype and device. So a 16 GB checkpoint never sits in memory twice: the peak is the
loaded model plus one tensor.

The tensors the fast path fuses (:mod:`.fusion`: q/k/v, gate/up, the speech tables, the
channel heads) are built fused here: each fused tensor is allocated once and its members'
bytes are read from the shard into their slices with file reads (:mod:`.file_reads`), so
neither a second copy nor the shard's mapped pages stay beside it. The other tensors come
from safetensors' memory map as they are (in the file's dtype on the CPU they stay mapped).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from ..checkpoints import check_keys, resolve_device, safetensors_shapes
from ..errors import DeviceError, ModelLoadError
from ..hub import checkpoint_dir
from .config import MimoLMConfig
from .file_reads import read_header, read_into
from .fusion import allocate, fusion_groups, install, members
from .modules import MimoAudioLM

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise DeviceError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}") from None


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def resolve_attention(attn: str, device: torch.device) -> str:
    """"auto" -> flash_attention_2 when flash-attn is importable on CUDA, else "sdpa"."""
    if attn == "auto":
        return "flash_attention_2" if device.type == "cuda" and flash_attn_available() else "sdpa"
    if attn == "flash_attention_2":
        if device.type != "cuda":
            raise DeviceError("flash_attention_2 needs a CUDA device; use attn='sdpa' or 'auto'")
        if not flash_attn_available():
            raise DeviceError("flash_attention_2 requested but the flash_attn package is not installed")
    elif attn not in ("sdpa", "eager"):
        raise DeviceError(f"unknown attention implementation {attn!r} (auto, sdpa, eager, flash_attention_2)")
    return attn


def resolve_checkpoint_dir(path_or_repo_id: str | Path) -> Path:
    """A local directory or a Hugging Face repo id (:func:`mimo_core.hub.checkpoint_dir`; the
    ``tiny`` demo checkpoints are :func:`mimo_core.resolve.resolve_spec`'s)."""
    return checkpoint_dir(path_or_repo_id, "Instruct model")


def checkpoint_files(root: Path) -> list[Path]:
    """The safetensors shards of a checkpoint, via the index when there is one."""
    index = root / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot read {index}: {exc}") from exc
        files = [root / name for name in sorted(set(weight_map.values()))]
    elif (root / SINGLE_FILE).is_file():
        files = [root / SINGLE_FILE]
    else:
        raise ModelLoadError(f"no {INDEX_FILE} or {SINGLE_FILE} in {root}")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ModelLoadError(f"checkpoint {root} lacks shard files {missing}")
    return files


def _assign(model: torch.nn.Module, key: str, tensor: torch.Tensor) -> None:
    owner_name, _, name = key.rpartition(".")
    owner = model.get_submodule(owner_name)
    if name in owner._parameters:
        owner._parameters[name] = torch.nn.Parameter(tensor, requires_grad=False)
    else:
        owner._buffers[name] = tensor


def _fuse_on_load(model: MimoAudioLM, expected: dict[str, tuple[int, ...]], device: torch.device,
                  dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Allocate every fused tensor of :func:`.fusion.fusion_groups` once, make the member
    parameters views of it (as ``fuse_linears`` / ``_padded_heads`` would), and return
    member key -> its slice, for the shards' bytes to be read into."""
    slices = {}
    for group in fusion_groups(model):
        fused, views = [], []
        for param in group.params:
            keys = group.keys(param)
            whole, parts = allocate([expected[k] for k in keys], group.padded, dtype, device)
            fused.append(whole)
            views.append(parts)
            slices.update(zip(keys, parts))
        install(members(model, group), group.params, fused, views)
    return slices


def build_meta_model(config: MimoLMConfig, attn: str = "sdpa") -> MimoAudioLM:
    with torch.device("meta"):
        return MimoAudioLM(config, attn=attn)


def load_mimo_lm(
    path_or_repo_id: str | Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | str = torch.float32,
    attn: str = "auto",
    quantize: str | None = None,
) -> MimoAudioLM:
    """Load an official MiMo-Audio LM checkpoint (``config.json`` + safetensors shards);
    ``quantize`` ("int8" / "int4"): weight-only quantization of the backbone and heads
    (:mod:`.quantize`)."""
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    attn = resolve_attention(attn, dev)
    root = resolve_checkpoint_dir(path_or_repo_id)
    config_file = root / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"no config.json in LM checkpoint {root}")
    config = MimoLMConfig.from_json_file(config_file)
    files = checkpoint_files(root)

    model = build_meta_model(config, attn)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_keys(expected, safetensors_shapes(files), f"LM checkpoint {root}")

    from safetensors import safe_open

    # quantization replaces the fused Linears' weights one by one: no load-time fusion then
    slices = {} if quantize is not None else _fuse_on_load(model, expected, dev, dt)
    for file in files:
        stored = read_header(file)
        read_into(file, {key: slices[key] for key in stored if key in slices}, stored)
        with safe_open(str(file), framework="pt", device="cpu") as handle:
            for key in handle.keys():
                if key not in slices:
                    _assign(model, key, handle.get_tensor(key).to(device=dev, dtype=dt))
    finish_meta_model(model, dev)
    if quantize is not None:
        from .quantize import quantize_lm
        quantize_lm(model, quantize)
    return model.eval()


def finish_meta_model(model: MimoAudioLM, device: torch.device | str) -> None:
    """After the weights are in: the non-persistent buffers (rotary tables) leave the meta
    device too, recomputed in float32."""
    for module in model.modules():
        for name, buf in list(module._buffers.items()):
            if buf is not None and buf.is_meta:
                module._buffers[name] = torch.empty(buf.shape, dtype=torch.float32, device=device)
    model.restore_rotary()
