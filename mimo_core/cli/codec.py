"""``codec`` command: run the audio tokenizer alone.

    codec encode IN --tokenizer-path DIR --out codes.npy [--dtype float32|bfloat16] [--device cpu|cuda]
                    [--max-seconds S] [--resampler reference|soxr]
        -> int64 [T, 20] (all quantizers, time-major; the LM uses the first 8 columns)
           Audio longer than the tokenizer's max_audio_seconds (1800 s) or --max-seconds is refused
           before it is decoded; other rates are resampled as the reference does (soxr on request).
    codec decode codes.npy --tokenizer-path DIR --out out.wav
        -> 24 kHz audio from the first 8 channels

``--tokenizer-path`` is a local directory, a Hugging Face repo id or ``tiny`` (random, noise). Errors print one
line on stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..constants import LM_CHANNELS, SAMPLE_RATE
from ..errors import AudioInputError
from .common import run_reporting_errors

DTYPES = ("float32", "bfloat16")
DEVICES = ("cpu", "cuda")
RESAMPLERS = ("reference", "soxr")     # audio_io.RESAMPLERS, spelled out so --help needs no torch


def _tokenizer_dir(args: argparse.Namespace) -> Path:
    from ..resolve import Role, resolve_spec

    return resolve_spec(args.tokenizer_path, Role.TOKENIZER)           # dir, repo id or tiny


def _load_tokenizer(args: argparse.Namespace, path: Path | None = None):
    import torch

    from ..codec import load_audio_tokenizer

    path = _tokenizer_dir(args) if path is None else path
    return load_audio_tokenizer(path, device=args.device, dtype=getattr(torch, args.dtype))


def encode_command(args: argparse.Namespace) -> int:
    import numpy as np

    from ..audio_io import load_audio
    from ..codec.loading import load_config

    path = _tokenizer_dir(args)
    limit = load_config(path).max_audio_seconds                       # read before any audio is decoded
    if args.max_seconds is not None:
        limit = min(limit, args.max_seconds)
    wav = load_audio(args.input, max_seconds=limit, resampler=args.resampler)
    tokenizer = _load_tokenizer(args, path)
    codes = tokenizer.encode(wav)                                                         # [C, T]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, codes.numpy().T.astype(np.int64))                                       # [T, C]
    print(f"wrote {out}: {codes.shape[1]} frames x {codes.shape[0]} quantizers")
    return 0


def read_codes(path: str | Path):
    """codes.npy [T, C] (integers) -> LongTensor [min(C, 8), T]."""
    import numpy as np
    import torch

    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"codes file not found: {path}")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable .npy is one user error
        raise AudioInputError(f"cannot read codes from {path}: {str(exc).splitlines()[0]}") from None
    if array.ndim != 2 or array.shape[1] == 0 or array.dtype.kind not in "iu":
        raise AudioInputError(f"{path} must hold an integer array [frames, channels], "
                              f"got {array.dtype} {array.shape}")
    return torch.from_numpy(array[:, :LM_CHANNELS].T.astype(np.int64).copy())


def decode_command(args: argparse.Namespace) -> int:
    from ..audio_io import save_audio

    codes = read_codes(args.codes)
    tokenizer = _load_tokenizer(args)
    wav = tokenizer.decode(codes)
    out = save_audio(args.out, wav.numpy(), SAMPLE_RATE)
    print(f"wrote {out}: {wav.numel() / SAMPLE_RATE:.2f} s at {SAMPLE_RATE} Hz")
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokenizer-path", required=True, help="audio tokenizer directory, HF repo id or 'tiny'")
    parser.add_argument("--out", required=True, help="output file")
    parser.add_argument("--dtype", default="float32", choices=DTYPES, help="weights dtype (default float32)")
    parser.add_argument("--device", default="cpu", choices=DEVICES, help="device (default cpu)")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("codec", help="audio tokenizer: encode audio to codes, decode codes to audio",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="codec_command", metavar="<encode|decode>", required=True)
    enc = actions.add_parser("encode", help="audio file -> codes.npy, int64 [T, 20]")
    enc.add_argument("input", help="audio file (wav, flac, ogg, mp3; any rate, any channels)")
    enc.add_argument("--max-seconds", type=float, default=None,
                     help="reject longer audio (default and upper bound: the tokenizer's max_audio_seconds)")
    enc.add_argument("--resampler", default="reference", choices=RESAMPLERS,
                     help="for other sample rates: 'reference' (default, exact to the reference) or 'soxr'")
    _add_common(enc)
    enc.set_defaults(func=run_reporting_errors(encode_command))
    dec = actions.add_parser("decode", help="codes.npy [T, C] -> 24 kHz wav from the first 8 channels")
    dec.add_argument("codes", help="int array [T, C] saved with numpy (.npy)")
    _add_common(dec)
    dec.set_defaults(func=run_reporting_errors(decode_command))
    return parser
