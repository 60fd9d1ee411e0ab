"""The model's input and output sides as the fast path runs them: few, large operations.

:class:`FusedModel` gathers, once, what a generated group needs besides the backbone step:

* the patch encoder as a fused :class:`~.stack.StepPlan` (no KV cache: a group's P frames
  attend to each other only);
* the speech embedding tables as one table (channel c's ids offset by the sizes of the
  channels before it), so a group's P x C codes are embedded by one gather;
* the patch decoder's C output heads as one zero-padded ``(C, V_max, Dl)`` stack with a
  ``(C, 1, V_max)`` bias of 0 / -inf, so the heads of the channels emitted at one step are
  one batched matmul whose padding columns are -inf.

Each module's weight becomes a view of the fused tensor (:func:`~.stack.fuse_linears`), so
the model keeps one copy; the padded head stack adds only its padding rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fusion import fused_params, heads_group, members, speech_table_group
from .modules import MimoAudioLM
from .stack import StepPlan, fuse_linears, rotary_tables, step_stack

NEG_INF = float("-inf")


def _padded_heads(model: MimoAudioLM) -> torch.Tensor:
    """(C, V_max, Dl) zero-padded stack of the channel heads; the heads become views of it."""
    group = heads_group(model)
    return fused_params(members(model, group), group.params, padded=True)[0]


class FusedModel:
    def __init__(self, model: MimoAudioLM, empty_text_id: int):
        self.model, self.empty_text_id = model, empty_text_id
        cfg, dev, dt = model.config, model.device, model.dtype
        self.P, self.C = cfg.group_size, cfg.audio_channels
        sizes = cfg.speech_vocab_sizes
        self.encoder = StepPlan(model.input_local_transformer)
        self.encoder_causal = not cfg.input_full_attention
        self.encoder_rot = rotary_tables(model.input_local_transformer, torch.empty(0, dtype=dt, device=dev),
                                         torch.arange(self.P, device=dev)[None])          # (1, P, 1, Dh)
        self.speech_table = fuse_linears(members(model, speech_table_group(model))).weight   # (sum V_c, Di)
        starts = torch.tensor([0, *sizes[:-1]], device=dev).cumsum(0)                   # (C,)
        self.offsets = starts[None, :, None]                                            # (1, C, 1)
        self.empties = torch.tensor(cfg.speech_empty_ids, device=dev)[None, :, None]   # (1, C, 1)
        self.channel_offsets = starts                                                   # (C,)
        self.heads = _padded_heads(model)                                               # (C, V_max, Dl)
        width = torch.arange(max(sizes), device=dev)[None, None]                        # (1, 1, V_max)
        self.head_bias = torch.zeros(self.C, 1, max(sizes), dtype=dt, device=dev).masked_fill_(
            width >= torch.tensor(sizes, device=dev)[:, None, None], NEG_INF)           # (C, 1, V_max)
        self.text_table = model.model.embed_tokens.weight                               # (V, D)
        self.group_down = model.speech_group_downcast.weight                            # (D, P*Di)
        to_local = model.speech_embeddings_to_local
        self.to_local = to_local.weight if to_local is not None else None              # (Dl, Di)

    # ---- input side ---------------------------------------------------------------------
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Backbone input for whole groups, as ``MimoAudioLM.embed_groups``: ids (B, K, T*P)
        -> (B, T, D)."""
        P, C = self.P, self.C
        B, _, TP = ids.shape
        T = TP // P
        text = ids[:, 0, ::P]                                                       # (B, T)
        speech = (text == self.empty_text_id)[..., None]                            # (B, T, 1)
        codes = ids[:, 1:].reshape(B, C, TP)                                        # (B, C, T*P)
        rows = F.embedding(codes + self.offsets, self.speech_table)                 # (B, C, T*P, Di)
        rows = rows.masked_fill_((codes == self.empties)[..., None], 0.0)
        frames = rows.sum(1).view(B * T, P, -1)                                     # (B*T, P, Di)
        frames = frames * speech.reshape(B * T, 1, 1)
        encoded = step_stack(self.encoder, frames, self.encoder_rot, cache=None, causal=self.encoder_causal)
        encoded = encoded.view(B, T, -1) * speech                                   # (B, T, P*Di)
        text_embeds = F.embedding(text, self.text_table).masked_fill_(speech, 0.0)  # (B, T, D)
        return torch.addmm(text_embeds.view(B * T, -1), encoded.view(B * T, -1), self.group_down.t()).view(B, T, -1)

    # ---- output side ---------------------------------------------------------------------
    def head_logits(self, hidden: torch.Tensor, channels: slice, out: torch.Tensor) -> torch.Tensor:
        """Logits of the heads ``channels`` (a contiguous range, k channels) for hidden (n, Dl),
        written into ``out`` (k, n, V_max); columns past a channel's vocabulary are -inf."""
        k = out.shape[0]
        return torch.baddbmm(self.head_bias[channels], hidden.expand(k, *hidden.shape),
                             self.heads[channels].transpose(1, 2), out=out)

    def local_embed(self, tokens: torch.Tensor, channels: slice) -> torch.Tensor:
        """Patch-decoder input of the codes emitted at one step: tokens (k, n) of the channels
        ``channels`` -> (n, 1, Dl), their embeddings summed (then projected to the local width)."""
        rows = F.embedding(tokens + self.channel_offsets[channels, None], self.speech_table)   # (k, n, Di)
        summed = rows.sum(0)                                                                   # (n, Di)
        if self.to_local is not None:
            summed = F.linear(summed, self.to_local)                                           # (n, Dl)
        return summed[:, None, :]
