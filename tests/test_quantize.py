"""--quantize: which layers, what it saves, that the model still runs; clear errors without
torchao, for int4 on the CPU, and for unknown modes."""

from __future__ import annotations

import sys

import pytest
import torch

from mimo_core.errors import DeviceError
from mimo_core.lm import load_mimo_lm
from mimo_core.lm.quantize import check_mode, held_bytes, quantize_lm, quantized_linears
from mimo_core.runtime.placement import lm_weight_bytes


def test_the_backbone_and_heads_are_the_targets(tiny):
    model = load_mimo_lm(tiny / "lm")
    targets = list(quantized_linears(model))
    names = {name for name, m in model.named_modules() if any(m is t for t in targets)}
    assert "lm_head" in names and any(n.startswith("model.layers.") for n in names)
    assert any(n.startswith("local_transformer_lm_heads.") for n in names)
    assert not any(n.startswith(("local_transformer.", "input_local_transformer.")) for n in names)


def test_int8_saves_what_the_plan_says_and_still_generates(tiny):
    pytest.importorskip("torchao", reason="--quantize needs torchao (requirements-quantize.txt)")
    from mimo_core.tasks import MimoAudio
    from mimo_core.tasks.types import ChatRequest, GenerationOptions

    plain = load_mimo_lm(tiny / "lm", dtype=torch.bfloat16)
    quantized = load_mimo_lm(tiny / "lm", dtype=torch.bfloat16, quantize="int8")
    assert held_bytes(quantized) < held_bytes(plain)
    assert held_bytes(plain) == lm_weight_bytes(plain.config, torch.bfloat16)
    # the planner's int8 size is the measured one (scales per row included)
    assert abs(held_bytes(quantized) - lm_weight_bytes(plain.config, torch.bfloat16, "int8")) \
        <= 0.02 * held_bytes(quantized)
    # a quantized Linear computes close to the bf16 one
    x = torch.randn(3, plain.config.hidden_size, dtype=torch.bfloat16)
    ref, out = plain.lm_head(x).float(), quantized.lm_head(x).float()
    assert torch.nn.functional.cosine_similarity(ref.flatten(), out.flatten(), dim=0) > 0.99
    mimo = MimoAudio.from_specs("tiny", device="cpu", dtype="bfloat16", quantize="int8")
    try:
        result = mimo.run(ChatRequest(text="hi", options=GenerationOptions(greedy=True, max_new_groups=3)))
        assert result.new_groups == 3 and mimo.status()["quantize"] == "int8"
    finally:
        mimo.close()


def test_without_torchao_the_error_says_what_to_install(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    model = load_mimo_lm(tiny / "lm")
    with pytest.raises(DeviceError, match="pip install torchao"):
        quantize_lm(model, "int8")


def test_int4_needs_cuda_and_modes_are_checked(tiny):
    pytest.importorskip("torchao", reason="--quantize needs torchao (requirements-quantize.txt)")
    model = load_mimo_lm(tiny / "lm", dtype=torch.bfloat16)
    with pytest.raises(DeviceError, match="int4 needs a CUDA device"):
        quantize_lm(model, "int4")
    with pytest.raises(DeviceError, match="int8 or int4"):
        check_mode("int3")
    assert check_mode(None) is None and quantize_lm(model, None) is model
