"""Operations per generated group and fused-weight memory: the fast path against the eager path.

    .venv/bin/python bench/bench_fastpath.py [--configs tiny,mid] [--groups 8]

The eager path (``Engine(fast=False)``) repeats the reference's generate loop op for op
(transformers' modules, growing DynamicCache, full-vocabulary torch.sort top-p); it stands in
for the reference here, where the reference itself is not installed.

Operations per group: torch.profiler over a batch-1 request of 1 + G groups minus one of 1
group (the prefill and the first group cancel out), divided by G. ``all aten`` counts every
aten:: event, nested ones included (as the issue's figures); ``kernels`` counts the aten events
that compute and call no other computing op (view, reshape, slicing and other metadata-only
ops excluded; an addmm that calls resolve_conj, or a square that calls pow, counts once): what
would launch a kernel on a GPU. Both samplers: greedy and the spoken-dialogue defaults (text
temperature 0.6, top-p 0.95; audio 0.9, 0.95). The speech share of the groups is shown (the
two paths make the same tokens in float32, so they count the same groups).

Memory: a fresh process loads the checkpoint (bf16 as written, and float32) and touches every
weight: its resident memory grown by the load (anonymous and file-backed pages) next to the
model's weight bytes. Then it builds the fast decoder, which finds the weights fused at load
time (q/k/v, gate/up, speech tables, channel heads; lm/fusion.py): the change of its anonymous
memory and of its file-backed pages over that step, next to the KV caches' bytes (fused weights
must not double the model: the step should cost about the caches).

Groups/s at batch 1, 4 and 8 against the eager path: bench/bench_engine.py (same run, same
samplers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine import AUDIO, EMPTY, TEXT, prompt, write_checkpoint  # noqa: E402
from mimo_core.engine import GREEDY, Engine, GenerationRequest  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402

# metadata-only aten ops: no kernel launches on a GPU
VIEW_OPS = frozenset({
    "aten::view", "aten::reshape", "aten::_reshape_alias", "aten::transpose", "aten::t", "aten::permute",
    "aten::slice", "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::as_strided",
    "aten::detach", "aten::alias", "aten::_unsafe_view", "aten::split", "aten::split_with_sizes",
    "aten::chunk", "aten::narrow", "aten::unflatten", "aten::flatten", "aten::empty", "aten::empty_like",
    "aten::empty_strided", "aten::resolve_conj", "aten::resolve_neg", "aten::lift_fresh", "aten::unbind",
    "aten::view_as", "aten::expand_as", "aten::_nested_tensor_from_mask_left_aligned", "aten::result_type",
    "aten::is_nonzero", "aten::item", "aten::_local_scalar_dense", "aten::contiguous", "aten::to",
    "aten::_to_copy", "aten::lift", "aten::dim", "aten::size", "aten::stride", "aten::numpy_T",
})


def count_ops(fn) -> tuple[int, int]:
    """(every aten event, innermost aten events that compute) while running fn."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.events() if e.name.startswith("aten::")]

    def computes(e) -> bool:
        return e.name.startswith("aten::") and e.name not in VIEW_OPS

    def inner_compute(e) -> bool:          # does any op called inside e compute?
        return any(computes(c) or inner_compute(c) for c in e.cpu_children)

    # an op computes itself unless it only dispatches to other computing ops: addmm calling
    # resolve_conj, or square calling pow calling result_type, each count once
    kernels = [e for e in events if computes(e) and not inner_compute(e)]
    # a copy or a dtype conversion that moves data computes: count aten::copy_ from .to()
    return len(events), len(kernels)


def ops_per_group(engine: Engine, sampler, audio, groups: int) -> tuple[float, float, float]:
    def request(n):
        return GenerationRequest(prompt(40, 100), sampler, audio, frozenset(), n, seed=1000)
    engine.generate(request(2))                                    # warm-up
    long_total, long_kernels = count_ops(lambda: engine.generate(request(1 + groups)))
    short_total, short_kernels = count_ops(lambda: engine.generate(request(1)))
    result = engine.generate(request(1 + groups))
    speech = float((result.new_ids[0, 4::4] == EMPTY).float().mean())
    return (long_total - short_total) / groups, (long_kernels - short_kernels) / groups, speech


