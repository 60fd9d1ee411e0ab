"""Generation engine benchmark: eager vs fast path, batching, time to first group, load memory.

    .venv/bin/python bench/bench_engine.py [--groups 24] [--threads 1] [--configs tiny,mid]

One run, one set of random weights per config (written once in the official on-disk format
and loaded back with load_mimo_lm), two configs:
  tiny  the fixture-like config (hidden 64, 2 layers, local 32, vocab 151680)
  mid   hidden 1024 / 8 layers / local 512 (vocab 151680)
For each: groups/s of the eager path vs the fast path at batch 1 (same seeds; whether the
sampled tokens are the same is shown, not required: the fast path's exactness rule,
docs/FAST_PATH.md, asks for identical greedy goldens in float32), aggregate groups/s of the fast path at batch 1, 4 and 8, time to the first
streamed group, and the peak RSS of a fresh process while loading the checkpoint vs its size
on disk. Requests use the spoken-dialogue samplers of docs/FORMAT.md section 7 (text and speech groups
mixed; --mix text makes every group a text group, so that both paths do the same work even
where their bf16 arithmetic draws different tokens). Batch-1 weight traffic: the bytes of weights a group reads (each step needs every
weight it uses once) times groups/s gives the rate each path streams weights at; it is shown
next to the rate of the text head's one-row matrix-vector product alone (the step's largest
weight stream). A batch-1 path cannot beat that rate by much: it bounds how much faster any
code could make a memory-bound step on this machine. Every timing is the best of --repeats
runs (this machine's CPU is shared); every variant (eager, fast, the matvec, batch 1/4/8)
runs once per repeat, in turn, so that a drift in the machine's speed hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimo_core.engine import Engine, GenerationRequest  # noqa: E402
from mimo_core.engine.delay import num_steps  # noqa: E402
from mimo_core.engine.top_p import top_p_fast, top_p_reference  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402
from mimo_core.lm.tiny import tiny_config, write_tiny_lm  # noqa: E402
from mimo_core.tasks.registry import TASKS  # noqa: E402

VOCAB = 151680
EMPTY = 151667                   # where the release's tokenizer puts <|empty|>
CONFIGS = {
    "tiny": dict(),              # write_tiny_lm's defaults = the fixture config
    "mid": dict(hidden_size=1024, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=8,
                head_dim=64, intermediate_size=2816, local_dim=512, local_layers=4, local_attn_heads=8,
                local_ffn_dim=2048, input_local_layers=2, input_local_dim=512),
}
# <|empty|> raised in lm_head (as in the fixtures) so that a share of groups is speech
EMPTY_ROW_NORM = {"tiny": 15.0, "mid": 40.0}
# --mix: "dialogue" mixes text and speech groups (how many of each depends on the tokens drawn, so
# two paths whose bf16 arithmetic differs can make different shares: the shares are printed);
# "text" leaves its row at zero (about one chance in 151,680 per group of a speech group): the
# same work for both paths whatever tokens they draw, for a like-for-like ratio (a text chat).
MIX_NORMS = {"dialogue": EMPTY_ROW_NORM, "text": {"tiny": 0.0, "mid": 0.0}}
# the spoken-dialogue defaults of docs/FORMAT.md section 7 (a task that mixes text and speech groups)
TEXT, AUDIO = TASKS["dialogue"].text, TASKS["dialogue"].audio
EMPTY_CODES = tiny_config(VOCAB).speech_empty_ids      # the release's empty ids (both configs)


def write_checkpoint(workdir: Path, name: str, mix: str = "dialogue") -> Path:
    """The config's random checkpoint (seed 0) in the official on-disk format, under workdir/name;
    ``mix`` sets how far the <|empty|> row is raised (MIX_NORMS)."""
    return write_tiny_lm(workdir / name, vocab_size=VOCAB, seed=0, row_norms={EMPTY: MIX_NORMS[mix][name]},
                         **CONFIGS[name])


def prompt(groups: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.empty(9, 4 * groups, dtype=torch.long)
    ids[1:] = torch.tensor(EMPTY_CODES)[:, None]
    ids[0] = -100
    ids[0, ::4] = torch.randint(0, 150000, (groups,), generator=gen)
    for g in range(2, groups, 3):            # every third group is speech
        ids[0, 4 * g] = EMPTY
        for c, empty in enumerate(EMPTY_CODES):
            ids[c + 1, 4 * g : 4 * g + 4] = torch.randint(0, empty, (4,), generator=gen)
    return ids


def requests(n: int, groups: int, prompt_groups: int) -> list[GenerationRequest]:
    return [GenerationRequest(prompt(prompt_groups + 3 * i, 100 + i), TEXT, AUDIO, frozenset(), groups,
                              seed=1000 + i) for i in range(n)]


def sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def best_of(repeats: int, fn):
    best, out = float("inf"), None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best, out


def best_of_interleaved(repeats: int, fns) -> list[tuple[float, object]]:
    """best_of for several functions, run in turn within each repeat, so that a burst of load
    from other processes on a shared machine hits them alike rather than one of them."""
    best, outs = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            sync()
            start = time.perf_counter()
            outs[i] = fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - start)
    return list(zip(best, outs))


def nbytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def weight_bytes(model) -> tuple[int, int]:
    """Weight bytes one batch-1 group must read: (every group, extra for a speech group).

    Every group: the text head and the backbone layers. A speech group adds the patch
    decoder (its stack once per step, each channel head at the P steps that emit that
    channel, the downcast) and, on the next step, the patch encoder and the group downcast.
    """
    every = nbytes(model.lm_head) + nbytes(model.model.layers) + nbytes(model.model.norm)
    steps = num_steps(model.delays, model.group_size)
    local = nbytes(model.local_transformer)
    if model.speech_embeddings_to_local is not None:
        local += nbytes(model.speech_embeddings_to_local)
    speech = (steps * local + model.group_size * nbytes(model.local_transformer_lm_heads)
              + nbytes(model.hidden_states_downcast) + nbytes(model.input_local_transformer)
              + nbytes(model.speech_group_downcast))
    return every, speech


def top_p_timing(repeats: int) -> dict:
    """The nucleus filter on text-vocabulary rows: the reference's torch.sort formulation (what
    the eager path runs) vs the fast path's filter. One float32 row (the fast path keeps the
    reference's bits: outputs must be equal) and eight bfloat16 rows, a dialogue batch (boundary
    ties dropped by id: output must equal the stable-sort formulation)."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(1, VOCAB, generator=gen) * 4
    (t_ref, ref), (t_ours, ours) = best_of_interleaved(
        max(repeats, 10), [lambda: top_p_reference(scores, 0.95), lambda: top_p_fast(scores, 0.95)])
    batch = (torch.randn(8, VOCAB, generator=gen) * 2.5).to(torch.bfloat16) / TEXT.temperature
    (t_ref8, _), (t_ours8, ours8) = best_of_interleaved(
        max(repeats, 5), [lambda: top_p_reference(batch, TEXT.top_p), lambda: top_p_fast(batch, TEXT.top_p)])
    return dict(reference_ms=t_ref * 1e3, ours_ms=t_ours * 1e3, equal=bool(torch.equal(ref, ours)),
                bf16_batch_reference_ms=t_ref8 * 1e3, bf16_batch_ours_ms=t_ours8 * 1e3,
                bf16_batch_equal_stable=ours8.dtype == torch.float32 and bool(torch.equal(
                    ours8, top_p_reference(batch, TEXT.top_p, stable=True).float())))   # widened, exactly


