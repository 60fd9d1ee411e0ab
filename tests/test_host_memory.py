"""A CPU engine keeps freed host memory mapped, so its decode steps stop page-faulting
(mimo_core/engine/host_memory.py). Run in subprocesses: the setting is process-wide."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# 8 sampled requests through the fast path on a tiny model with the release's text vocabulary
# (151,680-wide rows are what the sampler allocates and frees every step); prints the minor
# page faults of the quietest of three runs after a warm-up run (a run may still grow the heap
# once, e.g. when the kernel's pages were reclaimed; untuned, every run faults)
SCRIPT = r"""
import json, resource, sys, torch
from mimo_core.engine import Engine, GenerationRequest
from mimo_core.engine.host_memory import keep_freed_memory
from mimo_core.lm import load_mimo_lm
from mimo_core.sampler_config import SamplerConfig
torch.set_num_threads(2)
model = load_mimo_lm(sys.argv[1], dtype=torch.bfloat16)
engine = Engine(model, empty_text_id=151667, max_batch=8)
sampler = SamplerConfig(temperature=0.6, top_p=0.95)
prompt = torch.full((9, 8), -100, dtype=torch.long)
prompt[0, ::4] = torch.arange(2) + 100
prompt[1:] = torch.tensor(model.config.speech_empty_ids)[:, None]
requests = [GenerationRequest(prompt, sampler, sampler, frozenset(), 6, seed=i) for i in range(8)]
engine.generate_batch(requests)
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    engine.generate_batch(requests)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": keep_freed_memory(), "faults": min(faults), "all": faults}))
"""


def run(ckpt: Path, tuning: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MIMO_MALLOC_TUNING"}
    if tuning is not None:
        env["MIMO_MALLOC_TUNING"] = tuning
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ckpt)], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the allocator setting is glibc's (Linux); elsewhere it does nothing")
def test_a_cpu_engine_stops_page_faulting_on_its_step_temporaries_and_the_setting_can_be_turned_off(tmp_path):
    from mimo_core.lm.tiny import write_tiny_lm

    ckpt = write_tiny_lm(tmp_path / "wide", vocab_size=151680, seed=0)
    tuned, untuned = run(ckpt, None), run(ckpt, "0")
    assert tuned["applied"] is True and untuned["applied"] is False
    # untuned, glibc returns the freed top of its heap to the kernel between steps, so the
    # next step's rows land on fresh pages: thousands of faults for these 48 groups
    assert untuned["faults"] > 2000, untuned
    assert tuned["faults"] * 10 < untuned["faults"], (tuned, untuned)
