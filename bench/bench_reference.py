"""The fast path against the official reference implementation itself, when it is at hand.

    .venv/bin/python bench/bench_reference.py --reference-src PATH/MiMo-Audio/src \
        --reference-site PATH/site [--configs tiny,mid] [--dtype bfloat16] [--threads 2]

Everywhere else the eager path (``Engine(fast=False)``) stands in for the reference. This script
runs the public reference (github.com/XiaomiMiMo/MiMo-Audio, ``src/``: its
``MiMoAudioForCausalLM.generate`` with its ``MiMoSampler`` and ``MiMoStopper``) in a subprocess on
the same random checkpoint, written once per config in the official on-disk format, with the
same prompt and the spoken-dialogue samplers, for the same number of forced groups. The
reference pins transformers 4.49, which our environment does not have: install it beside ours,
without touching the venv, e.g.

    .venv/bin/pip install --target /tmp/ref-site --no-deps transformers==4.49.0 \
        "tokenizers>=0.21,<0.22" "huggingface_hub>=0.26,<1.0"

and pass that folder as --reference-site (it goes first on the subprocess's PYTHONPATH; torch,
safetensors and the rest come from our venv). Not run by the tests (the reference is not a
dependency of this project).

Printed per config: groups/s of the reference's batch 1, of our eager path's batch 1, of the
fast path at batch 1 and aggregate at batch 8 (best of --repeats; ours run in turn within each
repeat), the ratios to the reference, each run's share of speech groups (the samplers draw
different tokens: the reference samples with torch.multinomial, we invert the CDF with per-request
generators), and operations per group of greedy runs (every aten event, torch.profiler; 1 + G
groups minus 1 group, as bench_fastpath.py) of the reference and of the fast path. A second
table sets the batch against the reference running the batch's own 8 requests one after
another. Speech groups cost several text groups, and each side's share of them depends on the
tokens it draws, so ``--mix text`` (a checkpoint whose <|empty|> row is not raised: text groups
only on both sides) gives the like-for-like ratio.
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
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine import AUDIO, EMPTY, MIX_NORMS, TEXT, best_of_interleaved, prompt, requests, write_checkpoint  # noqa: E402
from mimo_core.engine import GREEDY, Engine, GenerationRequest  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402

SPECIAL = dict(sosp_idx=151665, eosp_idx=151666, empty_idx=EMPTY, sostm_idx=151670, eostm_idx=151671,
               eot_idx=151672)
END_OF_TEXT = 151643
PROMPT_GROUPS, PROMPT_SEED = 40, 100            # bench_engine.requests' first request

# runs inside the subprocess, against the reference's own classes
REFERENCE_RUN = r"""
import json, sys, time, torch
from torch.profiler import ProfilerActivity, profile
from transformers import GenerationConfig
from mimo_audio.modeling_mimo_audio import MiMoAudioArguments, MiMoAudioForCausalLM, MiMoSampler, MiMoStopper

spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
model = MiMoAudioForCausalLM.from_pretrained(
    spec["ckpt"], args=MiMoAudioArguments(model_name_or_path=spec["ckpt"], **spec["special"]),
    torch_dtype=getattr(torch, spec["dtype"])).eval()
prompts = [torch.tensor(p) for p in spec["prompts"]]                 # each (9, T*P)
P, C = model.group_size, model.audio_channels

def generate(groups, greedy=False, which=0):
    ids = prompts[which]
    flat = ids.T.reshape(1, -1)                                     # the reference's layout
    prompt_groups = ids.shape[1] // P
    stop = MiMoStopper(P, C, max_length=prompt_groups + groups)
    stop.min_length = prompt_groups + groups                        # forced: no early stop
    if greedy:
        text = audio = MiMoSampler(do_sample=False)
    else:
        text = MiMoSampler(do_sample=True, temperature=spec["text"][0], top_p=spec["text"][1])
        audio = MiMoSampler(do_sample=True, temperature=spec["audio"][0], top_p=spec["audio"][1])
    torch.manual_seed(0)
    out = model.generate(flat, GenerationConfig(max_length=8192, eos_token_id=spec["eot"], pad_token_id=spec["eot"]),
                         stopping_criteria=[stop], global_sampler=text, local_sampler=audio)
    return out.reshape(-1, C + 1).T[:, ids.shape[1]:]               # (9, new groups * P)

