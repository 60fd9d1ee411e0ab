"""The fast path: several requests advance together, one backbone forward per step.

Rows are kept compact (active requests occupy rows 0..n-1). Every row has its own length;
each step writes the new group's keys at the row's own position of a preallocated backbone
KV cache (``[max_batch, H, context, Dh]`` per layer) and attends through an additive mask
when the rows' lengths differ. Prefill runs per request (rows never see each other's
padding, so a request's prefill is the same whatever its batch). Prefill and decode steps go
through ``step_stack`` (fused projections, no module calls; docs/FAST_PATH.md) and a
step whose rows are all text groups skips the patch encoder. The patch decoder runs
its ``P + max(delay)`` steps for all rows at once with its own small preallocated cache
(``[max_batch, H, steps, Dh]``), sampling only for rows whose text id is ``<|empty|>``; the
input and output sides (code embedding, patch encoder, channel heads) go through
:class:`~mimo_core.lm.fused.FusedModel`.
Rotary tables for every position are computed once. A finished row is removed by moving
the last row into its place, so its slot is free for the next request.
"""

from __future__ import annotations

import torch

from ..lm.fused import FusedModel
from ..lm.kv_cache import StaticKVCache
from ..lm.modules import MimoAudioLM
from ..lm.stack import Rotary, StepPlan, additive_mask, project, rotary_tables, step_stack
from .delay import UNGENERATED, num_steps, schedule, undelay
from .sampling import NEG_INF, sample_rows
from .top_p import top_p_fast
from .types import GenerationResult, GroupEvent, RequestState, StopReason, stop_after_group

StepOutput = tuple[RequestState, GroupEvent, GenerationResult | None]


