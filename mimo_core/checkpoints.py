"""Checks shared by the LM and audio-tokenizer loaders: the device, and a checkpoint's
tensor names and shapes against the module built on ``meta``.

Both loaders are strict: every checkpoint tensor must be used and every parameter/buffer
filled with the right shape, else ``CheckpointMismatchError`` names the keys.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import CheckpointMismatchError, DeviceError, ModelLoadError

MAX_NAMED_KEYS = 8


def resolve_device(device: torch.device | str, kinds: tuple[str, ...] | None = None) -> torch.device:
    """``device`` as a torch.device, checked to exist on this machine (and, given ``kinds``,
    to be one of those device types)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {str(device)!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {str(device)!r} requested but MPS is not available on this machine")
    if kinds is not None and dev.type not in kinds:
        raise DeviceError(f"unsupported device {dev} (use {' or '.join(kinds)})")
    return dev


def safetensors_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape over all ``files``, read from the headers only."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    shapes[key] = tuple(handle.get_slice(key).get_shape())
        except Exception as exc:  # noqa: BLE001 - a corrupt/truncated file
            raise ModelLoadError(f"cannot read safetensors file {file}: {exc}") from None
    return shapes


def _short(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_NAMED_KEYS])
    return shown + (f" (+{len(keys) - MAX_NAMED_KEYS} more)" if len(keys) > MAX_NAMED_KEYS else "")


def check_keys(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], what: str) -> None:
    """Strict check: ``found`` (the checkpoint) must hold exactly ``expected``'s names and shapes.
    ``what`` names the checkpoint in the error, e.g. "LM checkpoint /path"."""
    expected = {k: tuple(v) for k, v in expected.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(found) if expected[k] != tuple(found[k]))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {_short(unexpected)}")
    if mismatched:
        detail = [f"{k} {tuple(found[k])} vs {expected[k]}" for k in mismatched]
        problems.append(f"shape mismatch {len(mismatched)}: {_short(detail)}")
    if problems:
        raise CheckpointMismatchError(f"{what} does not match the model: " + "; ".join(problems))
