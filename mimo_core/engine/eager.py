"""The eager path: one request at a time, written like the reference loop.

The backbone and the patch decoder run through ``Qwen2Model.forward`` with transformers'
growing ``DynamicCache`` (a new cache per patch); every step allocates its tensors afresh, and
top-p sorts the whole vocabulary with ``torch.sort`` as the reference does.
It is the baseline the fast path (:mod:`mimo_core.engine.batch`) is measured and checked
against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers.cache_utils import DynamicCache

from ..lm.modules import MimoAudioLM
from .delay import UNGENERATED, num_steps, schedule, undelay
from .sampling import sample_rows
from .top_p import top_p_reference
from .types import GenerationResult, GroupEvent, RequestState, StopReason, stop_after_group

# choose(channel, logits (B, V_c)) -> tokens (B,)
ChooseFn = Callable[[int, torch.Tensor], torch.Tensor]


@torch.inference_mode()
def patch_decode_eager(model: MimoAudioLM, local_input: torch.Tensor, choose: ChooseFn) -> torch.Tensor:
    """Patch decoder for one group: local_input (B, 1, Dl) -> codes (B, P, C).

    Step 0 reads the backbone's downcast hidden state; step t > 0 reads the sum of the
    speech embeddings of the codes emitted at step t - 1 (delay pattern: see ``delay``).
    """
    P, delays = model.group_size, model.delays
    B = local_input.shape[0]
    canvas = torch.full((B, num_steps(delays, P), model.channels), UNGENERATED, dtype=torch.long)
    cache = DynamicCache()
    embeds = local_input
    for t, emitted in enumerate(schedule(delays, P)):
        out = model.local_transformer(inputs_embeds=embeds, past_key_values=cache, use_cache=True)
        hidden = out.last_hidden_state                                   # (B, 1, Dl)
        embeds = torch.zeros_like(embeds)
        for channel, _frame in emitted:
            logits = model.local_transformer_lm_heads[channel](hidden)[:, -1, :]   # (B, V_c)
            tokens = choose(channel, logits)
            canvas[:, t, channel] = tokens.cpu()
            embeds = embeds + model.local_embed(channel, tokens)[:, None, :]
    return undelay(canvas, delays, P)


class EagerDecoder:
    """Holds at most one request; same protocol as :class:`~mimo_core.engine.batch.BatchDecoder`."""

    capacity = 1

    def __init__(self, model: MimoAudioLM, empty_text_id: int, context_groups: int):
        self.model, self.empty_text_id, self.context_groups = model, empty_text_id, context_groups
        self._state: RequestState | None = None
        self._cache: DynamicCache | None = None
        self._hidden: torch.Tensor | None = None   # (1, 1, D) last backbone output
        self._length = 0

    def active(self) -> list[RequestState]:
        return [self._state] if self._state is not None else []

    @torch.inference_mode()
    def _forward(self, ids: torch.Tensor) -> None:
        """Run the backbone over new groups ids (K, n*P), extending the cache."""
        embeds = self.model.embed_groups(ids[None].to(self.model.device), self.empty_text_id)
        positions = torch.arange(self._length, self._length + embeds.shape[1], device=embeds.device)
        out = self.model.model(inputs_embeds=embeds, position_ids=positions[None],
                               past_key_values=self._cache, use_cache=True)
        self._hidden = out.last_hidden_state[:, -1:, :]
        self._length += embeds.shape[1]

    def add(self, state: RequestState) -> None:
        if self._state is not None:
            raise RuntimeError("the eager decoder holds one request at a time")
        self._state, self._cache, self._length = state, DynamicCache(), 0
        self._forward(state.request.prompt_ids)

    def remove(self, state: RequestState, reason: StopReason = StopReason.CANCELLED,
               stop_token: int | None = None) -> GenerationResult:
        self._state, self._cache, self._hidden = None, None, None
        return state.result(reason, stop_token)

    @torch.inference_mode()
    def step(self) -> list[tuple[RequestState, GroupEvent, GenerationResult | None]]:
        state, model = self._state, self.model
        if state is None:
            return []
        req = state.request
        text_logits = model.lm_head(self._hidden)[:, -1, :]                 # (1, V)
        text_id = int(sample_rows(text_logits, [req.text_sampler], [state.generator],
                                  [state.forbidden_text()], top_p=top_p_reference)[0])
        if text_id == self.empty_text_id:
            empties = model.speech_empty_ids

            def choose(channel: int, logits: torch.Tensor) -> torch.Tensor:
                return sample_rows(logits, [req.audio_sampler], [state.generator], [(empties[channel],)],
                                   top_p=top_p_reference)

            codes = patch_decode_eager(model, model.hidden_states_downcast(self._hidden), choose)[0]
        else:
            codes = torch.tensor(model.speech_empty_ids).expand(model.group_size, -1)   # (P, C)
        event = state.append(text_id, codes)
        reason, token = stop_after_group(text_id, state.new_groups, self._length + 1, req, self.context_groups)
        if reason is not None:
            return [(state, event, self.remove(state, reason, token))]
        self._forward(state.groups[-1])
        return [(state, event, None)]
