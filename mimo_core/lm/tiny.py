"""A deterministic random tiny LM in the official on-disk format (for the offline demo and tests).

Same layout as the release: ``config.json`` (model_type "qwen2" with the MiMo string fields),
bf16 safetensors split in shards, and ``model.safetensors.index.json``. The text tokenizer
files are written by :mod:`mimo_core.text`, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import MimoLMConfig
from .loading import INDEX_FILE, finish_meta_model
from .modules import MimoAudioLM

TINY_DEFAULTS = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
    intermediate_size=128, local_dim=32, local_layers=2, local_attn_heads=4, local_ffn_dim=64,
    input_local_layers=2, input_local_dim=32,
)
INIT_STD = 0.1


def tiny_config(vocab_size: int, **overrides) -> MimoLMConfig:
    fields = {**TINY_DEFAULTS, **overrides, "vocab_size": vocab_size}
    extra = {
        "model_type": "qwen2", "architectures": ["MiMoAudioForCausalLM"], "torch_dtype": "bfloat16",
        "attention_dropout": 0.0, "use_sliding_window": False, "sliding_window": None,
        "rope_scaling": None, "use_cache": True, "initializer_range": INIT_STD,
    }
    return MimoLMConfig(**fields, extra=extra)


def random_state_dict(config: MimoLMConfig, seed: int = 0,
                      row_norms: dict[int, float] | None = None) -> dict[str, torch.Tensor]:
    """Deterministic random weights (float32) for every key of the module, in sorted-key order.

    Matrices get N(0, 0.1^2); norm weights 1 + N(0, 0.1^2); biases N(0, 0.1^2); the speech
    embedding rows at the empty ids stay zero (padding_idx). ``row_norms`` rescales chosen
    ``lm_head`` rows (e.g. to make ``<|empty|>`` likely so the patch decoder runs).
    """
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MimoAudioLM(config).state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key in sorted(shapes):
        noise = torch.randn(shapes[key], generator=gen) * INIT_STD
        state[key] = noise + 1.0 if key.endswith("norm.weight") else noise
    for c, empty in enumerate(config.speech_empty_ids):
        state[f"speech_embeddings.{c}.weight"][empty] = 0.0
    for row, norm in (row_norms or {}).items():
        head = state["lm_head.weight"]
        head[row] = head[row] / head[row].norm() * norm
    return state


def write_tiny_lm(out_dir: str | Path, vocab_size: int, seed: int = 0, *, shards: int = 2,
                  row_norms: dict[int, float] | None = None, **overrides) -> Path:
    """Write a random tiny LM checkpoint (bf16, ``shards`` files + index); returns ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = tiny_config(vocab_size, **overrides)
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in random_state_dict(config, seed, row_norms).items()}

    keys = sorted(state)
    total = sum(state[k].numel() * state[k].element_size() for k in keys)
    budget = total / shards
    names = [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    weight_map, parts, used, part = {}, [dict() for _ in range(shards)], 0.0, 0
    for key in keys:
        size = state[key].numel() * state[key].element_size()
        if used + size > budget * (part + 1) and part < shards - 1 and parts[part]:
            part += 1
        parts[part][key] = state[key]
        weight_map[key] = names[part]
        used += size
    for name, tensors in zip(names, parts):
        if tensors:
            save_file(tensors, str(out / name), metadata={"format": "pt"})

    (out / INDEX_FILE).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    return out


def build_tiny_lm(vocab_size: int, seed: int = 0, *, row_norms: dict[int, float] | None = None,
                  dtype: torch.dtype = torch.float32, attn: str = "sdpa", **overrides) -> MimoAudioLM:
    """The same random tiny LM in memory (no files), weights rounded through bf16 as on disk."""
    config = tiny_config(vocab_size, **overrides)
    with torch.device("meta"):
        model = MimoAudioLM(config, attn=attn)
    state = {k: v.to(torch.bfloat16).to(dtype) for k, v in random_state_dict(config, seed, row_norms).items()}
    model.load_state_dict(state, strict=True, assign=True)
    finish_meta_model(model, "cpu")
    return model.requires_grad_(False).eval()
