"""How close our LM runs come to the reference's goldens, in float32 and in bfloat16.

    .venv/bin/python bench/lm_bf16_agreement.py [--fixtures ../shared/fixtures] [--precisions fp32,bf16]

For every LM golden case of ../shared/fixtures: start from the golden prompt matrix, generate
greedily (the goldens' decoding) on the fast path in that precision, and compare with the
golden generated matrix. float32 must be identical (the tests assert it); bfloat16 is reported
only: rounding differs between any two bf16 implementations, and the reference's own bf16 run
agrees with its fp32 run on 1 case of 15 (manifest ``fp32_vs_bf16_summary``).

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

from mimo_core.engine import Engine, GenerationRequest, SamplerConfig  # noqa: E402
from mimo_core.lm import load_mimo_lm  # noqa: E402
from mimo_core.tasks.defaults import CONTINUE_MIN_NEW_GROUPS  # noqa: E402

GREEDY = SamplerConfig(greedy=True)
FIXTURES = Path(os.environ.get("MIMO_SHARED_DIR", ROOT.parent / "shared")) / "fixtures"   # as tests/conftest.py


def compare(result, golden: dict, empty: int) -> dict:
    T = golden["prompt_ids"].shape[1]
    ours, ref = result.generated_ids[:, T:], golden["generated_ids"][:, T:]
    n = min(ours.shape[1], ref.shape[1]) // 4 * 4
    text_ours, text_ref = ours[0, :n:4], ref[0, :n:4]
    both_speech = (text_ours == empty) & (text_ref == empty)
    codes_ours = ours[1:, :n].reshape(8, -1, 4)[:, both_speech]
    codes_ref = ref[1:, :n].reshape(8, -1, 4)[:, both_speech]
    return dict(
        identical=bool(torch.equal(result.generated_ids, golden["generated_ids"])),
        text=float((text_ours == text_ref).float().mean()) if n else 1.0,
        codes=float((codes_ours == codes_ref).float().mean()) if codes_ours.numel() else float("nan"),
        same_stop=ours.shape[1] == ref.shape[1],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (args.fixtures / "manifest.json").is_file():
        print(f"error: no fixtures at {args.fixtures} (pass --fixtures)", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    manifest = json.loads((args.fixtures / "manifest.json").read_text())
    empty = manifest["special_ids"]["<|empty|>"]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    for precision in args.precisions.split(","):
        model = load_mimo_lm(args.fixtures / "checkpoints" / "lm", dtype=dtypes[precision])
        engine = Engine(model, empty, max_batch=1)
        rows = []
        for case, task in manifest["lm_tasks"].items():
            golden = load_file(str(args.fixtures / task[precision]["file"]))
            min_new = CONTINUE_MIN_NEW_GROUPS if case == "speech_continuation" else 0   # the harness call
            req = GenerationRequest(golden["prompt_ids"], GREEDY, GREEDY, frozenset(task["stop_tokens"]),
                                    task["max_new_tokens"], min_new)
            rows.append((case, compare(engine.generate(req), golden, empty)))
        print(f"\n{precision} model vs {precision} goldens (greedy, fast path)")
        print("case | identical | text ids agree | codes agree (groups both speech) | same stop")
        for case, r in rows:
            print(f"{case} | {r['identical']} | {r['text']:.0%} | "
                  f"{'-' if r['codes'] != r['codes'] else format(r['codes'], '.0%')} | {r['same_stop']}")
        identical = sum(r["identical"] for _, r in rows)
        text = sum(r["text"] for _, r in rows) / len(rows)
        stops = sum(r["same_stop"] for _, r in rows)
        print(f"summary: {identical}/{len(rows)} identical, mean text-id agreement {text:.0%}, "
              f"{stops}/{len(rows)} same stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
