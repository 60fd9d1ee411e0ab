"""Audio encoder: log-mel segments -> 25 Hz features entering the RVQ (docs/FORMAT.md section 2).

conv1 (k3, pad 1) + GELU, conv2 (k3, stride 2, pad 1) + GELU, rotary transformer
(positions restart per sequence) whose layer ``encoder_skip_layer_id - 1`` output is
added to the last layer's output, LayerNorm, then Conv1d(k = s = avg_pooler, no bias)
+ GELU and LayerNorm. Lengths: mel L -> ceil(L / 2) -> ceil(. / avg_pooler).

Segment edges, as the reference computes them in its padded batch: a segment that is
shorter than the longest segment of its clip (the last segment of audio over 60 s)
sees conv1's output one frame past its end, and its odd-length tail is paired with a
copy of its last frame before the down-sampler; a clip's longest segment sees zeros.
``tail_pad[i]`` selects the first behaviour, so a segment's codes never depend on
which other clips share its batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TokenizerConfig
from .layers import build_stack
from .quantizer import ResidualVectorQuantizer
from .rotary import inverse_frequencies, packed_positions, rotary_tables


def conv_out_length(mel_length: int, cfg: TokenizerConfig) -> int:
    """Frames after conv2: (L + 2 * pad - k) // stride + 1 with pad 1."""
    return (mel_length + 2 - cfg.kernel_size) // cfg.stride_size + 1


def pooled_length(length: int, pool: int) -> int:
    return -(-length // pool)


def pad_batch(seqs: list[torch.Tensor], extra: int = 0) -> torch.Tensor:
    """[L_i, D] sequences -> [B, D, L_max + extra] (a transposed view of a time-major buffer,
    the memory layout the reference hands to its convolutions), zero beyond each length."""
    longest = max(s.shape[0] for s in seqs) + extra
    out = seqs[0].new_zeros(len(seqs), longest, seqs[0].shape[1])                      # [B, L, D]
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out.transpose(1, 2)                                                            # [B, D, L]


def pack(batch: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """[B, D, L_max] -> packed [sum(lengths), D]."""
    return torch.cat([batch[i, :, :n].transpose(0, 1) for i, n in enumerate(lengths)], dim=0)


class AudioEncoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.conv1 = nn.Conv1d(cfg.n_mels, d, kernel_size=cfg.kernel_size, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=cfg.kernel_size, stride=cfg.stride_size, padding=1)
        self.layers = build_stack(cfg.encoder_layers, d, cfg.encoder_attention_heads, cfg.encoder_ffn_dim,
                                  cfg.activation_function, cfg.encoder_causal, cfg.encoder_attn_window_size)
        self.layer_norm = nn.LayerNorm(d)
        self.down_sample_layer = nn.Sequential(
            nn.Conv1d(d, d, cfg.avg_pooler, cfg.avg_pooler, bias=False), nn.GELU())
        self.down_sample_norm = nn.LayerNorm(d)
        self.quantizer = ResidualVectorQuantizer(cfg.codebook_sizes(), d)

    @property
    def dtype(self) -> torch.dtype:
        return self.conv1.weight.dtype

    def _front(self, mels: list[torch.Tensor], tail_pad: list[bool]) -> tuple[torch.Tensor, list[int]]:
        """Convolutions on the padded batch -> packed [N, D] and lengths at 50 Hz."""
        x = pad_batch([m.to(self.dtype) for m in mels], extra=1)                          # [B, M, L + 1]
        x = F.gelu(self.conv1(x))                                                         # [B, D, L]
        for i, mel in enumerate(mels):
            x[i, :, mel.shape[0] + int(tail_pad[i]):] = 0
        x = F.gelu(self.conv2(x))                                                         # [B, D, L/2]
        lengths = [conv_out_length(m.shape[0], self.cfg) for m in mels]
        return pack(x, lengths), lengths

    def _down_sample(self, h: torch.Tensor, lengths: list[int], tail_pad: list[bool]) -> torch.Tensor:
        pool = self.cfg.avg_pooler
        seqs, start = [], 0
        for n, dup in zip(lengths, tail_pad):
            seq = h[start:start + n]                                                      # [n, D]
            start += n
            short = (-n) % pool
            if short:
                filler = seq[-1:].expand(short, -1) if dup else seq.new_zeros(short, seq.shape[1])
                seq = torch.cat([seq, filler], dim=0)
            seqs.append(seq)
        out = self.down_sample_layer(pad_batch(seqs))                                     # [B, D, L/pool]
        return self.down_sample_norm(pack(out, [pooled_length(n, pool) for n in lengths]))

    def forward(self, mels: list[torch.Tensor], tail_pad: list[bool] | None = None,
                backend: str = "auto") -> tuple[torch.Tensor, list[int]]:
        """Log-mel segments [L_i, n_mels] -> packed features [N, D] (model dtype) and code lengths."""
        tail_pad = tail_pad or [False] * len(mels)
        h, lengths = self._front(mels, tail_pad)                                          # [N, D]
        inv_freq = inverse_frequencies(self.cfg.d_model // self.cfg.encoder_attention_heads,
                                       self.cfg.rope_theta, dtype=self.dtype, device=h.device)
        positions = packed_positions(torch.tensor(lengths, device=h.device))
        cos, sin = rotary_tables(positions, inv_freq, h.dtype)
        skip = None
        for index, layer in enumerate(self.layers):
            h = layer(h, lengths, cos, sin, backend)
            if self.cfg.encoder_skip_layer_id is not None and index == self.cfg.encoder_skip_layer_id - 1:
                skip = h                                   # layers never modify h in place
        if skip is not None:
            h = h + skip
        h = self.layer_norm(h)
        return self._down_sample(h, lengths, tail_pad), [pooled_length(n, self.cfg.avg_pooler) for n in lengths]
