"""Audio decoder: RVQ embeddings (25 Hz) -> mel (100 Hz) -> waveform (docs/FORMAT.md section 2).

dconv1 = ConvTranspose1d(k = s = avg_pooler) + GroupNorm(1, D), right-trimmed by
max(0, k - s); causal rotary transformer (positions restart per sequence); LayerNorm;
dconv2 = ConvTranspose1d(D -> n_mels, k 3, s 2) + GroupNorm(1, n_mels), right-trimmed
by 1; vocoder. GroupNorm statistics span a whole sequence (including the frame that is
trimmed afterwards), so they are taken per sequence: a batch decodes exactly as its
members decode alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TokenizerConfig
from .encoder import pad_batch
from .layers import build_stack
from .rotary import inverse_frequencies, packed_positions, rotary_tables
from .vocoder import Vocoder


class CausalConvTranspose1d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride)
        self.norm = nn.GroupNorm(1, out_channels)

    def out_length(self, length: int) -> int:
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        return (length - 1) * s + k - max(0, k - s)

    def forward(self, x: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, list[int]]:
        """Packed [N, C_in] -> packed [N', C_out] with per-sequence lengths."""
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        y = self.conv(pad_batch(list(torch.split(x, lengths))))                           # [B, C, L']
        normed = []
        for i, n in enumerate(lengths):
            full = (n - 1) * s + k
            normed.append(F.group_norm(y[i:i + 1, :, :full], 1, self.norm.weight, self.norm.bias,
                                       self.norm.eps)[0, :, : self.out_length(n)])          # [C, L_i']
        out_lengths = [self.out_length(n) for n in lengths]
        return torch.cat(normed, dim=1).transpose(0, 1), out_lengths


class AudioDecoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.dconv1 = CausalConvTranspose1d(d, d, cfg.avg_pooler, cfg.avg_pooler)
        self.layers = build_stack(cfg.decoder_layers, d, cfg.decoder_attention_heads, cfg.decoder_ffn_dim,
                                  cfg.activation_function, cfg.decoder_causal, cfg.decoder_attn_window_size)
        self.layer_norm = nn.LayerNorm(d)
        self.dconv2 = CausalConvTranspose1d(d, cfg.n_mels, cfg.decoder_kernel_size, cfg.decoder_stride_size)
        self.vocoder = Vocoder(cfg)

    @property
    def dtype(self) -> torch.dtype:
        return self.layer_norm.weight.dtype

    def mel(self, embeds: torch.Tensor, lengths: list[int], backend: str = "auto"
            ) -> tuple[torch.Tensor, list[int]]:
        """Packed RVQ embeddings [N, D] -> packed coarse mel [N * 4, n_mels] and lengths."""
        h, lengths = self.dconv1(embeds.to(self.dtype), lengths)                          # [2N, D]
        inv_freq = inverse_frequencies(self.cfg.d_model // self.cfg.decoder_attention_heads,
                                       self.cfg.rope_theta, dtype=self.dtype, device=h.device)
        cos, sin = rotary_tables(packed_positions(torch.tensor(lengths, device=h.device)), inv_freq, h.dtype)
        for layer in self.layers:
            h = layer(h, lengths, cos, sin, backend)
        return self.dconv2(self.layer_norm(h), lengths)

    def forward(self, embeds: torch.Tensor, lengths: list[int], backend: str = "auto") -> list[torch.Tensor]:
        """Packed RVQ embeddings [N, D] with code lengths -> waveforms [L_i * samples_per_frame]."""
        mel, mel_lengths = self.mel(embeds, lengths, backend)
        return self.vocoder(mel, mel_lengths, backend)


__all__ = ["AudioDecoder", "CausalConvTranspose1d"]
