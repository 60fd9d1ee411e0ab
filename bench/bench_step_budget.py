"""Where a batch-8 step of the fast path spends its time, and whether two stages could overlap.

    .venv/bin/python bench/bench_step_budget.py [--config mid] [--threads 2] [--repeats 3]

Diagnostic for issue 13's batch-8 target (docs/FAST_PATH.md, "What bounds batch 8"). Same
random checkpoint, prompts and spoken-dialogue samplers as bench_engine.py, bf16.

1. **Budget.** Runs 8 requests through ``Engine.generate_batch`` with timers around the
   batch decoder's stages (text head, text sampling, the patch decoder's local stack, heads
   and audio sampling, the next group's embedding and backbone step; prefill is what is left
   of the run) and prints each stage's milliseconds per step and the share of speech rows.
   The timers add a few microseconds per call.
2. **Overlap.** A speech row cannot take its next backbone step before its patch decoder has
   run, but text rows could: on two cores, a two-stage schedule could run the speech rows'
   patch decoder on one core while the other runs the backbone step and text head, each
   speech row then advancing every other step. This times the two stages on synthetic
   inputs of the run's shape: one after the other with all --threads, and at once on two
   Python threads with half the threads each (torch releases the GIL in its kernels), and
   prints the groups per second each schedule would give at the measured speech share.
3. **Attention.** The one-query attention of a local and of a backbone step (the run's
   shapes): the CPU flash kernel SDPA picks, SDPA's math backend, and an explicit float32
   softmax (matmul, softmax, matmul).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as common  # noqa: E402  (also puts the repo root on sys.path)

from mimo_core.engine import Engine  # noqa: E402
from mimo_core.engine import batch as batch_module  # noqa: E402
from mimo_core.lm import fused as fused_module  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402
from mimo_core.lm.stack import Rotary  # noqa: E402


class Timers:
    """Wraps module attributes with accumulating timers; ``restore`` puts the originals back.
    The ``outer`` timer (the step) counts every call; the others only calls made inside it."""

    def __init__(self):
        self.seconds, self.calls, self._saved, self.inside = defaultdict(float), defaultdict(int), [], False

    def wrap(self, owner, name: str, key, outer: bool = False) -> None:
        original = getattr(owner, name)
        self._saved.append((owner, name, original))

        def timed(*args, **kwargs):
            if not (outer or self.inside):
                return original(*args, **kwargs)
            self.inside = True
            start = time.perf_counter()
            try:
                out = original(*args, **kwargs)
            finally:
                self.inside = not outer
            label = key(args) if callable(key) else key
            self.seconds[label] += time.perf_counter() - start
            self.calls[label] += 1
            return out

        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


def budget(engine: Engine, requests, repeats: int) -> dict:
    engine.generate_batch(requests)                                      # warm-up, builds the decoder
    local = engine.model.local_transformer
    timers = Timers()
    speech = [0]

    def stack_key(args):
        return "patch decoder: local stack" if args[0].stack is local else "backbone step"

    timers.wrap(batch_module, "step_stack", stack_key)
    timers.wrap(batch_module, "project", "text head")
    timers.wrap(batch_module, "sample_rows",
                lambda args: "text sampling" if args[0].shape[1] > 8192 else "patch decoder: audio sampling")
    timers.wrap(fused_module.FusedModel, "head_logits", "patch decoder: channel heads")
    timers.wrap(fused_module.FusedModel, "embed", "next group's embedding (patch encoder)")
    timers.wrap(batch_module.BatchDecoder, "step", "step", outer=True)
    original_decode = batch_module.BatchDecoder._patch_decode

    def counted(self, picked, rows):
        speech[0] += len(picked)
        return original_decode(self, picked, rows)

    batch_module.BatchDecoder._patch_decode = counted
    try:
        start = time.perf_counter()
        for _ in range(repeats):
            engine.generate_batch(requests)
        total = time.perf_counter() - start
    finally:
        batch_module.BatchDecoder._patch_decode = original_decode
        timers.restore()
    steps = timers.calls["step"] / repeats
    per_step = {k: v / repeats / steps * 1e3 for k, v in timers.seconds.items()}
    # the steps hold every stage but prefill (admission), which is the rest of the run
    per_step["outside the steps (prefill)"] = total / repeats / steps * 1e3 - per_step["step"]
    groups = len(requests) * requests[0].max_new_groups
    return dict(ms_per_step=per_step, steps=steps, groups_per_s=groups * repeats / total,
                speech_rows_per_step=speech[0] / repeats / steps, run_ms=total / repeats * 1e3)


def best_ms(fn, repeats: int) -> float:
    fn()                                                                  # warm-up
    return common.best_of(repeats, fn)[0] * 1e3


def overlap(model, speech_rows: int, threads: int, repeats: int) -> dict:
    """Times the patch decoder (speech_rows rows, its 11 local steps) and the backbone step plus
    text head (8 rows) alone with all threads, and at once on two Python threads."""
    decoder = batch_module.BatchDecoder(model, common.EMPTY, 128, 8)
    dt, local_dim = model.dtype, model.local_transformer.config.hidden_size
    m = max(1, speech_rows)
    local_in = torch.randn(m, 1, local_dim).to(dt)
    hidden = torch.randn(8, model.config.hidden_size).to(dt)
    backbone_in = torch.randn(8, 1, model.config.hidden_size).to(dt)
    positions = torch.full((8,), 64)

    @torch.inference_mode()
    def patch_decoder():
        for t in range(decoder.steps):
            rot = Rotary(decoder.local_rot.cos[:, t : t + 1], decoder.local_rot.signed_sin[:, t : t + 1])
            batch_module.step_stack(decoder.local_plan, local_in, rot,
                                    cache=decoder.local_cache.at(t, 1, rows=slice(0, m)))

    @torch.inference_mode()
    def backbone_and_head():
        batch_module.project(hidden, model.lm_head.weight)
        rot = Rotary(decoder.rot.cos[0, positions][:, None], decoder.rot.signed_sin[0, positions][:, None])
        batch_module.step_stack(decoder.backbone_plan, backbone_in, rot,
                                cache=decoder.cache.at_rows(decoder.row_index, positions, 65))

    torch.set_num_threads(threads)
    alone = {"patch decoder": best_ms(patch_decoder, repeats), "backbone + text head": best_ms(backbone_and_head, repeats)}
    together: dict[str, float] = {}

    def run(name, fn):
        torch.set_num_threads(max(1, threads // 2))                      # this thread's OpenMP team
        together[name] = best_ms(fn, repeats)

    workers = [threading.Thread(target=run, args=("patch decoder", patch_decoder)),
               threading.Thread(target=run, args=("backbone + text head", backbone_and_head))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    torch.set_num_threads(threads)
    return dict(alone=alone, together=together)


def attention_kernels(model, rows: int, repeats: int) -> list[str]:
    """Microseconds per one-query attention call on the local and backbone shapes."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def explicit(q, k, v, mask, scale):
        groups = q.shape[1] // k.shape[1]
        qf = q.float().reshape(q.shape[0], k.shape[1], groups * q.shape[2], q.shape[3])   # GQA: heads grouped
        scores = torch.matmul(qf, k.float().transpose(-1, -2)) * scale
        if mask is not None:
            scores = scores + mask.float()
        return torch.matmul(torch.softmax(scores, -1), v.float()).to(q.dtype).reshape(q.shape)

    lines, dt = [], model.dtype
    for name, stack, batch, keys, masked in (("local", model.local_transformer, rows, 11, False),
                                               ("backbone", model.model, 8, 100, True)):
        cfg = stack.config
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        q = torch.randn(batch, cfg.num_attention_heads, 1, head_dim).to(dt)
        k, v = (torch.randn(batch, cfg.num_key_value_heads, keys, head_dim).to(dt) for _ in range(2))
        mask = torch.zeros(batch, 1, 1, keys, dtype=dt) if masked else None
        gqa, scale = q.shape[1] != k.shape[1], head_dim ** -0.5

        def flash():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)

        def math():
            with sdpa_kernel([SDPBackend.MATH]):
                return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)

        def timed(fn, calls=200):
            return best_ms(lambda: [fn() for _ in range(calls)], repeats) / calls * 1e3
        lines.append(f"  {name} ({batch} rows x {q.shape[1]} heads x {keys} keys): SDPA's pick {timed(flash):.0f} us, "
                     f"math backend {timed(math):.0f} us, explicit float32 {timed(lambda: explicit(q, k, v, mask, scale)):.0f} us")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="mid", choices=sorted(common.CONFIGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--groups", type=int, default=24)
    parser.add_argument("--prompt-groups", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = common.write_checkpoint(Path(tmp), args.config)
        model = load_mimo_lm(ckpt, dtype=torch.bfloat16)
        engine = Engine(model, common.EMPTY, max_batch=8)
        result = budget(engine, common.requests(8, args.groups, args.prompt_groups), args.repeats)
        print(f"{args.config}, bf16, {args.threads} threads: batch 8, {result['groups_per_s']:.1f} groups/s, "
              f"{result['steps']:.0f} steps a run, {result['speech_rows_per_step']:.2f} speech rows a step")
        for name, ms in sorted(result["ms_per_step"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:40s} {ms:7.1f} ms/step")
        s = result["speech_rows_per_step"]
        times = overlap(model, round(s), args.threads, max(5, args.repeats))
    alone, together = times["alone"], times["together"]
    serial = sum(alone.values())
    parallel = max(together.values())
    print(f"stages alone ({args.threads} threads): " + ", ".join(f"{k} {v:.1f} ms" for k, v in alone.items())
          + f"; one after the other {serial:.1f} ms")
    print("at once (two threads, half the threads each): "
          + ", ".join(f"{k} {v:.1f} ms" for k, v in together.items()) + f"; the pair {parallel:.1f} ms")
    # groups per step: every row advances in the serial schedule; in the two-stage one the
    # speech rows advance every other step
    serial_rate, staged_rate = 8 / serial, (8 - s + s / 2) / parallel
    print(f"these two stages' groups per ms: serial {serial_rate:.4f}, two-stage {staged_rate:.4f} "
          f"({staged_rate / serial_rate:.2f}x)")
    print("one-query attention, bf16:")
    print("\n".join(attention_kernels(model, max(1, round(s)), max(5, args.repeats))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