def aten_events(groups):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        generate(groups, greedy=True)
    return sum(e.name.startswith("aten::") for e in prof.events())

generate(2)                                                         # warm-up
print("ready", flush=True)
for line in sys.stdin:                                              # one command per line
    if line.strip() == "time":                                      # one timed dialogue run
        start = time.perf_counter()
        new = generate(spec["groups"])
        print(json.dumps(dict(seconds=time.perf_counter() - start, groups=new.shape[1] // P,
                              speech=float((new[0, ::P] == spec["special"]["empty_idx"]).float().mean()))),
              flush=True)
    elif line.strip() == "time8":                                   # the batch's requests, one by one
        start = time.perf_counter()
        new = [generate(spec["groups"], which=i) for i in range(len(prompts))]
        text = torch.cat([n[0, ::P] for n in new])
        print(json.dumps(dict(seconds=time.perf_counter() - start, groups=int(text.numel()),
                              speech=float((text == spec["special"]["empty_idx"]).float().mean()))),
              flush=True)
    elif line.strip() == "ops":                                     # operations per greedy group
        g = spec["profiled_groups"]
        ops = (aten_events(1 + g) - aten_events(1)) / g
        greedy = generate(1 + g, greedy=True)
        print(json.dumps(dict(ops=ops, greedy_tokens=greedy[:, P:].tolist())), flush=True)
    else:
        break
