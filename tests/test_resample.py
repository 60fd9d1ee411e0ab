"""Resampling as the reference (torchaudio's default windowed sinc), checked without fixtures.

The golden comparison is tests/test_resample_golden.py; here the algorithm is checked against a
direct float64 evaluation of its formula, and its lengths, blocking and batching are pinned.
"""

import math

import numpy as np
import pytest
import torch

from mimo_core.audio_io import load_audio
from mimo_core.resample import output_length, reduced_rates, resample, sinc_kernel

RATES = [44100, 48000, 16000, 8000, 22050, 11025, 96000]


def direct_formula(x: np.ndarray, orig_sr: int, new_sr: int, width_zeros=6, rolloff=0.99) -> np.ndarray:
    """y[k] = sum_i x[i] sinc(pi t) cos(pi t / 2w)^2 base / orig, t = clamp((i / orig - k / new) base, -w, w),
    over the reference's window of inputs for output k (float64, one output at a time)."""
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    base = min(orig, new) * rolloff
    width = math.ceil(width_zeros * orig / base)
    n_out = math.ceil(new * len(x) / orig)
    y = np.zeros(n_out)
    for k in range(n_out):
        first = (k // new) * orig - width                       # the window of output k's phase
        i = np.arange(max(first, 0), min(first + 2 * width + orig, len(x)))
        t = np.clip((i / orig - k / new) * base, -width_zeros, width_zeros)
        h = np.sinc(t) * np.cos(np.pi * t / width_zeros / 2) ** 2 * base / orig
        y[k] = np.dot(x[i], h)
    return y


@pytest.mark.parametrize("orig_sr", RATES)
def test_matches_the_direct_formula(orig_sr):
    rng = np.random.default_rng(orig_sr)
    x = rng.standard_normal(1000) * 0.3
    expected = direct_formula(x, orig_sr, 24000)
    ours64 = resample(torch.from_numpy(x), orig_sr, 24000).numpy()          # kernel in float64
    np.testing.assert_allclose(ours64, expected, atol=1e-9)
    # in float32 the kernel's time grid itself is rounded (as the reference's): ~1e-5 at worst
    ours32 = resample(torch.from_numpy(x.astype(np.float32)), orig_sr, 24000).numpy()
    np.testing.assert_allclose(ours32, expected, atol=5e-5)


@pytest.mark.parametrize("orig_sr", RATES)
def test_output_length_is_ceil(orig_sr):
    for n in (1, 2, 146, 147, 148, 1000, 44101):
        expected = math.ceil(24000 * n / orig_sr)
        assert output_length(n, orig_sr, 24000) == expected
        assert resample(torch.zeros(n), orig_sr, 24000).shape == (expected,)


def test_reduced_rates_and_kernel_shape():
    assert reduced_rates(44100, 24000) == (147, 80)
    assert reduced_rates(48000, 24000) == (2, 1)
    kernel, width = sinc_kernel(44100, 24000)
    assert width == 12 and kernel.shape == (80, 2 * 12 + 147) and kernel.dtype == torch.float32
    kernel, width = sinc_kernel(8000, 24000, dtype=torch.float64)
    assert width == 7 and kernel.shape == (3, 15) and kernel.dtype == torch.float64
    with pytest.raises(ValueError):
        reduced_rates(44100.5, 24000)


@pytest.mark.parametrize("orig_sr", [48000, 44100, 8000])
def test_blocks_and_batches_do_not_change_the_result(orig_sr):
    x = torch.randn(2, 5000, generator=torch.Generator().manual_seed(0))
    whole = resample(x, orig_sr, 24000)
    # a different block height may change the matrix product's summation order: float rounding only
    torch.testing.assert_close(resample(x, orig_sr, 24000, block_windows=7), whole, atol=1e-6, rtol=0)
    for row in range(2):
        torch.testing.assert_close(resample(x[row], orig_sr, 24000), whole[row], atol=1e-7, rtol=0)


def test_same_rate_is_identity_and_integers_are_refused():
    x = torch.randn(100)
    assert resample(x, 24000, 24000) is x
    with pytest.raises(TypeError, match="floating-point"):
        resample(torch.zeros(10, dtype=torch.int16), 48000, 24000)


def test_load_audio_uses_the_reference_resampler_unless_soxr_is_asked_for():
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(4410) / 44100)).astype(np.float32)
    default = load_audio((x, 44100))
    np.testing.assert_array_equal(default, resample(torch.from_numpy(x), 44100, 24000).numpy())
    soxr = load_audio((x, 44100), resampler="soxr")
    assert not np.array_equal(soxr[:2400], default[:2400])                       # a different filter
    np.testing.assert_allclose(soxr[100:2300], default[100:2300], atol=2e-3)     # of the same signal
    with pytest.raises(ValueError, match="resampler"):
        load_audio((x, 44100), resampler="sox")
