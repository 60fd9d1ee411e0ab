"""Audio tokenizer vs the public reference's goldens (../shared/fixtures, tiny random weights).

Tolerances are those of fixtures/README.md, written once in tests/parity_rules.py (each rule is
tested there against the measured cross-CPU difference and a wrong implementation). Measured on
a 2-core AMD EPYC (the goldens were made on another CPU; fp32, default "sdpa" attention): mel 0.0
(bit-equal here), encoder_out <= 5.2e-6 with either backend (the reference itself, run on this
CPU, is 4.3e-6 from speech_hello's golden), codes from the golden mel 0 differences, codes from
the wav 1 difference (sine_a stage 5 frame 6, a listed near tie of margin 5.7e-6), wav from
golden codes <= 1.0e-7.
"""

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from tests.conftest import requires_fixtures
from tests.parity_rules import (ENCODER_OUT_ATOL, MATH_ENCODER_OUT_ATOL, check_close, check_mel,
                                explained_by_near_ties)

pytestmark = requires_fixtures
INPUTS = ["sine_a", "sine_b", "sine_c", "sine_d", "sine_e", "speech_hello", "speech_weather"]


@pytest.fixture(scope="module")
def tokenizers(fixtures_dir):
    from mimo_core.codec import load_audio_tokenizer

    torch.set_num_threads(2)
    path = fixtures_dir / "checkpoints" / "audio_tokenizer"
    return {"fp32": load_audio_tokenizer(path), "bf16": load_audio_tokenizer(path, dtype=torch.bfloat16)}


def golden(fixtures_dir, manifest, name):
    return load_file(fixtures_dir / manifest["tokenizer_goldens"][name]["file"])


def read_input(fixtures_dir, name):
    wav, sr = sf.read(fixtures_dir / "inputs" / f"{name}.wav", dtype="float32")
    assert sr == 24000
    return wav


def pad_to_group(codes8: torch.Tensor, group: int = 4) -> torch.Tensor:
    short = (-codes8.shape[1]) % group
    return torch.cat([codes8, codes8[:, -1:].expand(-1, short)], dim=1) if short else codes8


def test_checkpoint_loads_strictly_and_buffers_come_from_it(tokenizers, fixtures_dir):
    tok = tokenizers["fp32"]
    stored = load_file(fixtures_dir / "checkpoints" / "audio_tokenizer" / "model.safetensors")
    state = tok.model.state_dict()
    assert set(state) == set(stored)
    window = state["decoder.vocoder.head.istft.window"]
    assert torch.equal(window, stored["decoder.vocoder.head.istft.window"].float())
    assert not torch.equal(window, torch.hann_window(window.shape[0]))      # the stored bf16 values
    assert torch.equal(state["encoder.quantizer.vq.layers.7._codebook.embed"],
                       stored["encoder.quantizer.vq.layers.7._codebook.embed"].float())


@pytest.mark.parametrize("name", INPUTS)
def test_mel_matches_golden(tokenizers, fixtures_dir, manifest, name):
    ref = golden(fixtures_dir, manifest, name)["mel"]
    check_mel(tokenizers["fp32"].mel(read_input(fixtures_dir, name)), ref)     # FFT rounding may differ by CPU


@pytest.mark.parametrize("name", INPUTS)
def test_fp32_encoder_and_codes_from_golden_mel(tokenizers, fixtures_dir, manifest, name):
    ref = golden(fixtures_dir, manifest, name)
    tok = tokenizers["fp32"]
    feats, frames = tok.encoder_features([ref["mel"]])
    check_close(feats[0], ref["fp32.encoder_out"], ENCODER_OUT_ATOL, "encoder_out")
    codes = tok.model.encoder.quantizer.encode(feats[0].float())
    assert frames == [ref["fp32.codes20"].shape[1]]
    diffs = (codes != ref["fp32.codes20"]).nonzero().tolist()
    assert explained_by_near_ties(diffs, manifest["tokenizer_goldens"][name]["rvq_near_ties_fp32"]) == []


