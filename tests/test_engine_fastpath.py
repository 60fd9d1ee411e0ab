"""The fast path against the eager (reference-faithful) path under the fast path's exactness
rule (docs/FAST_PATH.md): the fused step (``step_stack``) agrees with the module path
(``run_stack``) to float32 rounding, and in float32 the fast decoder makes the eager decoder's
tokens (greedy and with the task-default samplers); bf16 is held to the goldens' agreement rule in
tests/test_engine_golden.py. Also: fusing the projections keeps one copy of the weights."""

import pytest
import torch

from mimo_core.engine import GenerationRequest, SamplerConfig
from mimo_core.engine.batch import BatchDecoder
from mimo_core.engine.eager import EagerDecoder
from mimo_core.engine.types import RequestState
from mimo_core.lm.kv_cache import StaticKVCache
from mimo_core.lm.stack import Rotary, StepPlan, additive_mask, rotary, rotary_tables, run_stack, step_stack
from mimo_core.lm.tiny import build_tiny_lm

VOCAB, EMPTY = 512, 500
# float32 agreement of the fused step with the module path: the fused matmuls and one-op norms
# round differently, within a few float32 ulps of activations of order 1
ATOL = RTOL = 1e-5
EMPTY_CODES = (1024, 1024, 128, 128, 128, 128, 128, 128)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return build_tiny_lm(VOCAB, seed=11, row_norms={EMPTY: 9.0})


def _cache(stack, batch, length):
    cfg = stack.config
    return StaticKVCache(cfg.num_hidden_layers, batch, cfg.num_key_value_heads, length, cfg.head_dim,
                         dtype=torch.float32, device="cpu")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("which", ["model", "local_transformer"])
def test_fused_step_agrees_with_run_stack_in_float32(model, attn, which):
    model.set_attention(attn)
    try:
        stack = getattr(model, which)
        gen = torch.Generator().manual_seed(3)
        D, T, B = stack.config.hidden_size, 6, 3
        prefix = torch.randn(B, T, D, generator=gen)
        new = torch.randn(B, 1, D, generator=gen)
        cos, sin = rotary(stack, new, torch.arange(T + 1)[None])                  # (1, T+1, Dh)
        rot = rotary_tables(stack, new, torch.arange(T + 1)[None])                # (1, T+1, 1, Dh)
        ref_cache, fast_cache = _cache(stack, B, T + 1), _cache(stack, B, T + 1)
        for cache in (ref_cache, fast_cache):
            run_stack(stack, prefix, (cos[:, :T], sin[:, :T]), cache=cache.at(0, T))
        ref = run_stack(stack, new, (cos[:, T:], sin[:, T:]), past_len=T, cache=ref_cache.at(T, 1))
        fast = step_stack(StepPlan(stack), new, Rotary(rot.cos[:, T:], rot.signed_sin[:, T:]),
                          cache=fast_cache.at(T, 1))
        torch.testing.assert_close(fast, ref, atol=ATOL, rtol=RTOL)
        for layer in range(stack.config.num_hidden_layers):
            torch.testing.assert_close(fast_cache.keys[layer], ref_cache.keys[layer], atol=ATOL, rtol=RTOL)
            torch.testing.assert_close(fast_cache.values[layer], ref_cache.values[layer], atol=ATOL, rtol=RTOL)
    finally:
        model.set_attention("sdpa")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_fused_prefill_agrees_with_run_stack_in_float32(model, attn):
    """The fast path's prefill (step_stack, causal, T positions) against the module path's."""
    model.set_attention(attn)
    try:
        stack, T = model.model, 7
        prefix = torch.randn(2, T, stack.config.hidden_size, generator=torch.Generator().manual_seed(5))
        cos_sin = rotary(stack, prefix, torch.arange(T)[None])
        caches = _cache(stack, 2, T), _cache(stack, 2, T)
        ref = run_stack(stack, prefix, cos_sin, cache=caches[0].at(0, T))
        fast = step_stack(StepPlan(stack), prefix, rotary_tables(stack, prefix, torch.arange(T)[None]),
                          cache=caches[1].at(0, T), causal=True)
        torch.testing.assert_close(fast, ref, atol=ATOL, rtol=RTOL)
        for layer in range(stack.config.num_hidden_layers):
            torch.testing.assert_close(caches[1].keys[layer], caches[0].keys[layer], atol=ATOL, rtol=RTOL)
    finally:
        model.set_attention("sdpa")


