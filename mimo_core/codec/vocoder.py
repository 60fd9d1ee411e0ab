"""Vocoder: 100 Hz mel -> 24 kHz waveform (docs/FORMAT.md section 2).

Linear(n_mels -> dim, no bias), non-causal transformer layers with sliding-window
attention (flash-attn window (left, right) frames), LayerNorm, then the ISTFT head:
Linear(dim -> nfft + 2) split into log-magnitude and phase, magnitude = exp(.) clipped
at 100, inverse STFT with "same" padding ((win - hop) / 2 samples trimmed each side),
overlap-add normalised by the summed squared window. The window is a checkpoint buffer.
Rotary positions run over the whole packed batch, as in the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TokenizerConfig
from .layers import build_stack
from .rotary import inverse_frequencies, rotary_tables

MAX_MAGNITUDE = 100.0         # exp(log-magnitude) is clipped here (reference safeguard)
ENVELOPE_CACHE = 8            # window envelopes kept per ISTFT (one per frame count)


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """frames [B, W, T] -> summed signal [B, (T - 1) * hop + W]."""
    batch, width, count = frames.shape
    out = F.fold(frames, output_size=(1, (count - 1) * hop + width), kernel_size=(1, width), stride=(1, hop))
    return out.reshape(batch, -1)


def window_envelope(window: torch.Tensor, count: int, hop: int) -> torch.Tensor:
    """Summed squared window of ``count`` frames, trimmed as istft_same trims: [count * hop]."""
    trim = (window.shape[0] - hop) // 2
    squared = window.square().expand(1, count, -1).transpose(1, 2)                           # [1, W, T]
    return overlap_add(squared, hop)[0, trim:-trim]


def istft_same(spec: torch.Tensor, window: torch.Tensor, hop: int,
               envelope: torch.Tensor | None = None) -> torch.Tensor:
    """Complex spectrum [B, nfft/2 + 1, T] -> waveform [B, T * hop] ('same' padding)."""
    n_fft = window.shape[0]
    trim = (n_fft - hop) // 2
    frames = torch.fft.irfft(spec, n_fft, dim=1, norm="backward") * window[None, :, None]    # [B, W, T]
    signal = overlap_add(frames, hop)[:, trim:-trim]
    if envelope is None:
        envelope = window_envelope(window, spec.shape[-1], hop)
    return signal / envelope


class ISTFT(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.hop = hop
        self.register_buffer("window", torch.hann_window(n_fft))
        self._envelopes: dict[int, torch.Tensor] = {}      # frame count -> envelope of _envelope_of
        self._envelope_of: tuple | None = None              # (window tensor, data_ptr, version)

    def envelope(self, count: int) -> torch.Tensor:
        """window_envelope for ``count`` frames, cached while the window buffer is unchanged
        (same tensor, same storage, no in-place write): long audio decodes many equal chunks."""
        window = self.window
        try:
            state = (window, window.data_ptr(), window._version)
        except RuntimeError:            # an inference tensor has no version counter: no caching
            return window_envelope(window, count, self.hop)
        held = self._envelope_of
        if held is None or held[0] is not window or held[1:] != state[1:]:
            self._envelopes.clear()
            self._envelope_of = state
        envelope = self._envelopes.get(count)
        if envelope is None:
            if len(self._envelopes) >= ENVELOPE_CACHE:
                self._envelopes.pop(next(iter(self._envelopes)))
            with torch.inference_mode(False), torch.no_grad():
                envelope = self._envelopes[count] = window_envelope(window, count, self.hop)
        return envelope

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return istft_same(spec, self.window, self.hop, self.envelope(spec.shape[-1]))


class ISTFTHead(nn.Module):
    def __init__(self, dim: int, n_fft: int, hop: int):
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, D] -> waveform [B, T * hop] in x's dtype (the spectrum itself is fp32)."""
        y = self.out(x).transpose(1, 2)                                                   # [B, nfft+2, T]
        log_mag, phase = y.chunk(2, dim=1)
        mag = torch.clip(torch.exp(log_mag), max=MAX_MAGNITUDE)
        real, imag = torch.cos(phase), torch.sin(phase)
        spec = mag.float() * (real.float() + 1j * imag.float())
        return self.istft(spec).to(real.dtype)


class Vocoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = nn.Linear(cfg.n_mels, cfg.vocoder_dim, bias=False)
        self.layers = build_stack(cfg.vocoder_num_layers, cfg.vocoder_dim, cfg.vocoder_attention_heads,
                                  cfg.vocoder_intermediate_dim, cfg.activation_function, False,
                                  cfg.vocoder_attn_window_size)
        self.layer_norm = nn.LayerNorm(cfg.vocoder_dim)
        self.head = ISTFTHead(cfg.vocoder_dim, cfg.nfft, cfg.hop_length)

    @property
    def right_reach(self) -> int:
        """Mel frames to the right that can influence a frame's output (stacked windows)."""
        return max(0, self.cfg.vocoder_attn_window_size[1]) * self.cfg.vocoder_num_layers

    def forward(self, mel: torch.Tensor, lengths: list[int], backend: str = "auto") -> list[torch.Tensor]:
        """Packed mel [N, n_mels] -> one waveform [L_i * hop] per sequence (model dtype)."""
        x = self.embeddings(mel)                                                          # [N, D]
        inv_freq = inverse_frequencies(self.cfg.vocoder_dim // self.cfg.vocoder_attention_heads,
                                       self.cfg.rope_theta, dtype=x.dtype, device=x.device)
        cos, sin = rotary_tables(torch.arange(x.shape[0], device=x.device), inv_freq, x.dtype)
        for layer in self.layers:
            x = layer(x, lengths, cos, sin, backend)
        x = self.layer_norm(x)
        return [self.head(seq.unsqueeze(0))[0] for seq in torch.split(x, lengths)]