@pytest.mark.parametrize("name", INPUTS)
def test_fp32_codes_from_wav(tokenizers, fixtures_dir, manifest, name):
    ref = golden(fixtures_dir, manifest, name)
    codes = tokenizers["fp32"].encode(read_input(fixtures_dir, name))
    assert codes.dtype == torch.int64 and codes.shape == ref["fp32.codes20"].shape
    diffs = (codes != ref["fp32.codes20"]).nonzero().tolist()
    assert explained_by_near_ties(diffs, manifest["tokenizer_goldens"][name]["rvq_near_ties_fp32"]) == []
    if not diffs:
        assert torch.equal(pad_to_group(codes[:8]), ref["fp32.codes8"])


@pytest.mark.parametrize("name", INPUTS)
def test_fp32_decode_of_golden_codes(tokenizers, fixtures_dir, manifest, name):
    ref = golden(fixtures_dir, manifest, name)
    wav = tokenizers["fp32"].decode(ref["fp32.codes8"])
    assert wav.dtype == torch.float32 and wav.shape == ref["fp32.wav"].shape
    torch.testing.assert_close(wav, ref["fp32.wav"], atol=1e-5, rtol=0)


def _torch_math_kernel(q, k, v, mask):
    """torch's own "math" SDPA kernel: the arithmetic of the reference's CPU attention stand-in."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def test_math_backend_rounds_like_the_reference(fixtures_dir, manifest, monkeypatch):
    """The "math" backend repeats the reference's attention arithmetic. Bit-identity to the golden
    holds only on a CPU that rounds like the one that made it (on an AMD EPYC the reference itself
    is 4.3e-6 away), so the portable check is bit-identity to torch's own math kernel run here, on
    this CPU, plus closeness to the golden within a few times its own fp32 rounding."""
    import mimo_core.codec.attention as attention
    from mimo_core.codec import load_audio_tokenizer

    tok = load_audio_tokenizer(fixtures_dir / "checkpoints" / "audio_tokenizer", attn_backend="math")
    ref = golden(fixtures_dir, manifest, "speech_hello")
    ours = tok.encoder_features([ref["mel"]])[0][0]
    monkeypatch.setattr(attention, "attend_math", _torch_math_kernel)
    kernel = tok.encoder_features([ref["mel"]])[0][0]
    assert torch.equal(ours, kernel)                                        # same bits, this CPU
    check_close(ours, ref["fp32.encoder_out"], MATH_ENCODER_OUT_ATOL, "math-backend encoder_out")


def test_the_bit_identity_check_sees_a_change_of_rounding(fixtures_dir, manifest, monkeypatch):
    """The check above can fail: the same maths carried out in float64 (then rounded back to
    float32) changes the bits, though only at the level of rounding."""
    import mimo_core.codec.attention as attention
    from mimo_core.codec import load_audio_tokenizer

    def in_float64(q, k, v, mask):
        return _torch_math_kernel(q.double(), k.double(), v.double(), mask).float()

    tok = load_audio_tokenizer(fixtures_dir / "checkpoints" / "audio_tokenizer", attn_backend="math")
    ref = golden(fixtures_dir, manifest, "speech_hello")
    monkeypatch.setattr(attention, "attend_math", _torch_math_kernel)
    kernel = tok.encoder_features([ref["mel"]])[0][0]
    monkeypatch.setattr(attention, "attend_math", in_float64)
    wider = tok.encoder_features([ref["mel"]])[0][0]
    assert not torch.equal(wider, kernel)
    check_close(wider, ref["fp32.encoder_out"], MATH_ENCODER_OUT_ATOL, "float64-attention encoder_out")


def test_bf16_codes_close_to_bf16_goldens(tokenizers, fixtures_dir, manifest):
    """bf16 is not bit-exact (rounding order); measured agreement from the wav: 88-99 %, mean ~96 %."""
    rates = []
    for name in INPUTS:
        ref = golden(fixtures_dir, manifest, name)
        codes = tokenizers["bf16"].encode(read_input(fixtures_dir, name))
        rates.append((pad_to_group(codes[:8]) == ref["bf16.codes8"]).float().mean().item())
    assert min(rates) > 0.8 and float(np.mean(rates)) > 0.9, rates


def test_bf16_decode_close_to_bf16_golden(tokenizers, fixtures_dir, manifest):
    ref = golden(fixtures_dir, manifest, "speech_hello")
    wav = tokenizers["bf16"].decode(ref["bf16.codes8"])
    assert wav.dtype == torch.float32
    # measured: a few samples differ by one bf16 step (<= 1e-3); fp32-vs-bf16 differs by 0.066
    assert (wav - ref["bf16.wav"]).abs().max() < 4e-3