def fused_memory(ckpt: Path, dtype: str, root: Path = ROOT) -> dict:
    """Resident memory of a fresh process (code from ``root``) across loading the checkpoint and
    across building the fast decoder, split into anonymous memory and file-backed pages (the
    weights that are not fused, loaded in the file's dtype, stay memory-mapped from the
    safetensors file)."""
    code = (
        "import re, sys, torch; torch.set_num_threads(1)\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from mimo_core.lm import load_mimo_lm\n"
        "from mimo_core.engine.batch import BatchDecoder\n"
        "status = lambda key: int(re.search(key + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "rss = lambda: [1024 * status(k) for k in ('RssAnon', 'RssFile')]\n"
        "start = rss()\n"
        f"m = load_mimo_lm({str(ckpt)!r}, dtype={dtype!r})\n"
        "for p in m.parameters():\n"
        "    p.detach().reshape(-1)[::512].sum()\n"
        "loaded = rss()\n"
        f"d = BatchDecoder(m, {EMPTY}, 64, 1)\n"
        "built = rss()\n"
        "size = sum(p.numel() * p.element_size() for p in m.parameters())\n"
        "print(*start, *loaded, *built, size, d.cache.nbytes() + d.local_cache.nbytes())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    anon0, file0, anon1, file1, anon2, file2, size, caches = map(int, out.stdout.split())
    mb = 2**20
    return dict(dtype=dtype, model_mb=size / mb, caches_mb=caches / mb,
                load_anon_mb=(anon1 - anon0) / mb, load_file_mb=(file1 - file0) / mb,
                anon_mb=(anon2 - anon1) / mb, file_mb=(file2 - file1) / mb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,mid")
    parser.add_argument("--groups", type=int, default=8, help="profiled groups per request")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-only", action="store_true", help="skip the operation counts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            ckpt = write_checkpoint(Path(tmp), name)
            for dtype in ("bfloat16", "float32"):
                m = fused_memory(ckpt, dtype)
                load = m["load_anon_mb"] + m["load_file_mb"]
                print(f"[{name}] loading a {m['dtype']} model of {m['model_mb']:.1f} MB: resident "
                      f"{load:+.1f} MB ({load / m['model_mb']:.2f}x the weights; anonymous "
                      f"{m['load_anon_mb']:+.1f} MB, file-backed {m['load_file_mb']:+.1f} MB); building the fast "
                      f"decoder: anonymous memory {m['anon_mb']:+.1f} MB, file-backed pages {m['file_mb']:+.1f} MB, "
                      f"KV caches {m['caches_mb']:.1f} MB", flush=True)
            if args.memory_only:
                continue
            model = load_mimo_lm(ckpt, dtype=torch.float32)
            eager, fast = Engine(model, EMPTY, max_batch=1, fast=False), Engine(model, EMPTY, max_batch=1)
            for label, text, audio in (("greedy", GREEDY, GREEDY), ("dialogue", TEXT, AUDIO)):
                e = ops_per_group(eager, text, audio, args.groups)
                f = ops_per_group(fast, text, audio, args.groups)
                rows.append((name, label, e, f))
    if not rows:
        return 0
    print(f"\noperations per generated group, batch 1 ({args.groups} groups profiled, float32, "
          f"{args.threads} thread(s)); eager path = the reference's loop")
    print("config | sampler | speech % | eager all aten | fast all aten | fast/eager | eager kernels | "
          "fast kernels | fast/eager")
    for name, label, e, f in rows:
        print(f"{name} | {label} | {100 * f[2]:.0f} | {e[0]:.0f} | {f[0]:.0f} | {f[0] / e[0]:.2f} | "
              f"{e[1]:.0f} | {f[1]:.0f} | {f[1] / e[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