class BatchDecoder:
    def __init__(self, model: MimoAudioLM, empty_text_id: int, context_groups: int, max_batch: int):
        self.model, self.empty_text_id = model, empty_text_id
        self.context_groups, self.capacity = context_groups, max_batch
        dev, dt = model.device, model.dtype
        P, delays = model.group_size, model.delays
        self.steps = num_steps(delays, P)
        self.schedule = schedule(delays, P)

        backbone, local = model.model.config, model.local_transformer.config
        self.cache = StaticKVCache(backbone.num_hidden_layers, max_batch, backbone.num_key_value_heads,
                                   context_groups, backbone.head_dim, dtype=dt, device=dev)
        self.local_cache = StaticKVCache(local.num_hidden_layers, max_batch, local.num_key_value_heads,
                                         self.steps, local.head_dim, dtype=dt, device=dev)
        like = torch.empty(0, dtype=dt, device=dev)
        self.rot = rotary_tables(model.model, like, torch.arange(context_groups, device=dev)[None])  # (1, L, 1, Dh)
        self.local_rot = rotary_tables(model.local_transformer, like,
                                       torch.arange(self.steps, device=dev)[None])                 # (1, S, 1, Dh)

        self.rows: list[RequestState] = []
        self.lengths = [0] * max_batch                                   # groups in the cache, per row
        self.positions = torch.zeros(max_batch, dtype=torch.long, device=dev)
        self.row_index = torch.arange(max_batch, device=dev)
        self.key_slots = torch.arange(context_groups, device=dev)
        self.hidden = torch.zeros(max_batch, model.config.hidden_size, dtype=dt, device=dev)
        self.canvas = torch.full((max_batch, self.steps, model.channels), UNGENERATED, dtype=torch.long, device=dev)
        self.empty_codes = torch.tensor(model.speech_empty_ids).expand(P, -1)   # (P, C) on CPU
        # patch-decoder logits of the channels emitted at one step, stacked channel-major and
        # -inf past each channel's vocabulary (FusedModel.head_logits): (channels * max_batch, V_max)
        sizes = model.config.speech_vocab_sizes
        self.stacked_logits = torch.full((len(sizes) * max_batch, max(sizes)), NEG_INF, dtype=dt, device=dev)
        # the one-token steps' tensors, gathered once (see StepPlan); the decoder holds the model's
        # parameters themselves, so build a new decoder (Engine does) after moving the model
        self.backbone_plan, self.local_plan = StepPlan(model.model), StepPlan(model.local_transformer)
        self.fused = FusedModel(model, empty_text_id)
        self._plans: dict[int, list] = {}                                # rows n -> per-step constants

    def active(self) -> list[RequestState]:
        return list(self.rows)

    # ---- admission and removal -------------------------------------------------------------
    @torch.inference_mode()
    def add(self, state: RequestState) -> None:
        """Prefill a request into the next free row."""
        if len(self.rows) >= self.capacity:
            raise RuntimeError("batch is full")
        r, model = len(self.rows), self.model
        ids = state.request.prompt_ids.to(model.device)[None]                    # (1, K, T*P)
        embeds = self.fused.embed(ids)                                           # (1, T, D)
        T = embeds.shape[1]
        rot = Rotary(self.rot.cos[:, :T], self.rot.signed_sin[:, :T])
        hidden = step_stack(self.backbone_plan, embeds, rot, cache=self.cache.at(0, T, rows=slice(r, r + 1)),
                            causal=True)
        self.hidden[r] = hidden[0, -1]
        self.lengths[r] = T
        self.positions[r] = T
        self.rows.append(state)

    def remove(self, state: RequestState, reason: StopReason = StopReason.CANCELLED,
               stop_token: int | None = None) -> GenerationResult:
        """Drop a request's row (moving the last row into it) and return its result."""
        i = self.rows.index(state)
        last = len(self.rows) - 1
        if i != last:
            self.cache.move_row(last, i, self.lengths[last])
            self.hidden[i] = self.hidden[last]
            self.lengths[i] = self.lengths[last]
            self.positions[i] = self.positions[last]
            self.rows[i] = self.rows[last]
        self.rows.pop()
        return state.result(reason, stop_token)

    # ---- one group for every row ---------------------------------------------------------------
    @torch.inference_mode()
    def step(self) -> list[StepOutput]:
        n, model = len(self.rows), self.model
        if n == 0:
            return []
        rows = list(self.rows)
        text_logits = project(self.hidden[:n], model.lm_head.weight)          # (n, V)
        text_ids = sample_rows(
            text_logits, [s.request.text_sampler for s in rows], [s.generator for s in rows],
            [s.forbidden_text() for s in rows], top_p=top_p_fast,
        ).tolist()
        picked = [i for i, t in enumerate(text_ids) if t == self.empty_text_id]  # speech rows
        codes = dict(zip(picked, self._patch_decode(picked, rows))) if picked else {}   # row -> (P, C)

        outputs: list[StepOutput] = []
        finished: list[tuple[RequestState, StopReason, int | None]] = []
        for i, state in enumerate(rows):
            event = state.append(text_ids[i], codes.get(i, self.empty_codes))
            reason, token = stop_after_group(text_ids[i], state.new_groups, self.lengths[i] + 1,
                                             state.request, self.context_groups)
            outputs.append((state, event, None))
            if reason is not None:
                finished.append((state, reason, token))
        results = {id(s): self.remove(s, reason, token) for s, reason, token in finished}
        outputs = [(s, e, results.get(id(s))) for s, e, _ in outputs]
        if self.rows:
            self._advance()
        return outputs

    def _advance(self) -> None:
        """Backbone forward of every row's newest group at the row's own position."""
        n, model = len(self.rows), self.model
        ids = torch.stack([s.groups[-1] for s in self.rows])                    # (n, K, P) on CPU
        text = ids[:, 0, 0]                                                     # (n,)
        if bool((text == self.empty_text_id).any()):   # decided on the host: no device sync
            embeds = self.fused.embed(ids.to(model.device))                     # (n, 1, D)
        else:
            # text groups only: embed_groups adds the patch-encoded speech input times 0, i.e.
            # signed zeros (x + 0 == x; only a zero's sign could differ, which nothing reads)
            embeds = model.model.embed_tokens(text.to(model.device))[:, None]   # (n, 1, D)
        positions = self.positions[:n]
        rot = Rotary(self.rot.cos[0, positions][:, None], self.rot.signed_sin[0, positions][:, None])  # (n, 1, 1, Dh)
        lengths = self.lengths[:n]
        read_len = max(lengths) + 1
        mask = None
        if min(lengths) != max(lengths):
            allowed = self.key_slots[None, :read_len] <= positions[:, None]     # (n, keys)
            mask = additive_mask(allowed, embeds.dtype)[:, None, None, :]       # (n, 1, 1, keys)
        hidden = step_stack(self.backbone_plan, embeds, rot, mask=mask,
                            cache=self.cache.at_rows(self.row_index[:n], positions, read_len))
        self.hidden[:n] = hidden[:, 0]
        for i in range(n):
            self.lengths[i] += 1
        self.positions[:n] += 1

    def _step_plan(self, n: int) -> list[tuple]:
        """Per patch-decoder step, for n rows: the channels emitted (a slice when contiguous, as
        in the release, else an index tensor), their count, each stacked row's banned id and
        vocabulary size (channel-major, k*n entries), and the step's rotary tables."""
        plan = self._plans.get(n)
        if plan is None:
            plan = []
            empties, sizes = self.model.speech_empty_ids, self.model.config.speech_vocab_sizes
            for t, emitted in enumerate(self.schedule):
                channels = [c for c, _frame in emitted]
                contiguous = channels == list(range(channels[0], channels[-1] + 1))
                index = slice(channels[0], channels[-1] + 1) if contiguous else torch.tensor(channels, device=self.model.device)
                rot = Rotary(self.local_rot.cos[:, t : t + 1], self.local_rot.signed_sin[:, t : t + 1])  # (1, 1, 1, Dh)
                plan.append((channels, index, [(empties[c],) for c in channels for _ in range(n)],
                             [sizes[c] for c in channels for _ in range(n)], rot))
            self._plans[n] = plan
        return plan

    def _patch_decode(self, picked: list[int], rows: list[RequestState]) -> torch.Tensor:
        """Patch decoder for the speech rows ``picked`` (ascending) at once -> codes
        (len(picked), P, C) on CPU. Text rows take no part: a batch whose other rows write text
        does not pay for their patch-decoder steps.

        At each step the heads of the channels emitted there are one batched matmul and all
        their decisions (rows x channels, each on its own channel's vocabulary) are taken in one
        ``sample_rows`` call; a row's uniforms are still drawn from its own generator in
        channel order.
        """
        model, fused, m = self.model, self.fused, len(picked)
        samplers = [rows[i].request.audio_sampler for i in picked]
        generators = [rows[i].generator for i in picked]
        whole = picked == list(range(m))                                          # rows 0..m-1: a view
        hidden = self.hidden[:m] if whole else self.hidden[torch.tensor(picked, device=self.hidden.device)]
        canvas = self.canvas[:m].fill_(UNGENERATED)                               # (m, S, C)
        embeds = model.hidden_states_downcast(hidden)[:, None, :]                 # (m, 1, Dl)
        last = len(self.schedule) - 1
        for t, (channels, index, banned, widths, rot) in enumerate(self._step_plan(m)):
            hidden = step_stack(self.local_plan, embeds, rot,
                                cache=self.local_cache.at(t, 1, rows=slice(0, m)))[:, 0]   # (m, Dl)
            k = len(channels)
            stacked = self.stacked_logits[: k * m]                                # (k*m, V_max)
            fused.head_logits(hidden, index, stacked.view(k, m, -1))
            tokens = sample_rows(stacked, samplers * k, generators * k, banned,
                                 top_p=top_p_fast, widths=widths).view(k, m)      # (k, m)
            canvas[:, t, index] = tokens.T                                        # (m, k)
            if t == last:
                break
            embeds = fused.local_embed(tokens, index)                             # (m, 1, Dl)
        return undelay(canvas.cpu(), model.delays, model.group_size)
