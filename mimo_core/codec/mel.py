"""Log-mel front end (docs/FORMAT.md section 2), computed in float32 whatever the model dtype.

|STFT| (periodic Hann, centred, reflect padding) -> HTK mel filterbank without
normalisation -> log(clamp(., 1e-7)). Frame count = floor(N / hop) + 1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from .config import TokenizerConfig

LOG_FLOOR = 1e-7              # log(clamp(mel, min=LOG_FLOOR))
HTK_MEL_SCALE = 2595.0        # mel = HTK_MEL_SCALE * log10(1 + f / HTK_BREAK_HZ)
HTK_BREAK_HZ = 700.0


def hz_to_mel(freq_hz: float) -> float:
    return HTK_MEL_SCALE * math.log10(1.0 + freq_hz / HTK_BREAK_HZ)


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    return HTK_BREAK_HZ * (10.0 ** (mels / HTK_MEL_SCALE) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular HTK filters, no area normalisation: [n_fft // 2 + 1, n_mels] float32."""
    n_freqs = n_fft // 2 + 1
    bin_hz = torch.linspace(0, sample_rate // 2, n_freqs)                               # [F]
    edges_mel = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    edges_hz = mel_to_hz(edges_mel)                                                     # [M + 2]
    widths = edges_hz[1:] - edges_hz[:-1]                                               # [M + 1]
    offsets = edges_hz.unsqueeze(0) - bin_hz.unsqueeze(1)                               # [F, M + 2]
    rising = (-1.0 * offsets[:, :-2]) / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    return torch.max(torch.zeros(1), torch.min(rising, falling))


@lru_cache(maxsize=8)
def _hann_window(size: int, device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False):          # a plain tensor, usable in and out of inference mode
        return torch.hann_window(size, periodic=True, device=device)


@lru_cache(maxsize=8)
def _filterbank_on(device: torch.device, *args) -> torch.Tensor:
    with torch.inference_mode(False):
        return mel_filterbank(*args).to(device)


def min_samples(cfg: TokenizerConfig) -> int:
    """The shortest waveform the front end takes: the centred STFT reflect-pads ``nfft // 2``
    samples on each side, which needs more input samples than that (481 at 24 kHz, 20.04 ms)."""
    return cfg.nfft // 2 + 1


def log_mel(wav: torch.Tensor, cfg: TokenizerConfig) -> torch.Tensor:
    """1-D float waveform [N] at cfg.sampling_rate -> log-mel [T_mel, n_mels] float32 (same device)."""
    wav = wav.to(torch.float32).reshape(1, -1)                                          # [1, N]
    f_max = float(cfg.sampling_rate // 2) if cfg.fmax is None else float(cfg.fmax)
    window = _hann_window(cfg.window_size, wav.device)
    spec = torch.stft(wav, n_fft=cfg.nfft, hop_length=cfg.hop_length, win_length=cfg.window_size,
                      window=window, center=True, pad_mode="reflect", normalized=False,
                      onesided=True, return_complex=True).abs()                         # [1, F, T]
    bank = _filterbank_on(wav.device, cfg.sampling_rate, cfg.nfft, cfg.n_mels, float(cfg.fmin), f_max)
    mel = torch.matmul(spec.transpose(-1, -2), bank).transpose(-1, -2)                  # [1, M, T]
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))[0].transpose(0, 1)                # [T, M]