def load_memory(ckpt: Path, dtype: str) -> dict:
    """Peak RSS of a fresh process loading the checkpoint (above its RSS after the imports)."""
    code = (
        "import re, sys, torch; torch.set_num_threads(1)\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from mimo_core.lm import load_mimo_lm\n"
        "import transformers.models.qwen2.modeling_qwen2, safetensors.torch\n"
        "status = lambda key: int(re.search(key + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to the current RSS\n"
        "before = status('VmRSS')\n"
        f"m = load_mimo_lm({str(ckpt)!r}, dtype={dtype!r})\n"
        "for p in m.parameters():  # touch every page (weights may still be backed by the file map)\n"
        "    p.detach().reshape(-1)[::512].sum()\n"
        "after = status('VmHWM')\n"
        "size = sum(p.numel() * p.element_size() for p in m.parameters())\n"
        "print(before * 1024, after * 1024, size)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, in_memory = map(int, out.stdout.split())
    disk = sum(f.stat().st_size for f in ckpt.glob("*.safetensors"))
    return dict(dtype=dtype, disk_mb=disk / 2**20, model_mb=in_memory / 2**20,
                peak_rss_increase_mb=(after - before) / 2**20, ratio_to_disk=(after - before) / disk)


def bench_config(name: str, args, workdir: Path) -> dict:
    ckpt = write_checkpoint(workdir, name, args.mix)
    model = load_mimo_lm(ckpt, device=args.device, dtype=getattr(torch, args.dtype))
    n, P0, reps = args.groups, args.prompt_groups, args.repeats
    row = dict(config=name, params_m=model.num_parameters() / 1e6)

    one = requests(1, n, P0)
    eager, fast = Engine(model, EMPTY, max_batch=1, fast=False), Engine(model, EMPTY, max_batch=8)
    fast.generate(one[0])                                              # warm-up (allocations)
    batches = {b: requests(b, n, P0) for b in (1, 4, 8)}
    weight = model.lm_head.weight
    h = torch.randn(1, weight.shape[1], dtype=weight.dtype, device=weight.device)

    def matvec():
        with torch.inference_mode():
            for _ in range(5):
                torch.nn.functional.linear(h, weight)

    # every variant runs once per repeat, in turn, so that drifts in this shared machine's
    # speed hit them alike; each keeps its best time
    timed = best_of_interleaved(reps, [
        lambda: eager.generate(one[0]), lambda: fast.generate(one[0]), matvec,
        *[lambda reqs=reqs: fast.generate_batch(reqs) for reqs in batches.values()]])
    (t_eager, r_eager), (t_fast, r_fast), (t_matvec, _) = timed[:3]
    row["same_tokens_eager_fast"] = bool(torch.equal(r_eager.generated_ids, r_fast.generated_ids))
    row["speech_share"] = float((r_fast.new_ids[0, ::4] == EMPTY).float().mean())
    row["eager_speech_share"] = float((r_eager.new_ids[0, ::4] == EMPTY).float().mean())
    row["b8_speech_share"] = float(torch.cat([r.new_ids[0, ::4] for r in timed[-1][1]]).eq(EMPTY).float().mean())
    row["eager_b1_gps"] = n / t_eager
    row["fast_gps"] = n / t_fast
    every, speech = weight_bytes(model)
    n_speech = int((r_fast.new_ids[0, ::4] == EMPTY).sum())
    read = n * every + n_speech * speech                                  # bytes of weights, b1 run
    row["read_mb_per_group"] = read / n / 2**20
    row["eager_gbs"], row["fast_gbs"] = read / t_eager / 1e9, read / t_fast / 1e9
    row["gemv_gbs"] = 5 * nbytes(model.lm_head) / t_matvec / 1e9
    for b, (t, results) in zip(batches, timed[3:]):
        row[f"fast_b{b}_gps"] = sum(r.new_groups for r in results) / t

    def first_group():
        stream = iter(fast.stream(one[0]))
        start = time.perf_counter()
        next(stream)
        elapsed = time.perf_counter() - start
        stream.close()
        return elapsed
    row["first_group_ms"] = min(first_group() for _ in range(reps)) * 1000
    row["load"] = [] if args.skip_load else [load_memory(ckpt, "bfloat16"), load_memory(ckpt, "float32")]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=24, help="generated groups per request")
    parser.add_argument("--prompt-groups", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--configs", default="tiny,mid")
    parser.add_argument("--mix", default="dialogue", choices=sorted(MIX_NORMS),
                        help="groups made: dialogue (text and speech mixed) or text (text groups only)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="dtype the model runs in (the checkpoint is written in bf16)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (timings synchronise the device)")
    parser.add_argument("--skip-load", action="store_true", help="skip the load-memory measurement")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    top_p = top_p_timing(args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            rows.append(bench_config(name, args, Path(tmp)))
            print(f"[{name} done]", file=sys.stderr, flush=True)

    print(f"\nengine benchmark: {args.groups} groups/request, prompts of {args.prompt_groups}+ groups, "
          f"{args.threads} thread(s), {os.cpu_count()} CPUs, torch {torch.__version__}, device {args.device}, {args.dtype}, "
          f"best of {args.repeats}, mix {args.mix}")
    head = ["config", "params M", "eager b1", "fast b1", "fast/eager", "b1 agg", "b4 agg", "b8 agg",
            "b8/eager", "1st group ms", "same tokens", "speech % eager/fast/b8"]
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([
            r["config"], f"{r['params_m']:.1f}", f"{r['eager_b1_gps']:.1f}", f"{r['fast_gps']:.1f}",
            f"{r['fast_gps'] / r['eager_b1_gps']:.2f}x", f"{r['fast_b1_gps']:.1f}", f"{r['fast_b4_gps']:.1f}",
            f"{r['fast_b8_gps']:.1f}", f"{r['fast_b8_gps'] / r['eager_b1_gps']:.2f}x", f"{r['first_group_ms']:.1f}",
            str(r["same_tokens_eager_fast"]),
            f"{100 * r['eager_speech_share']:.0f}/{100 * r['speech_share']:.0f}/{100 * r['b8_speech_share']:.0f}"]))
    print("(groups/s; 'agg' = all requests' groups per second of wall time)")
    print("\nbatch-1 weight traffic: config | weights read per group MB (speech share) | eager GB/s | fast GB/s "
          "| text-head matvec alone GB/s | fast / matvec rate")
    for r in rows:
        print(f"{r['config']} | {r['read_mb_per_group']:.0f} | {r['eager_gbs']:.1f} | {r['fast_gbs']:.1f} | "
              f"{r['gemv_gbs']:.1f} | {r['fast_gbs'] / r['gemv_gbs']:.0%}")
    print(f"\ntop-p 0.95 on one {VOCAB}-token row: reference (torch.sort) {top_p['reference_ms']:.2f} ms, "
          f"fast path's filter {top_p['ours_ms']:.2f} ms ({top_p['reference_ms'] / top_p['ours_ms']:.0f}x), "
          f"identical output: {top_p['equal']}")
    print(f"top-p {TEXT.top_p} on 8 bf16 rows (a dialogue batch): reference (torch.sort) "
          f"{top_p['bf16_batch_reference_ms']:.1f} ms, fast path's filter {top_p['bf16_batch_ours_ms']:.1f} ms "
          f"({top_p['bf16_batch_reference_ms'] / top_p['bf16_batch_ours_ms']:.1f}x), output equal to the "
          f"stable-sort formulation: {top_p['bf16_batch_equal_stable']}")
    print("\nload memory (fresh process): dtype | on disk MB | model MB | peak RSS increase MB | increase / disk")
    for r in rows:
        for m in r["load"]:
            print(f"{r['config']} {m['dtype']} | {m['disk_mb']:.1f} | {m['model_mb']:.1f} | "
                  f"{m['peak_rss_increase_mb']:.1f} | {m['ratio_to_disk']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(configs=rows, top_p=top_p), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
