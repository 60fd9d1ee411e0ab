"""Finding and loading an audio tokenizer checkpoint (config.json + model.safetensors).

The module is built on the meta device and every tensor is assigned straight from the
safetensors file (no second copy of the weights). Loading is strict: every checkpoint
tensor must be used and every parameter/buffer filled with the right shape, else
``CheckpointMismatchError`` names the keys.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from ..errors import CheckpointMismatchError, ModelLoadError
from .config import TokenizerConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MAX_NAMED_KEYS = 8


def resolve_checkpoint_dir(path_or_repo_id: str | Path) -> Path:
    """A local directory, or a Hugging Face repo id fetched with snapshot_download."""
    local = Path(path_or_repo_id).expanduser()
    if local.is_dir():
        return local
    text = str(path_or_repo_id)
    if local.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise ModelLoadError(f"audio tokenizer not found: {text} is not a directory or a Hugging Face repo id")
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(repo_id=text, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE]))
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: all one user-facing error
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot download audio tokenizer {text!r} from the Hugging Face Hub: {reason}") from None


def _names(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:MAX_NAMED_KEYS])
    return shown + (f" (+{len(keys) - MAX_NAMED_KEYS} more)" if len(keys) > MAX_NAMED_KEYS else "")


def read_state_dict(weights: Path, expected: dict[str, torch.Size], dtype: torch.dtype,
                    device: torch.device) -> dict[str, torch.Tensor]:
    """Read every tensor of ``weights`` after checking names and shapes against ``expected``."""
    try:
        handle = safe_open(str(weights), framework="pt", device="cpu")
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot read {weights}: {exc}") from None
    with handle:
        keys = set(handle.keys())
        missing, unexpected = set(expected) - keys, keys - set(expected)
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing {len(missing)} tensor(s): {_names(missing)}")
            if unexpected:
                parts.append(f"unexpected {len(unexpected)} tensor(s): {_names(unexpected)}")
            raise CheckpointMismatchError(f"audio tokenizer checkpoint {weights} does not match its config: "
                                          + "; ".join(parts))
        bad = [f"{k} {tuple(handle.get_slice(k).get_shape())} != {tuple(expected[k])}"
               for k in sorted(keys) if tuple(handle.get_slice(k).get_shape()) != tuple(expected[k])]
        if bad:
            raise CheckpointMismatchError(f"audio tokenizer checkpoint {weights} has wrong shapes: "
                                          + "; ".join(bad[:MAX_NAMED_KEYS]))
        return {k: handle.get_tensor(k).to(device=device, dtype=dtype) for k in keys}


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
