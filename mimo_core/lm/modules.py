"""The MiMo-Audio language model as an ``nn.Module`` whose attribute names are the official
state-dict keys (docs/FORMAT.md section 3), so released checkpoints load with no key mapping.

One LM position ("group") covers P = 4 codec frames. Its input is the text embedding plus
the patch-encoded speech embedding of its P x C codes; its output hidden state gives the
text logits (``lm_head``) and, through ``hidden_states_downcast``, the first input of the
patch decoder, which emits the next group's codes over ``P + max(delay)`` steps (the loop
itself lives in :mod:`mimo_core.engine`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.qwen2.modeling_qwen2 import Qwen2Model, Qwen2RotaryEmbedding

from .config import MimoLMConfig
from .stack import rotary, run_stack

ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")


def _stack_without_embeddings(qwen2_config) -> Qwen2Model:
    stack = Qwen2Model(qwen2_config)
    stack.embed_tokens = None  # the local stacks take embeddings, never ids
    return stack


class MimoAudioLM(nn.Module):
    def __init__(self, config: MimoLMConfig, attn: str = "sdpa"):
        super().__init__()
        self.config = config
        input_dim, local_dim = config.input_dim, config.local_dim

        self.model = Qwen2Model(config.backbone_config())
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.local_transformer = _stack_without_embeddings(config.local_config())
        self.input_local_transformer = _stack_without_embeddings(config.input_local_config())
        self.local_transformer_lm_heads = nn.ModuleList(
            nn.Linear(local_dim, size, bias=False) for size in config.speech_vocab_sizes
        )
        self.speech_embeddings = nn.ModuleList(
            nn.Embedding(size, input_dim, padding_idx=empty)
            for size, empty in zip(config.speech_vocab_sizes, config.speech_empty_ids)
        )
        if input_dim != local_dim:
            self.speech_embeddings_to_local = nn.Linear(input_dim, local_dim, bias=False)
        else:
            self.speech_embeddings_to_local = None
        self.speech_group_downcast = nn.Linear(input_dim * config.group_size, config.hidden_size, bias=False)
        self.hidden_states_downcast = nn.Linear(config.hidden_size, local_dim, bias=False)
        self.set_attention(attn)

    # ---- facts used by the engine -------------------------------------------------------
    @property
    def group_size(self) -> int:
        return self.config.group_size

    @property
    def channels(self) -> int:
        return self.config.audio_channels

    @property
    def speech_empty_ids(self) -> tuple[int, ...]:
        return self.config.speech_empty_ids

    @property
    def delays(self) -> tuple[int, ...]:
        return self.config.delays

    @property
    def dtype(self) -> torch.dtype:
        return self.lm_head.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    def stacks(self) -> tuple[Qwen2Model, Qwen2Model, Qwen2Model]:
        return self.model, self.local_transformer, self.input_local_transformer

    def set_attention(self, attn: str) -> None:
        if attn not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attention implementation {attn!r} is not one of {ATTN_IMPLEMENTATIONS}")
        for stack in self.stacks():
            stack.config._attn_implementation = attn

    # ---- rotary tables stay float32 in every dtype (as in the reference) ----------------
    def restore_rotary(self) -> None:
        for module in self.modules():
            if isinstance(module, Qwen2RotaryEmbedding):
                inv_freq, _ = module.compute_default_rope_parameters(module.config)
                device = module.inv_freq.device
                module.inv_freq = inv_freq.to(device=device, dtype=torch.float32)
                module.original_inv_freq = module.inv_freq.clone()

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        if not any(m.inv_freq.is_meta for m in self.modules() if isinstance(m, Qwen2RotaryEmbedding)):
            self.restore_rotary()
        return result

    # ---- input side ----------------------------------------------------------------------
    def encode_patches(self, frames: torch.Tensor) -> torch.Tensor:
        """Patch encoder over groups of P frames, independently: (N, P, Di) -> (N, P, Di)."""
        stack = self.input_local_transformer
        positions = torch.arange(frames.shape[1], device=frames.device)[None]  # (1, P)
        cos_sin = rotary(stack, frames, positions)
        return run_stack(stack, frames, cos_sin, causal=not self.config.input_full_attention)

    def embed_groups(self, ids: torch.Tensor, empty_text_id: int) -> torch.Tensor:
        """Backbone input for token columns: ids (B, K, T*P) -> (B, T, D).

        Row 0 of each group's first column is the text id; a group whose text id is
        ``<|empty|>`` is a speech group: its text embedding is zeroed and its P x C codes,
        embedded, summed over channels and patch-encoded, supply the input instead.
        """
        P, C = self.group_size, self.channels
        B, _, TP = ids.shape
        T = TP // P
        text = ids[:, 0, ::P]                                        # (B, T)
        speech = ids[:, 1:, :].reshape(B, C, T, P).transpose(1, 2)   # (B, T, C, P)
        is_speech = (text == empty_text_id)[..., None, None]         # (B, T, 1, 1)

        frames = torch.zeros(B, T, P, self.config.input_dim, dtype=self.dtype, device=ids.device)
        for c, (table, empty) in enumerate(zip(self.speech_embeddings, self.speech_empty_ids)):
            codes = speech[:, :, c, :]                               # (B, T, P)
            frames += table(codes).masked_fill((codes == empty)[..., None], 0.0)
        frames = frames * is_speech
        encoded = self.encode_patches(frames.reshape(B * T, P, -1)).reshape(B, T, P, -1)
        encoded = encoded * is_speech
        grouped = self.speech_group_downcast(encoded.reshape(B, T, -1))   # (B, T, D)

        text_embeds = self.model.embed_tokens(text).masked_fill(is_speech[..., 0], 0.0)
        return text_embeds + grouped

    # ---- output side ---------------------------------------------------------------------
    def local_embed(self, channel: int, tokens: torch.Tensor) -> torch.Tensor:
        """Patch-decoder input contribution of one channel's sampled codes: (B,) -> (B, Dl)."""
        embeds = self.speech_embeddings[channel](tokens)
        if self.speech_embeddings_to_local is not None:
            embeds = self.speech_embeddings_to_local(embeds)
        return embeds

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, empty_text_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Uncached full forward over whole groups: ids (B, K, T*P) ->
        (text logits (B, T, V), patch-decoder inputs (B, T, Dl)) for every position."""
        embeds = self.embed_groups(ids, empty_text_id)
        positions = torch.arange(embeds.shape[1], device=embeds.device)[None]  # (1, T)
        hidden = run_stack(self.model, embeds, rotary(self.model, embeds, positions))
        return self.lm_head(hidden), self.hidden_states_downcast(hidden)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