"""


class Reference:
    """The reference in a subprocess that stays up, so that its timed runs can take turns with
    ours (this machine's speed drifts): ``time()`` runs one dialogue request, ``ops()`` counts."""

    def __init__(self, args, ckpt: Path):
        spec = dict(ckpt=str(ckpt), special=SPECIAL, dtype=args.dtype, threads=args.threads, groups=args.groups,
                    profiled_groups=args.profiled_groups, eot=END_OF_TEXT,
                    prompts=[r.prompt_ids.tolist() for r in requests(8, args.groups, PROMPT_GROUPS)],
                    text=(TEXT.temperature, TEXT.top_p), audio=(AUDIO.temperature, AUDIO.top_p))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(args.reference_site), str(args.reference_src)]))
        self.log = tempfile.TemporaryFile(mode="w+")               # its warnings: not a pipe that can fill
        self.proc = subprocess.Popen([sys.executable, "-c", REFERENCE_RUN, json.dumps(spec)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self._read()                                                  # "ready"

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            raise SystemExit(f"the reference failed:\n{self.log.read()[-3000:]}")
        return line

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self._read())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.log.close()


def fast_ops_per_group(engine: Engine, groups: int) -> tuple[float, torch.Tensor]:
    """Every aten event per group of a greedy run (as the reference's count), and its groups."""
    def request(n):
        return GenerationRequest(prompt(PROMPT_GROUPS, PROMPT_SEED), GREEDY, GREEDY, frozenset(), n, min_new_groups=n)

    def events(n):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            engine.generate(request(n))
        return sum(e.name.startswith("aten::") for e in prof.events())
    return (events(1 + groups) - events(1)) / groups, engine.generate(request(1 + groups)).new_ids[:, 4:]


def speech_share(results) -> float:
    return float(torch.cat([r.new_ids[0, ::4] for r in results]).eq(EMPTY).float().mean())


def bench_config(name: str, args, workdir: Path) -> dict:
    ckpt = write_checkpoint(workdir, name, args.mix)
    reference = Reference(args, ckpt)
    try:
        model = load_mimo_lm(ckpt, dtype=getattr(torch, args.dtype))
        eager, fast = Engine(model, EMPTY, max_batch=1, fast=False), Engine(model, EMPTY, max_batch=8)
        one, eight = requests(1, args.groups, PROMPT_GROUPS), requests(8, args.groups, PROMPT_GROUPS)
        fast.generate(one[0])                                                   # warm-up
        ref_runs, ref8_runs = [], []
        timed = best_of_interleaved(args.repeats, [
            lambda: ref_runs.append(reference.ask("time")), lambda: [eager.generate(one[0])],
            lambda: [fast.generate(one[0])], lambda: fast.generate_batch(eight),
            lambda: ref8_runs.append(reference.ask("time8"))])
        (_, _), (t_eager, r_eager), (t_fast, r_fast), (t_b8, r_b8), _ = timed
        counted = reference.ask("ops")
    finally:
        reference.close()
    best_ref = min(ref_runs, key=lambda r: r["seconds"])            # its own clock: no pipe round trip
    best_ref8 = min(ref8_runs, key=lambda r: r["seconds"])
    fast_ops, fast_greedy = fast_ops_per_group(Engine(model, EMPTY, max_batch=1), args.profiled_groups)
    ref_greedy = torch.tensor(counted["greedy_tokens"])
    return dict(
        config=name, greedy_speech=(float(ref_greedy[0, ::4].eq(EMPTY).float().mean()),
                                    float(fast_greedy[0, ::4].eq(EMPTY).float().mean())),
        reference_gps=best_ref["groups"] / best_ref["seconds"], reference_speech=best_ref["speech"],
        reference8_gps=best_ref8["groups"] / best_ref8["seconds"], reference8_speech=best_ref8["speech"],
        reference_ops=counted["ops"], eager_gps=args.groups / t_eager, eager_speech=speech_share(r_eager),
        fast_gps=args.groups / t_fast, fast_speech=speech_share(r_fast),
        b8_gps=sum(r.new_groups for r in r_b8) / t_b8, b8_speech=speech_share(r_b8), fast_ops=fast_ops)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-src", type=Path, required=True, help="the official repository's src/ folder")
    parser.add_argument("--reference-site", type=Path, required=True,
                        help="a folder with transformers 4.49 (pip install --target ...)")
    parser.add_argument("--configs", default="tiny,mid")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--groups", type=int, default=24, help="forced groups per request")
    parser.add_argument("--profiled-groups", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mix", default="dialogue", choices=sorted(MIX_NORMS),
                        help="dialogue: a share of groups is speech (how many depends on the tokens each side "
                             "draws); text: the checkpoint leaves <|empty|> unraised, so both sides make text "
                             "groups only, the same work whatever they draw (bench_engine.py --mix)")
    args = parser.parse_args()
    if not (args.reference_src / "mimo_audio" / "modeling_mimo_audio.py").is_file():
        parser.error(f"no mimo_audio/modeling_mimo_audio.py under {args.reference_src}")
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs.split(","):
            start = time.perf_counter()
            rows.append(bench_config(name, args, Path(tmp)))
            print(f"[{name} done in {time.perf_counter() - start:.0f} s]", file=sys.stderr, flush=True)
    print(f"\nthe reference vs ours: {args.groups} forced groups, spoken-dialogue samplers, mix {args.mix}, {args.dtype}, "
          f"{args.threads} thread(s), best of {args.repeats}, torch {torch.__version__}")
    print("config | reference b1 | eager b1 | fast b1 | fast b8 agg | fast b1 / ref | b8 / ref | eager / ref "
          "| speech % ref/eager/fast/b8 | ops per group ref | fast | fast / ref")
    for r in rows:
        ref = r["reference_gps"]
        print(f"{r['config']} | {ref:.1f} | {r['eager_gps']:.1f} | {r['fast_gps']:.1f} | {r['b8_gps']:.1f} | "
              f"{r['fast_gps'] / ref:.2f}x | {r['b8_gps'] / ref:.2f}x | {r['eager_gps'] / ref:.2f}x | "
              f"{100 * r['reference_speech']:.0f}/{100 * r['eager_speech']:.0f}/{100 * r['fast_speech']:.0f}/"
              f"{100 * r['b8_speech']:.0f} | {r['reference_ops']:.0f} | {r['fast_ops']:.0f} | "
              f"{r['fast_ops'] / r['reference_ops']:.2f} (speech {100 * r['greedy_speech'][0]:.0f}/"
              f"{100 * r['greedy_speech'][1]:.0f} %)")
    print("(groups/s; ops: every aten event per generated group of a greedy batch-1 run, and the share of "
          "speech groups in each profiled run)")
    print("\nthe batch against the reference running the same 8 requests one after another (its batch 1 over the "
          "batch's own prompts, so both sides draw from the same requests)")
    print("config | reference b1, 8 requests | fast b8 agg | b8 / ref | speech % ref/b8")
    for r in rows:
        print(f"{r['config']} | {r['reference8_gps']:.1f} | {r['b8_gps']:.1f} | {r['b8_gps'] / r['reference8_gps']:.2f}x | "
              f"{100 * r['reference8_speech']:.0f}/{100 * r['b8_speech']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
