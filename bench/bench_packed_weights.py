"""Would oneDNN-prepacked bf16 weights pay on a CPU? A diagnostic, not a mode of the engine.

    .venv/bin/python bench/bench_packed_weights.py [--configs mid] [--repeats 3] [--threads 2]

A bf16 matmul on a CPU with AMX goes through oneDNN, which reorders the weight into its blocked
layout on every call. ``torch.ops.mkldnn._reorder_linear_weight`` does that once (what inductor's
CPU freezing uses) and ``torch.ops.mkldnn._linear_pointwise`` multiplies by the packed weight.
Printed:

1. per shape of the fast path (one and eight rows): the plain kernels the fast path calls today
   (``addmv``/``mv`` for one 16-bit row, ``addmm``/``mm`` otherwise) against the packed one, and
   whether the bits agree with ``addmm``;
2. per config: the fast path's groups/s at batch 1 and batch 8 (spoken-dialogue samplers, as
   bench_engine.py) with its projections swapped for packed ones by a patch inside this script,
   taking turns with the unpatched path, and whether the batch drew the same tokens (the
   residual rides in oneDNN's "add" post-op, which gave addmm's bits on the shapes checked;
   ``--scope local`` packs the patch decoder's matrices only, whose copy is small).

Why it is not in the engine: the packed weight is an opaque copy. Keeping the plain weights
beside it (the eager path, prefill of other shapes) would double the resident memory of every
packed matrix, which the fused-weight loading was built to avoid; dropping them needs every
user of a weight to accept the packed form.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine import EMPTY, requests, write_checkpoint  # noqa: E402
import mimo_core.engine.batch as batch_module  # noqa: E402
import mimo_core.lm.stack as stack  # noqa: E402
from mimo_core.engine import Engine  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402

# (in, out) of the fast path's projections: the release (hidden 4096, local 1024) and mid
SHAPES = {"release qkv": (4096, 4608), "release down": (11008, 4096), "release local gate_up": (1024, 8192),
          "release text head": (4096, 151680), "mid gate_up": (1024, 5632), "mid local gate_up": (512, 4096),
          "mid local down": (2048, 512), "mid text head": (1024, 151680)}


def best_ms(fn, repeats: int, inner: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best * 1e3


def kernels(repeats: int) -> None:
    print("shape | rows | plain ms | packed ms | plain / packed | same bits as addmm")
    gen = torch.Generator().manual_seed(0)
    for name, (k, n) in SHAPES.items():
        weight = (torch.randn(n, k, generator=gen) * 0.02).bfloat16()
        bias = torch.randn(n, generator=gen).bfloat16()
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 8)
        inner = max(1, int(2e8 // (n * k)))
        for rows in (1, 8):
            x = torch.randn(rows, k, generator=gen).bfloat16()
            plain = (lambda: torch.addmv(bias, weight, x[0])) if rows == 1 else (lambda: torch.addmm(bias, x, weight.t()))
            fast = lambda: torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")  # noqa: E731
            same = torch.equal(fast(), torch.addmm(bias, x, weight.t()))
            t_plain, t_packed = best_ms(plain, repeats, inner), best_ms(fast, repeats, inner)
            print(f"{name} | {rows} | {t_plain:.3f} | {t_packed:.3f} | {t_plain / t_packed:.2f}x | {same}")


class Packed:
    """Swaps stack._linear and the text head's projection for packed-weight ones (16-bit CPU
    activations only), packing each weight once on first use. With ``only`` (a set of weight
    data pointers), only those matrices are packed, and only for two rows or more (one row keeps
    the row kernel)."""

    def __init__(self, only: set[int] | None = None):
        self.plain_linear, self.plain_project = stack._linear, stack.project
        self.packs: dict[tuple, torch.Tensor] = {}
        self.only = only

    def pack(self, weight: torch.Tensor) -> torch.Tensor:               # weight (out, in)
        key = (weight.data_ptr(), tuple(weight.shape))
        if key not in self.packs:
            self.packs[key] = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), 8)
        return self.packs[key]

    def linear(self, x, linear, residual=None):
        if x.dtype != torch.bfloat16 or (self.only is not None and (
                x.shape[0] < 2 or linear.weight.data_ptr() not in self.only)):
            return self.plain_linear(x, linear, residual)
        weight = self.pack(linear.rows if linear.rows is not None else linear.weight.t())
        if residual is None:
            return torch.ops.mkldnn._linear_pointwise(x, weight, linear.bias, "none", [], "")
        # the residual as oneDNN's fused "add" post-op: addmm(residual, ...)'s bits on the shapes
        # we checked (a separate add after the product rounds twice and changes bf16 tokens)
        out = torch.ops.mkldnn._linear_pointwise.binary(x, residual, weight, None, "add")
        return out.add_(linear.bias) if linear.bias is not None else out

    def project(self, x, weight):
        if x.dtype != torch.bfloat16 or self.only is not None:
            return self.plain_project(x, weight)
        return torch.ops.mkldnn._linear_pointwise(x, self.pack(weight), None, "none", [], "")

    def use(self, on: bool) -> None:
        stack._linear = self.linear if on else self.plain_linear
        stack.project = batch_module.project = self.project if on else self.plain_project


def engine_runs(name: str, repeats: int, workdir: Path, scope: str) -> None:
    ckpt = write_checkpoint(workdir, name)
    engine = Engine(load_mimo_lm(ckpt, dtype=torch.bfloat16), EMPTY, max_batch=8)
    one, eight = requests(1, 24, 40), requests(8, 24, 40)
    only = None
    if scope == "local":                       # the patch decoder's (local transformer's) matrices
        engine.generate(one[0])                                          # builds the decoder
        only = {lin.weight.data_ptr() for layer in engine._decoder.local_plan.layers
                for lin in (layer.qkv, layer.o, layer.gate_up, layer.down)}
    patch = Packed(only)
    best, tokens = {}, {}
    for on in (False, True):                                             # warm-up (and packing)
        patch.use(on)
        tokens[on] = [r.new_ids for r in engine.generate_batch(eight)]
        engine.generate(one[0])
    for _ in range(repeats):
        for on in (False, True):
            patch.use(on)
            start = time.perf_counter()
            groups = sum(r.new_groups for r in engine.generate_batch(eight))
            t8 = time.perf_counter() - start
            start = time.perf_counter()
            engine.generate(one[0])
            t1 = time.perf_counter() - start
            b1, b8 = best.get(on, (0.0, 0.0))
            best[on] = (max(b1, 24 / t1), max(b8, groups / t8))
    patch.use(False)
    same = all(torch.equal(a, b) for a, b in zip(tokens[False], tokens[True]))
    print(f"{name} | {best[False][0]:.1f} | {best[True][0]:.1f} | {best[False][1]:.1f} | {best[True][1]:.1f} | "
          f"{best[True][1] / best[False][1]:.2f}x | {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,mid")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scope", default="all", choices=["all", "local"],
                        help="all: every projection and the text head; local: the patch decoder's "
                             "projections only, for two rows or more")
    parser.add_argument("--engine-only", action="store_true", help="skip the kernel table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not torch.backends.mkldnn.is_available():
        print("this torch has no oneDNN (mkldnn): nothing to measure")
        return 0
    if not args.engine_only:
        kernels(args.repeats)
    print(f"\nscope {args.scope}")
    print("config | b1 plain | b1 packed | b8 plain | b8 packed | b8 packed / plain | same b8 tokens")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            engine_runs(name, args.repeats, Path(tmp), args.scope)
    print("(groups/s, best of the repeats, the two taking turns; spoken-dialogue samplers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
