"""Numerical parity of the LM with the reference goldens (fp32), and cached == uncached.

Tolerances are those of fixtures/README.md: prefill text logits atol 1e-4, first-patch
local logits atol 1e-5.
"""

import pytest
import torch
from safetensors.torch import load_file

from mimo_core.engine.batch import BatchDecoder
from mimo_core.engine.eager import EagerDecoder, patch_decode_eager
from mimo_core.engine.sampling import GREEDY
from mimo_core.engine.types import GenerationRequest, RequestState
from tests.conftest import lm_task_names, requires_fixtures

pytestmark = requires_fixtures
P = 4


_cases = lm_task_names


@pytest.fixture(scope="module")
def model(fixture_lm):
    return fixture_lm


@pytest.fixture(scope="module")
def empty_id(manifest):
    return manifest["special_ids"]["<|empty|>"]


def _golden(fixtures_dir, manifest, case):
    return load_file(str(fixtures_dir / manifest["lm_tasks"][case]["fp32"]["file"]))


@pytest.mark.parametrize("case", _cases())
def test_prefill_text_logits(model, empty_id, fixtures_dir, manifest, case):
    golden = _golden(fixtures_dir, manifest, case)
    logits, _ = model(golden["prompt_ids"][None], empty_id)           # (1, T, V)
    diff = (logits[0, -1] - golden["prefill_text_logits"]).abs().max().item()
    assert diff <= 1e-4, f"{case}: max abs diff {diff:.3g}"


@pytest.mark.parametrize("case", _cases())
def test_first_patch_local_logits(model, empty_id, fixtures_dir, manifest, case):
    task = manifest["lm_tasks"][case]["fp32"]
    group = task["first_speech_group"]
    if group is None:
        pytest.skip(f"{case} generates no speech group")
    golden = _golden(fixtures_dir, manifest, case)
    cols = golden["prompt_ids"].shape[1] + P * group
    _, local_inputs = model(golden["generated_ids"][None, :, :cols], empty_id)   # teacher-forced context
    recorded = {}

    def choose(channel, logits):
        recorded.setdefault(channel, []).append(logits[0].clone())
        masked = logits.clone()
        masked[:, model.speech_empty_ids[channel]] = float("-inf")
        return masked.argmax(-1)

    with torch.inference_mode():
        codes = patch_decode_eager(model, local_inputs[:, -1:], choose)[0]      # (P, C)
    assert torch.equal(codes, golden["first_patch_tokens"])
    for channel in range(model.channels):
        ours = torch.stack(recorded[channel])                                  # (P, V_c)
        diff = (ours - golden[f"first_patch_local_logits_c{channel}"]).abs().max().item()
        assert diff <= 1e-5, f"{case} channel {channel}: max abs diff {diff:.3g}"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "eager"])
def test_cached_step_logits_equal_an_uncached_full_forward(model, empty_id, fixtures_dir, manifest, fast):
    golden = _golden(fixtures_dir, manifest, "tts_voice_clone")     # speech and text groups, 15 steps
    req = GenerationRequest(golden["prompt_ids"], GREEDY, GREEDY, frozenset(), 15)
    decoder = BatchDecoder(model, empty_id, 256, 2) if fast else EagerDecoder(model, empty_id, 256)
    state = RequestState.start(req)
    decoder.add(state)
    step_logits = []
    with torch.inference_mode():
        while decoder.active():
            hidden = decoder.hidden[:1] if fast else decoder._hidden[:, -1]
            step_logits.append(model.lm_head(hidden)[0])
            decoder.step()
    full, _ = model(torch.cat([golden["prompt_ids"], *state.groups], dim=1)[None], empty_id)
    T = golden["prompt_ids"].shape[1] // P
    uncached = full[0, T - 1 : T - 1 + len(step_logits)]
    diff = (torch.stack(step_logits) - uncached).abs().max().item()
    assert len(step_logits) == 15
    assert diff <= 1e-4, f"max abs diff {diff:.3g}"
