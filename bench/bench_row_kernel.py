"""One-row projections on the CPU: addmm (a 1-row matrix product) against addmv / mv.

    .venv/bin/python bench/bench_row_kernel.py [--threads 2] [--repeats 5]

A batch-1 decode step multiplies one activation row by every weight matrix, so its time is the
time to stream the weights. ``lm/stack.py::_linear`` and ``project`` switch to the
matrix-vector kernels for one 16-bit row on the CPU; this prints why: for the projection
shapes of the release (hidden 4096, local 1024, text vocabulary 151,680) and of the bench's mid
config, each kernel's time (best of --repeats, the variants in turn within each repeat) and the
rate it streams the weight at, in bfloat16 and float32, and whether both give the same bits.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

SHAPES = {   # name: (in, out)
    "release q/k/v": (4096, 4096 + 2 * 512),
    "release gate/up": (4096, 2 * 11008),
    "release down": (11008, 4096),
    "release local gate/up": (1024, 2 * 4096),
    "release text head": (4096, 151680),
    "mid gate/up": (1024, 2 * 2816),
    "mid local q/k/v": (512, 512 + 2 * 256),
    "mid text head": (1024, 151680),
}


def timed(fns: dict, repeats: int, calls: int) -> dict:
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            fn()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated names of SHAPES")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print(f"one-row projections, {args.threads} thread(s), torch {torch.__version__}, best of {args.repeats}")
    print("shape | dtype | addmm us | addmv us | addmv / addmm speed | addmm GB/s | addmv GB/s | same bits")
    for name in args.shapes.split(","):
        d_in, d_out = SHAPES[name]
        for dtype in (torch.bfloat16, torch.float32):
            weight = (torch.randn(d_out, d_in, generator=gen) / d_in**0.5).to(dtype)     # (out, in)
            x = torch.randn(1, d_in, generator=gen).to(dtype)
            residual = torch.randn(1, d_out, generator=gen).to(dtype)
            matrix = lambda: torch.addmm(residual, x, weight.t())                      # noqa: E731
            vector = lambda: torch.addmv(residual[0], weight, x[0])                    # noqa: E731
            calls = max(1, int(2e8 // (weight.numel() * weight.element_size())))
            t = timed({"addmm": matrix, "addmv": vector}, args.repeats, calls)
            size = weight.numel() * weight.element_size()
            same = torch.equal(matrix()[0], vector())
            print(f"{name} | {str(dtype)[6:]} | {t['addmm'] * 1e6:.0f} | {t['addmv'] * 1e6:.0f} | "
                  f"{t['addmm'] / t['addmv']:.2f}x | {size / t['addmm'] / 1e9:.1f} | {size / t['addmv'] / 1e9:.1f} | {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