def test_fused_step_with_rows_at_different_positions_agrees_with_run_stack(model):
    stack, B, L = model.model, 2, 8
    gen = torch.Generator().manual_seed(4)
    D = stack.config.hidden_size
    positions = torch.tensor([3, 6])                                              # rows' own lengths
    cos, sin = rotary(stack, torch.empty(0), torch.arange(L)[None])
    caches = _cache(stack, B, L), _cache(stack, B, L)
    for row, length in enumerate(positions.tolist()):
        prefix = torch.randn(1, length, D, generator=gen)
        for cache in caches:
            run_stack(stack, prefix, (cos[:, :length], sin[:, :length]), cache=cache.at(0, length, rows=slice(row, row + 1)))
    new = torch.randn(B, 1, D, generator=gen)
    cs = (cos[0, positions][:, None], sin[0, positions][:, None])                 # (B, 1, Dh)
    rot = rotary_tables(stack, new, torch.arange(L)[None])
    rot = Rotary(rot.cos[0, positions][:, None], rot.signed_sin[0, positions][:, None])   # (B, 1, 1, Dh)
    read = int(positions.max()) + 1
    mask = additive_mask(torch.arange(read)[None] <= positions[:, None], new.dtype)[:, None, None, :]
    rows = torch.arange(B)
    ref = run_stack(stack, new, cs, mask=mask, cache=caches[0].at_rows(rows, positions, read))
    fast = step_stack(StepPlan(stack), new, rot, mask=mask, cache=caches[1].at_rows(rows, positions, read))
    torch.testing.assert_close(fast, ref, atol=ATOL, rtol=RTOL)


def test_fusing_projections_keeps_one_copy_of_the_weights():
    """After planning, q/k/v and gate/up are views of the fused tensors (no second copy), the
    values are unchanged, and planning again reuses the fused tensors."""
    model = build_tiny_lm(VOCAB, seed=13)
    before = {name: p.clone() for name, p in model.named_parameters()}
    count = sum(p.numel() for p in model.parameters())
    plan = StepPlan(model.model)
    attn, mlp = model.model.layers[0].self_attn, model.model.layers[0].mlp
    fused = plan.layers[0].qkv.weight
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        assert proj.weight.untyped_storage().data_ptr() == fused.untyped_storage().data_ptr()
    assert mlp.up_proj.weight.untyped_storage().data_ptr() == plan.layers[0].gate_up.weight.untyped_storage().data_ptr()
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert sum(p.numel() for p in model.parameters()) == count
    assert StepPlan(model.model).layers[0].qkv.weight.data_ptr() == fused.data_ptr()   # not fused again


