"""Generation against the reference goldens: float32 greedy reproduces every golden case
exactly (every group, every codebook, same stop), alone and batched, on the fast path; the
eager path agrees on a few; bfloat16 runs are structurally sound and agree with the float32
goldens at least as well as the reference's own bf16 run does (the fast path's bf16 rule,
docs/FAST_PATH.md; bench/lm_bf16_agreement.py prints the figures)."""


import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mimo_core.engine import Engine, GenerationRequest, GenerationResult, SamplerConfig, StopReason
from mimo_core.engine.exactness import REFERENCE_BF16_VS_FP32, agreement, summarize
from mimo_core.lm import load_mimo_lm
from tests.conftest import lm_task_names, requires_fixtures

pytestmark = requires_fixtures
GREEDY = SamplerConfig(greedy=True)
SPEECH_CONTINUATION_MIN_NEW = 8   # the harness call (manifest note); every other task uses the default 0


_cases = lm_task_names


@pytest.fixture(scope="module")
def model(fixture_lm):
    return fixture_lm


@pytest.fixture(scope="module")
def engine(model, manifest):
    return Engine(model, manifest["special_ids"]["<|empty|>"], max_batch=8)


def golden_request(fixtures_dir, manifest, case, precision="fp32"):
    task = manifest["lm_tasks"][case]
    golden = load_file(str(fixtures_dir / task[precision]["file"]))
    min_new = SPEECH_CONTINUATION_MIN_NEW if case == "speech_continuation" else 0
    req = GenerationRequest(golden["prompt_ids"], GREEDY, GREEDY, frozenset(task["stop_tokens"]),
                            task["max_new_tokens"], min_new)
    return req, golden, task[precision]


def check_against_golden(result: GenerationResult, golden, info, manifest):
    assert result.generated_ids.shape == golden["generated_ids"].shape
    assert torch.equal(result.generated_ids, golden["generated_ids"])
    assert result.new_groups == info["new_groups"]
    if info["stop_reason"] == "max_new_tokens":
        assert result.stop_reason is StopReason.MAX_NEW_GROUPS
    else:
        token = info["stop_reason"].split()[1]
        assert result.stop_reason is StopReason.STOP_TOKEN
        assert result.stop_token == manifest["special_ids"][token]


@pytest.mark.parametrize("case", _cases())
def test_fast_path_reproduces_every_golden_exactly(engine, fixtures_dir, manifest, case):
    req, golden, info = golden_request(fixtures_dir, manifest, case)
    check_against_golden(engine.generate(req), golden, info, manifest)


def test_batched_goldens_match_row_by_row(engine, fixtures_dir, manifest):
    """Prompts of 15..100 groups and different stops, 4 rows at a time: a finished row is
    refilled from the queue while the others run on."""
    cases = ["asr_speech", "spoken_dialogue_followup", "tts_voice_clone", "spoken_dialogue_multiturn",
             "audio_understanding", "speech_continuation"]
    loaded = [golden_request(fixtures_dir, manifest, c) for c in cases]
    small = Engine(engine.model, engine.empty_text_id, max_batch=4)
    results = small.generate_batch([req for req, _, _ in loaded])
    for result, (_, golden, info) in zip(results, loaded):
        check_against_golden(result, golden, info, manifest)


@pytest.mark.parametrize("case", ["asr_speech", "audio_understanding", "tts_voice_clone"])
def test_eager_path_reproduces_goldens_and_equals_fast(model, engine, fixtures_dir, manifest, case):
    req, golden, info = golden_request(fixtures_dir, manifest, case)
    eager = Engine(model, engine.empty_text_id, fast=False).generate(req)
    check_against_golden(eager, golden, info, manifest)


