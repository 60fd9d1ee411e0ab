"""Weight-only quantization on the CPU: memory, speed and agreement with bf16.

    PYTHONPATH=<torchao> .venv/bin/python bench/bench_quantize.py [--groups 24] [--threads 2]

Needs torchao (requirements-quantize.txt). One random "mid" checkpoint (hidden 1024, 8
layers, local 512, vocab 151680: bench_engine's config) is written once; each mode then runs
in a fresh process: load the checkpoint (fp32, bf16, or bf16 with int8 weights), generate --groups groups greedily at batch 1
from one prompt (best of 2 for the speed), and note how much the process's resident memory
grew from before the load (weights, KV cache, workspace, and what the allocator keeps after
quantizing), beside the bytes the weights themselves hold. Agreement with bf16: the share of groups whose
text token matches bf16's, and the first group where any of the 9 rows differs. fp32 vs
bf16 is shown for scale: how far two float precisions already drift apart on this model.
int4 is not measured: torchao 0.18 has no CPU int4 kernel (it needs CUDA).

Random weights drift apart faster than trained ones (no confident predictions to hold the
argmax), so the agreement here is a floor, not a forecast for the real 7B.

One run on the shared 2-core development machine (--groups 12; speeds there moved by 3x
between runs, the ratios within a run are what counts):

| mode | weights | vs bf16 | RSS growth | vs bf16 | groups/s | vs bf16 | text tokens = bf16 | first text divergence |
|---|---|---|---|---|---|---|---|---|
| fp32 | 1662 MB | 2.00x | 1966 MB | 2.67x | 1.84 | 0.70x | 0% | 0 |
| bf16 | 831 MB | 1.00x | 737 MB | 1.00x | 2.62 | 1.00x | 100% | none |
| int8 | 593 MB | 0.71x | 1094 MB | 1.48x | 0.62 | 0.24x | 0% | 0 |

Read: int8 holds 0.71x the bytes of bf16 here (the mid model's 151680 x 1024 embedding table
stays bf16; on the 7B the LM drops from 16.04 to 9.04 GB); the process RSS is higher because
the allocator keeps the bf16 copies freed while quantizing; on this CPU int8 weight-only is
4x slower than bf16 (it dequantizes every weight each step); on random weights fp32 and int8
both leave bf16's greedy path at the first group, so this model cannot tell int8's error from
a precision change. int8 is a memory option for GPUs, not a CPU speed-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCAB = 151680
EMPTY = 151667
MID = dict(hidden_size=1024, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=8,
           head_dim=64, intermediate_size=2816, local_dim=512, local_layers=4, local_attn_heads=8,
           local_ffn_dim=2048, input_local_layers=2, input_local_dim=512)
EMPTY_ROW_NORM = 40.0            # <|empty|> raised in lm_head so a share of groups is speech
PROMPT_GROUPS = 16
MODES = {"fp32": ("float32", None), "bf16": ("bfloat16", None), "int8": ("bfloat16", "int8")}
REPEATS = 2


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def child(args: argparse.Namespace) -> None:
    import torch

    from bench.bench_engine import prompt
    from mimo_core.engine import Engine, GenerationRequest, SamplerConfig
    from mimo_core.lm import load_mimo_lm
    from mimo_core.lm.quantize import held_bytes

    torch.set_num_threads(args.threads)
    dtype, quantize = MODES[args.mode]
    before = rss_bytes()
    model = load_mimo_lm(args.ckpt, dtype=dtype, quantize=quantize)
    engine = Engine(model, EMPTY, max_batch=1)
    greedy = SamplerConfig(greedy=True)
    req = GenerationRequest(prompt(PROMPT_GROUPS, 7), greedy, greedy, frozenset(), args.groups,
                            min_new_groups=args.groups, seed=0)
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = engine.generate(req)
        best = min(best, time.perf_counter() - start)
    # after a generation every weight has been read (a bf16 checkpoint loaded as bf16 stays a
    # file mapping until then), so the growth covers the weights and the caches
    grown = rss_bytes() - before
    print(json.dumps({"mode": args.mode, "rss_mb": grown / 2**20, "weights_mb": held_bytes(model) / 2**20,
                      "groups_per_s": result.new_groups / best,
                      "ids": result.new_ids.tolist()}))


def agreement(ids, ref) -> tuple[float, int | None, int | None]:
    """(share of groups whose text token matches, first group whose text token differs,
    first group where any row differs)."""
    import torch

    a, b = torch.tensor(ids), torch.tensor(ref)          # (9, 4 * groups)
    groups = min(a.shape[1], b.shape[1]) // 4
    text_same = sum(int(a[0, 4 * g] == b[0, 4 * g]) for g in range(groups))
    first_text = next((g for g in range(groups) if a[0, 4 * g] != b[0, 4 * g]), None)
    first = next((g for g in range(groups)
                  if not torch.equal(a[:, 4 * g: 4 * g + 4], b[:, 4 * g: 4 * g + 4])), None)
    return text_same / groups, first_text, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", dest="mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ckpt", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args)
        return

    from mimo_core.lm.tiny import write_tiny_lm

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = write_tiny_lm(Path(tmp) / "mid", vocab_size=VOCAB, seed=0,
                             row_norms={EMPTY: EMPTY_ROW_NORM}, **MID)
        runs = {}
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--ckpt", str(ckpt),
                                  "--groups", str(args.groups), "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    bf16 = runs["bf16"]
    print(f"mid checkpoint, {args.groups} greedy groups at batch 1, {args.threads} threads\n")
    print("| mode | weights | vs bf16 | RSS growth | vs bf16 | groups/s | vs bf16 | text tokens = bf16 "
          "| first text divergence | first divergent group |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, run in runs.items():
        same, first_text, first = agreement(run["ids"], bf16["ids"])
        print(f"| {mode} | {run['weights_mb']:.0f} MB | {run['weights_mb'] / bf16['weights_mb']:.2f}x "
              f"| {run['rss_mb']:.0f} MB | {run['rss_mb'] / bf16['rss_mb']:.2f}x "
              f"| {run['groups_per_s']:.2f} | {run['groups_per_s'] / bf16['groups_per_s']:.2f}x "
              f"| {same:.0%} | {'none' if first_text is None else first_text} "
              f"| {'none' if first is None else first} |")


if __name__ == "__main__":
    main()