def _prompt(groups: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.empty(9, 4 * groups, dtype=torch.long)
    ids[1:] = torch.tensor(EMPTY_CODES)[:, None]
    ids[0] = -100
    ids[0, ::4] = torch.randint(0, 499, (groups,), generator=gen)
    for g in range(1, groups, 2):
        ids[0, 4 * g] = EMPTY
        for c, empty in enumerate(EMPTY_CODES):
            ids[c + 1, 4 * g : 4 * g + 4] = torch.randint(0, empty, (4,), generator=gen)
    return ids


@pytest.mark.parametrize("input_local_dim", [32, 48])   # 48: speech embeddings projected to the local width
def test_fast_decoder_makes_eager_tokens_in_float32_with_close_states(model, input_local_dim):
    """Step by step, text and speech groups alike, in float32: the fast decoder's groups are the
    eager decoder's, and its last backbone state agrees to float32 rounding."""
    if input_local_dim != model.config.input_local_dim:
        model = build_tiny_lm(VOCAB, seed=12, row_norms={EMPTY: 9.0}, input_local_dim=input_local_dim)
        assert model.speech_embeddings_to_local is not None
    sampler = SamplerConfig(temperature=0.9, top_k=50, top_p=0.95)
    req = GenerationRequest(_prompt(5, 1), sampler, sampler, frozenset(), 12, seed=7)
    fast, eager = BatchDecoder(model, EMPTY, 64, 2), EagerDecoder(model, EMPTY, 64)
    fast.add(RequestState.start(req))
    eager.add(RequestState.start(req))
    kinds = set()
    for _ in range(12):
        torch.testing.assert_close(fast.hidden[0], eager._hidden[0, 0], atol=ATOL, rtol=RTOL)
        (f_state, f_event, f_done), = fast.step()
        (e_state, e_event, e_done), = eager.step()
        assert torch.equal(f_state.groups[-1], e_state.groups[-1])
        kinds.add(int(f_state.groups[-1][0, 0]) == EMPTY)
        if f_done or e_done:
            assert f_done is not None and e_done is not None
            break
    assert kinds == {True, False}, "the run should cover both text and speech groups"


def test_fast_path_samples_like_eager_with_the_spec_samplers_in_float32():
    """Task-default samplers (top-p over whole vocabularies, no top-k), in float32: the fast
    path's stacked patch-decoder sampling (channels of different vocabulary sizes side by side)
    decides as eager's per-channel sampling, every group."""
    model = build_tiny_lm(VOCAB, seed=19, row_norms={EMPTY: 9.0})   # seed 19: ~half speech
    text, audio = SamplerConfig(temperature=0.6, top_p=0.95), SamplerConfig(temperature=0.9, top_p=0.95)
    speech = 0
    for seed in range(4):
        req = GenerationRequest(_prompt(5, 20 + seed), text, audio, frozenset(), 16, seed=100 + seed)
        fast, eager = BatchDecoder(model, EMPTY, 64, 2), EagerDecoder(model, EMPTY, 64)
        fast.add(RequestState.start(req))
        eager.add(RequestState.start(req))
        for _ in range(16):
            (f_state, _, f_done), = fast.step()
            (e_state, _, e_done), = eager.step()
            assert torch.equal(f_state.groups[-1], e_state.groups[-1])
            speech += int(f_state.groups[-1][0, 0]) == EMPTY
            if f_done or e_done:
                assert f_done is not None and e_done is not None
                break
    assert speech >= 24, "the runs should sample many speech groups"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("with_residual", [False, True])
def test_one_16_bit_row_uses_the_matrix_vector_kernel_with_addmms_result(monkeypatch, dtype, with_bias,
                                                                          with_residual):
    """The fast path's projection of one 16-bit row on the CPU goes through addmv/mv (faster
    there, bench/bench_row_kernel.py) and computes what the addmm form does: the same maths, to
    the dtype's rounding of the result."""
    from mimo_core.lm import stack as stack_module
    from mimo_core.lm.stack import Linear, _linear, project

    gen = torch.Generator().manual_seed(5)
    weight = (torch.randn(96, 64, generator=gen) / 8).to(dtype)                        # (out, in)
    bias = torch.randn(96, generator=gen).to(dtype) if with_bias else None
    x = torch.randn(1, 64, generator=gen).to(dtype)
    residual = torch.randn(1, 96, generator=gen).to(dtype) if with_residual else None
    calls = []
    for name in ("mv", "addmv", "addmm", "mm"):
        original = getattr(torch, name)
        monkeypatch.setattr(stack_module.torch, name,
                            lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))
    got = _linear(x, Linear(weight.t(), bias), residual)
    assert calls and set(calls) <= {"mv", "addmv"}
    exact = x.double() @ weight.double().t()
    exact = exact + (bias.double() if with_bias else 0) + (residual.double() if with_residual else 0)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(got.double(), exact, atol=4 * eps * exact.abs().max().item(), rtol=0)
    assert got.shape == (1, 96) and got.dtype == dtype
    calls.clear()
    assert torch.equal(_linear(x.float(), Linear(weight.float().t(), None)), x.float() @ weight.float().t())
    assert calls == ["mm"]                           # float32 keeps the matrix kernel (exact goldens)
    calls.clear()
    two = torch.cat([x, x])
    torch.testing.assert_close(project(two, weight)[0].double(), project(x, weight)[0].double(),
                               atol=4 * eps * exact.abs().max().item(), rtol=0)
