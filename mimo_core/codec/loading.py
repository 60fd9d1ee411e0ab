"""Finding and loading an audio tokenizer checkpoint (config.json + model.safetensors).

The module is built on the meta device and every tensor is assigned straight from the
safetensors file (no second copy of the weights). Loading is strict (names and shapes
checked first, see ``mimo_core.checkpoints``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from ..checkpoints import check_keys, safetensors_shapes
from ..errors import ModelLoadError
from ..hub import checkpoint_dir
from .config import TokenizerConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def resolve_checkpoint_dir(path_or_repo_id: str | Path) -> Path:
    """A local directory or a Hugging Face repo id (:func:`mimo_core.hub.checkpoint_dir`; the
    ``tiny`` demo checkpoints are :func:`mimo_core.resolve.resolve_spec`'s)."""
    return checkpoint_dir(path_or_repo_id, "audio tokenizer")


def read_state_dict(weights: Path, expected: dict[str, torch.Size], dtype: torch.dtype,
                    device: torch.device) -> dict[str, torch.Tensor]:
    """Read every tensor of ``weights`` after checking names and shapes against ``expected``."""
    check_keys(expected, safetensors_shapes([weights]), f"audio tokenizer checkpoint {weights}")
    with safe_open(str(weights), framework="pt", device="cpu") as handle:
        return {k: handle.get_tensor(k).to(device=device, dtype=dtype) for k in handle.keys()}


def load_config(ckpt_dir: Path) -> TokenizerConfig:
    config_path = ckpt_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ModelLoadError(f"audio tokenizer directory {ckpt_dir} has no {CONFIG_FILE}")
    return TokenizerConfig.from_file(config_path)


def weights_path(ckpt_dir: Path) -> Path:
    path = ckpt_dir / WEIGHTS_FILE
    if not path.is_file():
        raise ModelLoadError(f"audio tokenizer directory {ckpt_dir} has no {WEIGHTS_FILE}")
    return path
