"""Uploads at other sample rates against the reference (fixtures/goldens/resample, README tolerances).

Each input (44.1 kHz stereo, 48/16/8 kHz PCM, 22.05 kHz float) goes through ``load_audio`` as
any upload does (float32 read, channel mean, reference resampling to 24 kHz): ``wav24k`` must
match within 1e-6, and the fp32 fixture tokenizer's codes of OUR waveform must match ``codes20``
by the README's portable rule (tests/parity_rules.py): full-band inputs equal, or flipped only
where the reference's margin at the first differing stage was below 1e-3; the 8 kHz input, whose
mel is a tenth FFT-rounding noise, differing in at most 20 % of its frames. Measured on a 2-core
AMD EPYC: the four full-band inputs equal; speech_8k 37 of 1,400 codes in 8 of 70 frames, as the
reference itself gives on that CPU. A wrong resampler changes every frame (tests/test_parity_rules.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import FIXTURES, fixtures_available, requires_fixtures
from tests.parity_rules import WAV24K_ATOL, check_full_band_codes, check_narrow_band_codes
from mimo_core.audio_io import load_audio

pytestmark = requires_fixtures

NARROW_BAND_RATE = 8000          # at or below: no energy above 4 kHz (README, "Inputs at other sample rates")
GOLDENS = FIXTURES / "goldens" / "resample"


def cases() -> list[str]:
    if not fixtures_available():
        return []
    return sorted(json.loads((GOLDENS / "index.json").read_text()))


@pytest.fixture(scope="module")
def index() -> dict:
    return json.loads((GOLDENS / "index.json").read_text())


@pytest.fixture(scope="module")
def tokenizer(fixtures_dir):
    from mimo_core.codec import load_audio_tokenizer

    torch.set_num_threads(2)
    return load_audio_tokenizer(fixtures_dir / "checkpoints" / "audio_tokenizer", dtype=torch.float32)


@pytest.fixture(scope="module")
def ours(fixtures_dir, index) -> dict[str, np.ndarray]:
    return {name: load_audio(fixtures_dir / info["input"]) for name, info in index.items()}


def test_all_five_rates_are_covered(index):
    assert sorted((i["sample_rate"], i["channels"]) for i in index.values()) == [
        (8000, 1), (16000, 1), (22050, 1), (44100, 2), (48000, 1)]


@pytest.mark.parametrize("name", cases())
def test_wav24k_matches_the_reference(name, index, ours):
    golden = load_file(GOLDENS / f"{name}.safetensors")["wav24k"].numpy()
    assert ours[name].shape == golden.shape == (index[name]["wav24k_samples"],)
    np.testing.assert_allclose(ours[name], golden, atol=WAV24K_ATOL, rtol=0)


@pytest.mark.parametrize("name", cases())
def test_codes_of_our_waveform_match_the_reference(name, index, ours, tokenizer):
    golden = load_file(GOLDENS / f"{name}.safetensors")
    codes = tokenizer.encode(ours[name])
    if index[name]["sample_rate"] <= NARROW_BAND_RATE:
        check_narrow_band_codes(codes, golden["codes20"])
    else:
        check_full_band_codes(codes, golden["codes20"], golden["rvq_margin"])
