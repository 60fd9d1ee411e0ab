"""Does torch.compile pay off for the fast path's per-step work on this machine?

    .venv/bin/python bench/bench_compile.py [--config tiny] [--groups 24] [--threads 1]

Same model, prompts and samplers as bench_engine.py. Runs batch-1 generation three ways in one
process: the eager path, the fast path, and the fast path with its one-token layer stack
(``mimo_core.lm.stack.step_stack``, used for every backbone and patch-decoder step) replaced
by ``torch.compile(step_stack, dynamic=True)``. Reports groups/s (best of --repeats, after a
warm-up run that includes compilation), the compile + first run time, and whether the tokens
equal the eager path's. The engine does not use torch.compile: this script is the evidence
for that choice on CPU; rerun it on other hardware before changing it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as common  # noqa: E402  (also puts the repo root on sys.path)

from mimo_core.engine import Engine  # noqa: E402
from mimo_core.engine import batch as fast_path  # noqa: E402
from mimo_core.lm.tiny import build_tiny_lm  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", choices=sorted(common.CONFIGS))
    parser.add_argument("--groups", type=int, default=24)
    parser.add_argument("--prompt-groups", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # the same bf16-rounded random weights bench_engine writes to disk, built in memory
    model = build_tiny_lm(common.VOCAB, seed=0, row_norms={common.EMPTY: common.EMPTY_ROW_NORM[args.config]},
                          **common.CONFIGS[args.config])
    request = common.requests(1, args.groups, args.prompt_groups)[0]
    eager, fast = Engine(model, common.EMPTY, max_batch=1, fast=False), Engine(model, common.EMPTY, max_batch=1)
    fast.generate(request)
    (t_eager, r_eager), (t_fast, r_fast) = common.best_of_interleaved(
        args.repeats, [lambda: eager.generate(request), lambda: fast.generate(request)])

    plain = fast_path.step_stack
    fast_path.step_stack = torch.compile(plain, dynamic=True)
    try:
        compiled = Engine(model, common.EMPTY, max_batch=1)
        start = time.perf_counter()
        compiled.generate(request)
        t_first = time.perf_counter() - start
        t_compiled, r_compiled = common.best_of(args.repeats, lambda: compiled.generate(request))
    finally:
        fast_path.step_stack = plain

    n = args.groups
    print(f"torch.compile check: config {args.config}, {n} groups, {args.threads} thread(s), "
          f"torch {torch.__version__}, best of {args.repeats}")
    print("path | groups/s | vs eager | same tokens as eager")
    for name, t, result in (("eager", t_eager, r_eager), ("fast", t_fast, r_fast),
                            ("fast + compiled step", t_compiled, r_compiled)):
        same = torch.equal(result.generated_ids, r_eager.generated_ids)
        print(f"{name} | {n / t:.1f} | {t_eager / t:.2f}x | {same}")
    print(f"compile + first run: {t_first:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
