"""The transformer layer shared by the tokenizer's encoder, decoder and vocoder.

Attribute names are the checkpoint's keys: ``self_attn.{q_proj,k_proj,v_proj,out_proj}``
(k_proj without bias), ``self_attn_layer_norm``, ``fc1``, ``fc2``, ``final_layer_norm``.
Pre-LayerNorm; activations are packed [N, D] with per-sequence ``lengths``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import ACT2FN

from .attention import packed_attention
from .rotary import apply_rotary


class PackedSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, window: tuple[int, int], causal: bool):
        super().__init__()
        self.width, self.heads, self.head_dim = width, heads, width // heads
        self.window, self.causal = tuple(window), causal
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=True)
        self.q_proj = nn.Linear(width, width, bias=True)
        self.out_proj = nn.Linear(width, width, bias=True)

    def forward(self, x: torch.Tensor, lengths: list[int], cos: torch.Tensor, sin: torch.Tensor,
                backend: str = "auto") -> torch.Tensor:
        n = x.shape[0]
        q = apply_rotary(self.q_proj(x).view(n, self.heads, self.head_dim), cos, sin)     # [N, H, Dh]
        k = apply_rotary(self.k_proj(x).view(n, self.heads, self.head_dim), cos, sin)
        v = self.v_proj(x).view(n, self.heads, self.head_dim)
        out = packed_attention(q, k, v, lengths, causal=self.causal, window=self.window, backend=backend)
        return self.out_proj(out.reshape(n, self.width))                                  # [N, D]


class TransformerLayer(nn.Module):
    def __init__(self, width: int, heads: int, ffn_dim: int, activation: str, causal: bool,
                 window: tuple[int, int]):
        super().__init__()
        self.self_attn = PackedSelfAttention(width, heads, window, causal)
        self.self_attn_layer_norm = nn.LayerNorm(width)
        self.activation_fn = ACT2FN[activation]
        self.fc1 = nn.Linear(width, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, width)
        self.final_layer_norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, lengths: list[int], cos: torch.Tensor, sin: torch.Tensor,
                backend: str = "auto") -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), lengths, cos, sin, backend)
        x = x + self.fc2(self.activation_fn(self.fc1(self.final_layer_norm(x))))
        if x.dtype in (torch.float16, torch.bfloat16) and not torch.isfinite(x).all():
            limit = torch.finfo(x.dtype).max - 1000          # the reference's overflow guard
            x = torch.clamp(x, min=-limit, max=limit)
        return x


def build_stack(count: int, width: int, heads: int, ffn_dim: int, activation: str, causal: bool,
                window: tuple[int, int]) -> nn.ModuleList:
    return nn.ModuleList(TransformerLayer(width, heads, ffn_dim, activation, causal, window)
                         for _ in range(count))
