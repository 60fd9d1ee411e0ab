"""Arguments shared by every command that runs the LM, and small helpers for them.

Task commands call :func:`add_model_args` and :func:`add_generation_args` on their parser;
:func:`options_from_args` turns the generation flags into ``GenerationOptions``;
:func:`dump_tokens` writes the ``--dump-tokens`` matrix; :func:`run_reporting_errors` turns a
:class:`~mimo_core.errors.MimoError` into one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import MimoError


def add_model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model-path", help="LM checkpoint directory, HF repo id or 'tiny' (Instruct for chat tasks)")
    group.add_argument("--base-model-path", help="Base LM checkpoint directory or HF repo id (continuation, few-shot)")
    group.add_argument("--tokenizer-path", help="audio tokenizer directory or HF repo id")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if available)")
    group.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                       help="LM weights dtype (default: bfloat16 on cuda, float32 on cpu)")
    for role, what in (("tokenizer", "the audio tokenizer"), ("instruct", "the Instruct LM"),
                       ("base", "the Base LM")):
        group.add_argument(f"--{role}-device", default=None,
                           help=f"device of {what} (cpu, cuda, cuda:N; default: --device)")
    group.add_argument("--quantize", choices=("int8", "int4"), default=None,
                       help="weight-only quantization of the LMs (int8: CPU or CUDA; int4: CUDA)")


def model_options_from_args(args: argparse.Namespace) -> dict:
    """The ``MimoAudio`` placement options the model flags ask for (devices per role, quantize)."""
    devices = {role: getattr(args, f"{role}_device", None) for role in ("tokenizer", "instruct", "base")}
    return {"devices": {r: d for r, d in devices.items() if d}, "quantize": getattr(args, "quantize", None)}


def add_generation_args(parser: argparse.ArgumentParser) -> None:
    """The generation flags: one per option of :data:`mimo_core.sampler_config.OPTIONS` that has
    one (its help from there), and ``--dump-tokens``."""
    from ..sampler_config import OPTIONS

    group = parser.add_argument_group("generation")
    for option in OPTIONS:
        if option.cli is None:
            continue
        if option.kind is bool:
            group.add_argument(option.cli, dest=option.name, action="store_true", help=option.help)
        else:
            group.add_argument(option.cli, dest=option.name, type=option.kind, default=None, help=option.help)
    group.add_argument("--dump-tokens", metavar="PATH", default=None,
                       help="write the full [9, T] int64 token matrix (prompt + generated) as .npy")


def resolve_device_dtype(device: str, dtype: str) -> tuple[str, str]:
    """"auto" device -> cuda when available else cpu; "auto" dtype -> bfloat16 on cuda else float32."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, dtype


def options_from_args(args: argparse.Namespace):
    """The :class:`~mimo_core.tasks.GenerationOptions` the generation flags ask for."""
    from ..sampler_config import OPTIONS
    from ..tasks import GenerationOptions

    return GenerationOptions.from_flat(**{o.name: getattr(args, o.name) for o in OPTIONS if o.cli is not None})


def dump_tokens(path: str | Path, ids) -> Path:
    """Write a [9, T] token matrix as int64 .npy (row 0 text, rows 1..8 codes) at exactly
    ``path`` (through a file handle: ``np.save`` given a name would append ``.npy``)."""
    import numpy as np

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    array = ids.detach().cpu().numpy() if hasattr(ids, "detach") else np.asarray(ids)
    with open(out, "wb") as fh:
        np.save(fh, array.astype(np.int64))
    return out


def run_reporting_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: a MimoError becomes one line on stderr and exit status 1."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except MimoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    wrapped.__name__ = getattr(func, "__name__", "command")
    wrapped.__doc__ = func.__doc__
    return wrapped
