"""The memory plan: sizes from the meta-device models, a simulated budget, devices per role,
and Base / Instruct taking turns when they do not both fit (no request lost)."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
import torch

from mimo_core.codec.config import real_config
from mimo_core.errors import DeviceError
from mimo_core.lm.config import MimoLMConfig
from mimo_core.resolve import Role
from mimo_core.runtime.placement import (GB, Need, codec_weight_bytes, kv_cache_bytes,
                                         lm_weight_bytes, plan_memory)
from mimo_core.tasks import MimoAudio
from mimo_core.tasks.types import ChatRequest, ContinueRequest, GenerationOptions

import numpy as np

I, B, T = Role.INSTRUCT, Role.BASE, Role.TOKENIZER


# ------------------------------------------------------------------- sizes (meta device)
def test_release_sizes_from_the_meta_device_models():
    config = MimoLMConfig()                                  # the release's 7B config
    bf16 = lm_weight_bytes(config, torch.bfloat16)
    params = bf16 // 2
    assert 7.5e9 < params < 8.5e9                           # "7B": 8.0 B parameters with the heads
    assert lm_weight_bytes(config, torch.float32) == 2 * bf16
    int8, int4 = (lm_weight_bytes(config, torch.bfloat16, q) for q in ("int8", "int4"))
    assert bf16 > int8 > int4 > bf16 / 4
    # one row of KV cache over the 8192-group context: 36 layers x 8 heads x 128 x 2 (K, V)
    assert kv_cache_bytes(config, torch.bfloat16, 1, 8192) == 2 * 36 * 8 * 8192 * 128 * 2
    assert 2e9 < codec_weight_bytes(real_config(), torch.bfloat16) < 3e9


# ------------------------------------------------------------------- the pure planner
LM = Need(weights=int(16.0 * GB), cache=int(1.2 * GB))
CODEC = Need(weights=int(2.6 * GB))
NEEDS = {T: CODEC, I: LM, B: LM}


def on(device, **others):
    devices = {T: device, I: device, B: device}
    devices.update({Role(k): v for k, v in others.items()})
    return devices


def test_both_fit_on_48_gb():
    plan = plan_memory(NEEDS, on("cuda:0"), {"cuda:0": int(46 * GB)})
    assert plan.swap is False and "stay loaded" in plan.describe()["mode"]


def test_24_gb_card_swaps_base_and_instruct():
    plan = plan_memory(NEEDS, on("cuda:0"), {"cuda:0": int(22.5 * GB)})
    assert plan.swap is True and "turns" in plan.describe()["mode"]


def test_two_cards_or_the_cpu_avoid_the_swap():
    two = plan_memory(NEEDS, on("cuda:0", base="cuda:1"), {"cuda:0": int(22 * GB), "cuda:1": int(22 * GB)})
    assert two.swap is False
    cpu = plan_memory(NEEDS, on("cuda:0", base="cpu"), {"cuda:0": int(22 * GB), "cpu": int(60 * GB)})
    assert cpu.swap is False


def test_16_gb_card_names_what_helps():
    with pytest.raises(DeviceError) as info:
        plan_memory(NEEDS, on("cuda:0"), {"cuda:0": int(14.5 * GB)})
    msg = str(info.value)
    assert "instruct" in msg and "cuda:0" in msg and "--quantize int8" in msg
    assert "--tokenizer-device cpu" in msg and "\n" not in msg
    # with the tokenizer on the CPU and int8 weights, the same card takes turns
    int8 = Need(weights=int(9.0 * GB), cache=int(1.2 * GB))
    plan = plan_memory({T: CODEC, I: int8, B: int8}, on("cuda:0", tokenizer="cpu"),
                       {"cuda:0": int(14.5 * GB), "cpu": int(8 * GB)})
    assert plan.swap is True


def test_a_model_alone_on_its_own_device_that_cannot_fit():
    with pytest.raises(DeviceError, match="base model does not fit on cuda:1.*--base-device"):
        plan_memory(NEEDS, on("cuda:0", base="cuda:1"), {"cuda:0": int(40 * GB), "cuda:1": int(8 * GB)})


def test_unknown_budget_is_not_checked():
    assert plan_memory(NEEDS, on("mps"), {"mps": None}).swap is False


# ------------------------------------------------------------- the manager, simulated card
@pytest.fixture(scope="module")
def two_lms(tiny, tmp_path_factory):
    """The tiny LM twice, under two paths: Base and Instruct then are two models."""
    base = tmp_path_factory.mktemp("tiny-base") / "lm"
    shutil.copytree(tiny / "lm", base)
    return str(tiny / "lm"), str(base)


def open_with_budget(two_lms, tiny, slack: float, **kwargs) -> MimoAudio:
    instruct, base = two_lms
    probe = MimoAudio(instruct, base, "tiny", device="cpu", budgets={"cpu": None}, **kwargs)
    needs = probe.models._needs()
    both = sum(n.total for n in needs.values())
    one_lm = both - needs[I].total
    budget = int(one_lm + slack * needs[I].total)
    return MimoAudio(instruct, base, "tiny", device="cpu", budgets={"cpu": budget}, **kwargs)


GREEDY = GenerationOptions(greedy=True, max_new_groups=3)


def test_manager_takes_turns_and_shows_it(tiny, two_lms):
    mimo = open_with_budget(two_lms, tiny, slack=0.5)
    try:
        mimo.run(ChatRequest(text="hi", options=GREEDY))
        status = mimo.status()
        assert "turns" in status["memory_plan"]["mode"]
        assert status["models"]["instruct"]["loaded"] and not status["models"]["base"]["loaded"]
        mimo.run(ContinueRequest(audio=np.zeros(24000, np.float32), duration_s=0.3))
        status = mimo.status()
        assert status["models"]["base"]["loaded"] and not status["models"]["instruct"]["loaded"]
        first = mimo.run(ChatRequest(text="hi", options=GREEDY))
        again = mimo.run(ChatRequest(text="hi", options=GREEDY))      # swapped back: same output
        np.testing.assert_array_equal(first.tokens, again.tokens)
        assert mimo.status()["memory_plan"]["swaps"] == 2
    finally:
        mimo.close()


def test_a_prepared_request_survives_a_swap_before_it_starts(tiny, two_lms):
    mimo = open_with_budget(two_lms, tiny, slack=0.5)
    try:
        stream = mimo.stream(ChatRequest(text="hi", options=GREEDY))   # prepared on Instruct
        mimo.run(ContinueRequest(audio=np.zeros(24000, np.float32), duration_s=0.3))  # Base in
        events = list(stream)                     # submitted now: Instruct swaps back in
        assert events[-1].result.new_groups == 3
        assert mimo.status()["memory_plan"]["swaps"] == 2
    finally:
        mimo.close()


def test_with_room_for_both_nothing_swaps(tiny, two_lms):
    mimo = open_with_budget(two_lms, tiny, slack=1.5)
    try:
        mimo.run(ChatRequest(text="hi", options=GREEDY))
        mimo.run(ContinueRequest(audio=np.zeros(24000, np.float32), duration_s=0.3))
        status = mimo.status()
        assert status["models"]["base"]["loaded"] and status["models"]["instruct"]["loaded"]
        assert status["memory_plan"]["swaps"] == 0
    finally:
        mimo.close()


@pytest.mark.parametrize("synchronous", [False, True])
def test_a_request_for_the_other_model_waits_and_is_not_lost(tiny, two_lms, synchronous):
    mimo = open_with_budget(two_lms, tiny, slack=0.5, synchronous=synchronous)
    long = GenerationOptions(greedy=True, min_new_groups=30, max_new_groups=30)
    try:
        mimo.load("instruct")
        mimo.load("tokenizer")
        stream = mimo.stream(ChatRequest(text="hi", options=long))
        next(stream)                                     # Instruct is generating
        results = {}
        waiter = threading.Thread(target=lambda: results.setdefault("base", mimo.run(
            ContinueRequest(audio=np.zeros(24000, np.float32), duration_s=0.3))))
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive()                         # waits for Instruct to finish
        assert mimo.status()["models"]["base"]["waiting_for_turn"] == 1
        rest = list(stream)
        waiter.join(60)
        assert not waiter.is_alive()
        assert rest[-1].result.new_groups == 30          # the running request was not cut
        assert results["base"].new_groups > 0            # the waiting one ran after it
        assert mimo.status()["memory_plan"]["swaps"] == 1
    finally:
        mimo.close()


def test_a_model_that_cannot_fit_alone_fails_before_loading(tiny, two_lms):
    mimo = open_with_budget(two_lms, tiny, slack=-0.5)
    try:
        with pytest.raises(DeviceError, match="does not fit on cpu.*--quantize"):
            mimo.run(ChatRequest(text="hi", options=GREEDY))
        assert mimo.status()["models"]["instruct"]["loaded"] is False
    finally:
        mimo.close()


# ------------------------------------------------------------------- flags to devices
def test_device_flags_reach_the_manager(tiny):
    from run_mimo_audio import build_parser
    import app.backend as backend

    args = build_parser().parse_args(["app", "--tiny", "--device", "cpu", "--tokenizer-device", "cpu",
                                      "--base-device", "cpu", "--quantize", "int8"])
    mimo = backend.open_model(backend.choose_models(args), args)
    try:
        assert mimo.models.devices == {T: "cpu", I: "cpu", B: "cpu"}
        assert mimo.models.quantize == "int8" and mimo.status()["quantize"] == "int8"
    finally:
        mimo.close()


def test_a_cuda_role_without_cuda_is_one_clear_line(tiny, two_lms):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    mimo = MimoAudio(*two_lms, "tiny", device="cpu", devices={"base": "cuda:1"})
    with pytest.raises(DeviceError, match="CUDA is not available"):
        mimo.load("instruct")
    with pytest.raises(DeviceError, match="int4 needs the LMs on CUDA"):
        MimoAudio.from_specs("tiny", device="cpu", quantize="int4")


# ------------------------------------------------------------------- Space cache location
def test_hf_cache_goes_to_persistent_storage_only_when_not_preloaded(tmp_path, monkeypatch):
    from app.launch import PRELOADED_REPO, use_persistent_cache

    data, home = tmp_path / "data", tmp_path / "home"
    data.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HF_HOME", raising=False)
    assert use_persistent_cache(tmp_path / "missing") is None
    assert use_persistent_cache(data) == str(data / ".huggingface")
    monkeypatch.delenv("HF_HOME")
    (home / ".cache" / "huggingface" / "hub" / PRELOADED_REPO).mkdir(parents=True)
    assert use_persistent_cache(data) is None and "HF_HOME" not in os.environ
