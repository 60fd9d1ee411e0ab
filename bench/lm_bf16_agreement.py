"""The fast path's exactness rule, measured (docs/FAST_PATH.md): float32 and bfloat16 runs
against the float32 goldens, next to the reference's own bf16-versus-fp32 figures.

    .venv/bin/python bench/lm_bf16_agreement.py [--fixtures ../shared/fixtures] [--paths fast,eager]

For every LM golden case of ../shared/fixtures: start from the fp32 golden prompt matrix,
generate greedily (the goldens' decoding) in float32 and in bfloat16, on the fast path and on the
eager (reference-faithful) path, and compare with the fp32 golden generated matrix. The rule:
float32 identical on every case; bfloat16 at least as close as the reference's bf16 run was to
its fp32 run (fixtures README "fp32 versus bf16": 1 of 15 identical, 23 % of text ids, 10 of 15
stops). Caveat: the reference's bf16 run also started from bf16-encoded prompts (its audio
prompts differ from the fp32 ones); here both precisions start from the same fp32 prompt.

Per case: identical or not, the fraction of generated text ids that agree (over the shorter
run), the fraction of audio codes that agree over groups both runs made speech, and whether
the stop is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimo_core.engine import GREEDY, Engine, GenerationRequest  # noqa: E402
from mimo_core.engine.exactness import REFERENCE_BF16_VS_FP32, agreement, summarize  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402
from mimo_core.tasks.registry import CONTINUE_MIN_NEW_GROUPS  # noqa: E402

FIXTURES = Path(os.environ.get("MIMO_SHARED_DIR", ROOT.parent / "shared")) / "fixtures"   # as tests/conftest.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--paths", default="fast,eager", help="fast, eager or both")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (args.fixtures / "manifest.json").is_file():
        print(f"error: no fixtures at {args.fixtures} (pass --fixtures)", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    manifest = json.loads((args.fixtures / "manifest.json").read_text())
    empty = manifest["special_ids"]["<|empty|>"]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    cases = []
    for case, task in manifest["lm_tasks"].items():
        golden = load_file(str(args.fixtures / task["fp32"]["file"]))
        min_new = CONTINUE_MIN_NEW_GROUPS if case == "speech_continuation" else 0   # the harness call
        cases.append((case, golden, GenerationRequest(golden["prompt_ids"], GREEDY, GREEDY,
                                                      frozenset(task["stop_tokens"]), task["max_new_tokens"], min_new)))
    ref = REFERENCE_BF16_VS_FP32
    print(f"reference bf16 vs its fp32: {ref.identical}/{ref.cases} identical, mean text-id agreement "
          f"{ref.mean_text:.0%}, {ref.same_stop}/{ref.cases} same stop")
    for precision in args.precisions.split(","):
        model = load_mimo_lm(args.fixtures / "checkpoints" / "lm", dtype=dtypes[precision])
        for path in args.paths.split(","):
            engine = Engine(model, empty, max_batch=1, fast=path == "fast")
            rows = [(case, agreement(engine.generate(req), golden["generated_ids"], golden["prompt_ids"].shape[1],
                                     empty)) for case, golden, req in cases]
            print(f"\n{precision} {path} path vs fp32 goldens (greedy, from the fp32 golden prompts)")
            print("case | identical | text ids agree | codes agree (groups both speech) | same stop")
            for case, r in rows:
                print(f"{case} | {r.identical} | {r.text:.0%} | "
                      f"{'-' if r.codes != r.codes else format(r.codes, '.0%')} | {r.same_stop}")
            s = summarize([r for _, r in rows])
            verdict = ("all identical" if s.identical == s.cases else
                       f"{'meets' if s.at_least(ref) else 'BELOW'} the reference's bf16-vs-fp32 agreement")
            print(f"summary: {s.identical}/{s.cases} identical, mean text-id agreement {s.mean_text:.0%}, "
                  f"{s.same_stop}/{s.cases} same stop -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
