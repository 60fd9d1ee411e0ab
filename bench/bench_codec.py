"""Audio tokenizer speed on this machine: encode / decode x real time (CPU by default).

    python bench/bench_codec.py [--seconds 60] [--real-seconds 10] [--threads 2] [--device cpu]

Two configurations with random weights (no download): the real MiMo-Audio-Tokenizer
size (~1.2B parameters, docs/FORMAT.md section 2) and the tiny fixture-sized one. The real size on
a CPU is measured on a shorter clip (``--real-seconds``) to keep the run feasible; x real
time is audio seconds / wall seconds, so clips of different lengths compare directly
(cost grows slightly faster than linearly with length through full attention). The
baseline row, measured in the same run, is the tiny model on the same clip length as
the real one, so the ratio column is real-vs-tiny cost.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere

from mimo_core.codec import AudioTokenizer, build_model, real_config, tiny_config  # noqa: E402


def random_tokenizer(cfg, device, dtype, seed=0) -> AudioTokenizer:
    """Random weights drawn once, straight on ``device`` (built on meta: no default init first)."""
    torch.manual_seed(seed)
    model = build_model(cfg, "meta").to_empty(device=device)
    for buffer in model.buffers():
        buffer.zero_()
    window = model.decoder.vocoder.head.istft.window
    window.copy_(torch.hann_window(window.shape[0]))
    for name, param in model.named_parameters():
        if "norm" in name and name.endswith("weight"):
            torch.nn.init.ones_(param)
        elif name.endswith("bias"):
            torch.nn.init.zeros_(param)
        else:
            torch.nn.init.normal_(param, std=0.02)
    for index in range(cfg.num_quantizers):
        book = model.encoder.quantizer.codebook(index)
        book.embed.normal_(std=0.5)
    return AudioTokenizer(model.to(dtype=dtype))


def test_signal(seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * 24000)) / 24000
    return 0.3 * torch.sin(2 * math.pi * (150 + 100 * torch.sin(2 * math.pi * 0.5 * t)) * t)


def timed(fn, repeats: int):
    """-> (best wall seconds over ``repeats`` runs, the untimed warm-up run's result)."""
    result = fn()                                         # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(tokenizer: AudioTokenizer, seconds: float, repeats: int) -> tuple[float, float]:
    wav = test_signal(seconds)
    enc, codes = timed(lambda: tokenizer.encode(wav), repeats)      # the warm-up's codes feed decode
    dec, _ = timed(lambda: tokenizer.decode(codes[:8]), repeats)
    return seconds / enc, seconds / dec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length for the tiny model")
    parser.add_argument("--real-seconds", type=float, default=10.0, help="clip length for the real-size model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rows = []
    tiny = random_tokenizer(tiny_config(), args.device, dtype)
    rows.append(("tiny (baseline)", args.real_seconds, *measure(tiny, args.real_seconds, args.repeats)))
    rows.append(("tiny", args.seconds, *measure(tiny, args.seconds, args.repeats)))
    real = random_tokenizer(real_config(), args.device, dtype)
    params = sum(p.numel() for p in real.model.parameters())
    rows.append((f"real ({params / 1e9:.2f}B)", args.real_seconds, *measure(real, args.real_seconds, args.repeats)))
    base_enc, base_dec = rows[0][2], rows[0][3]
    print(f"device {args.device}, dtype {args.dtype}, {args.threads} threads; x real time = audio s / wall s")
    print(f"{'model':<16} {'audio s':>8} {'encode xRT':>11} {'decode xRT':>11} {'enc vs base':>12} {'dec vs base':>12}")
    for name, seconds, enc, dec in rows:
        print(f"{name:<16} {seconds:>8.1f} {enc:>11.2f} {dec:>11.2f} {enc / base_enc:>12.4f} {dec / base_dec:>12.4f}")


if __name__ == "__main__":
    main()