def test_streamed_events_are_the_generated_groups(engine, fixtures_dir, manifest):
    req, golden, _ = golden_request(fixtures_dir, manifest, "asr_speech")
    items = list(engine.stream(req))
    events, result = items[:-1], items[-1]
    assert isinstance(result, GenerationResult) and len(events) == result.new_groups
    new = golden["generated_ids"][:, golden["prompt_ids"].shape[1]:].reshape(9, -1, 4)   # (K, n, P)
    for i, event in enumerate(events):
        assert event.index == i
        assert event.text_id == int(new[0, i, 0])
        assert torch.equal(event.codes, new[1:, i, :].T)                               # (P, C)


def test_generate_cli_dumps_the_golden_matrix(fixtures_dir, manifest, tmp_path, capsys):
    import argparse

    from mimo_core.cli import generate

    _, golden, _ = golden_request(fixtures_dir, manifest, "audio_understanding")
    prompt = tmp_path / "prompt.npy"
    np.save(prompt, golden["prompt_ids"].numpy())
    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers())
    out = tmp_path / "out.npy"
    args = parser.parse_args(["generate", "--prompt-ids", str(prompt), "--model-path",
                              str(fixtures_dir / "checkpoints" / "lm"), "--greedy", "--device", "cpu",
                              "--stop-ids", "endoftext,im_end", "--max-new-groups", "24", "--dump-tokens", str(out)])
    assert args.func(args) == 0
    dumped = np.load(out)
    assert dumped.dtype == np.int64 and np.array_equal(dumped, golden["generated_ids"].numpy())
    assert "stop: stop_token 151643" in capsys.readouterr().out
    bad = parser.parse_args(["generate", "--prompt-ids", str(tmp_path / "missing.npy"), "--model-path", "x"])
    assert bad.func(bad) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read prompt ids") and err.count("\n") == 1


@pytest.mark.parametrize("case", ["text_dialogue", "asr_speech"])
def test_bf16_runs_are_structurally_sound(fixtures_dir, manifest, case):
    model = load_mimo_lm(fixtures_dir / "checkpoints" / "lm", dtype=torch.bfloat16)
    req, golden, info = golden_request(fixtures_dir, manifest, case, "bf16")
    result = Engine(model, manifest["special_ids"]["<|empty|>"], max_batch=1).generate(req)
    T = golden["prompt_ids"].shape[1]
    assert torch.equal(result.generated_ids[:, :T], golden["prompt_ids"])
    assert 1 <= result.new_groups <= req.max_new_groups
    new = result.new_ids.reshape(9, -1, 4)
    assert (new[0] == new[0, :, :1]).all()                       # text id repeated in the group
    if result.stop_reason is StopReason.STOP_TOKEN:
        assert result.stop_token in req.stop_ids
    empty = manifest["special_ids"]["<|empty|>"]
    limits = torch.tensor([1024, 1024, 128, 128, 128, 128, 128, 128])[:, None]
    for g in range(new.shape[1]):
        codes = new[1:, g]                                        # (C, P)
        if new[0, g, 0] == empty:
            assert (codes < limits).all() and (codes >= 0).all()  # empty ids never sampled
        else:
            assert (codes == limits).all()


def test_bf16_fast_path_agrees_with_fp32_goldens_at_least_as_well_as_the_reference(fixtures_dir, manifest):
    """The fast path's bf16 rule (docs/FAST_PATH.md): from the fp32 golden prompts, greedy bf16
    runs agree with the fp32 goldens at least as well as the reference's bf16 run agreed with
    its fp32 run (cases fully identical, text ids equal, stops equal)."""
    model = load_mimo_lm(fixtures_dir / "checkpoints" / "lm", dtype=torch.bfloat16)
    empty = manifest["special_ids"]["<|empty|>"]
    cases = [golden_request(fixtures_dir, manifest, case) for case in _cases()]
    results = Engine(model, empty, max_batch=8).generate_batch([req for req, _, _ in cases])
    rows = [agreement(result, golden["generated_ids"], golden["prompt_ids"].shape[1], empty)
            for result, (_, golden, _) in zip(results, cases)]
    summary = summarize(rows)
    assert summary.cases == REFERENCE_BF16_VS_FP32.cases
    assert summary.at_least(REFERENCE_BF16_VS_FP32), summary
