"""Samplers: the reference's order (temperature, top-k, top-p, forbid), greedy, seeds."""

import pytest
import torch

from mimo_core.engine.sampling import GREEDY, SamplerConfig, invert, sample_rows, uniform
from mimo_core.engine.types import GenerationRequest, RequestState
from mimo_core.errors import PromptError
from tests.helpers import process_logits

NEG = float("-inf")


def test_top_k_keeps_the_k_largest_and_ties_at_the_kth():
    scores = torch.tensor([[1.0, 5.0, 3.0, 3.0, 0.0]])
    out = process_logits(scores, SamplerConfig(top_k=2))
    assert torch.isinf(out[0, [0, 4]]).all()
    assert out[0, 1] == 5.0 and out[0, 2] == 3.0 and out[0, 3] == 3.0   # tie at the 2nd value kept


def test_top_p_drops_the_low_tail_and_always_keeps_the_top_token():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    scores = probs.log()
    kept = ~torch.isinf(process_logits(scores, SamplerConfig(top_p=0.8)))
    # ascending cumsum: 0.05, 0.20, 0.50, 1.0 ; drop where <= 0.2 -> tokens 3 and 2
    assert kept.tolist() == [[True, True, False, False]]
    kept = ~torch.isinf(process_logits(scores, SamplerConfig(top_p=0.01)))
    assert kept.tolist() == [[True, False, False, False]]


def test_temperature_is_applied_before_top_p():
    scores = torch.tensor([[2.0, 1.0, 0.0]])
    # at T=1 probs ~ .665 .245 .090 -> top_p .7 keeps two; at T=0.25 the top token has ~.98
    assert (~torch.isinf(process_logits(scores, SamplerConfig(top_p=0.7)))).sum() == 2
    assert (~torch.isinf(process_logits(scores, SamplerConfig(temperature=0.25, top_p=0.7)))).sum() == 1


def test_greedy_takes_the_argmax_after_forbidding_and_the_lowest_id_on_ties():
    logits = torch.tensor([[0.0, 3.0, 3.0, 9.0]])
    assert sample_rows(logits, [GREEDY], [None], [(3,)]).tolist() == [1]
    assert sample_rows(logits, [GREEDY], [None], [(3, 1)]).tolist() == [2]


def test_sampling_never_returns_a_forbidden_or_removed_id():
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[5.0, 4.9, 4.8, -50.0, 4.7]])
    cfg = SamplerConfig(temperature=1.0, top_k=3)
    seen = {int(sample_rows(logits, [cfg], [gen], [(0,)])[0]) for _ in range(200)}
    assert seen == {1, 2}       # 0 forbidden, 4 cut by top-k, 3 too unlikely after top-k anyway


def test_draw_matches_the_distribution():
    gen = torch.Generator().manual_seed(1)
    scores = torch.tensor([0.0, 1.0, NEG, 2.0]).log_softmax(-1)
    counts = torch.bincount(torch.tensor([invert(scores, uniform(gen)) for _ in range(4000)]), minlength=4)
    expected = torch.softmax(torch.tensor([0.0, 1.0, NEG, 2.0]), -1) * 4000
    assert counts[2] == 0
    assert torch.allclose(counts.float(), expected, atol=120)


def test_same_seed_same_tokens_and_rows_are_independent():
    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    cfgs = [SamplerConfig(temperature=0.9, top_p=0.95)] * 3
    a = sample_rows(logits, cfgs, [torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    b = sample_rows(logits, cfgs, [torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    assert torch.equal(a, b)
    alone = sample_rows(logits[1:2], cfgs[:1], [torch.Generator().manual_seed(2)])
    assert alone.item() == a[1].item()


def test_inactive_rows_do_not_consume_randomness():
    logits = torch.randn(2, 20)
    cfg = SamplerConfig(temperature=1.0)
    gen = torch.Generator().manual_seed(7)
    sample_rows(logits, [cfg, cfg], [gen, torch.Generator()], active=[False, True])
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(7).get_state())


def test_stop_ids_are_forbidden_until_min_new_groups_exist():
    req = GenerationRequest(torch.zeros(9, 4, dtype=torch.long), GREEDY, GREEDY, frozenset({7, 3}), 10, 2)
    state = RequestState.start(req)
    assert state.forbidden_text() == (3, 7)
    state.append(5, torch.zeros(4, 8, dtype=torch.long))
    assert state.forbidden_text() == (3, 7)
    state.append(5, torch.zeros(4, 8, dtype=torch.long))
    assert state.forbidden_text() == ()


@pytest.mark.parametrize("kwargs", [dict(temperature=0.0), dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5)])
def test_invalid_sampler_settings_are_user_errors(kwargs):
    with pytest.raises(PromptError):
        SamplerConfig(**kwargs)


@pytest.mark.parametrize("cfg", [SamplerConfig(temperature=0.6, top_k=50, top_p=0.95),
                                 SamplerConfig(temperature=0.9, top_p=0.95),
                                 SamplerConfig(temperature=1.3, top_k=7),
                                 SamplerConfig(top_k=3, top_p=0.5)])
def test_candidate_subset_keeps_exactly_what_the_full_vocabulary_filter_keeps(cfg):
    from mimo_core.engine.sampling import candidates

    torch.manual_seed(0)
    for _ in range(20):
        row = torch.randn(1025) * 3
        row[5] = row[6]                                   # a tie somewhere
        full = process_logits(row[None], cfg)[0]
        ids, kept = candidates(row, cfg)
        ids = torch.arange(1025) if ids is None else ids
        dense = torch.full_like(row, NEG)
        dense[ids] = kept
        assert torch.equal(torch.isinf(dense), torch.isinf(full))
        finite = ~torch.isinf(full)
        assert torch.allclose(dense[finite].softmax(-1), full[finite].softmax(-1), atol=1e-6)
