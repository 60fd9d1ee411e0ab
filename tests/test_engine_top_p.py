"""The fast top-p filter gives the reference formulation's result bit for bit; with
ties="index" it gives the stable-sort formulation's result bit for bit."""

import pytest
import torch

from mimo_core.engine import top_p as top_p_module
from mimo_core.engine.sampling import SamplerConfig
from mimo_core.engine.top_p import top_p_fast, top_p_filter, top_p_reference
from tests.helpers import process_logits


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


@pytest.fixture
def reference_calls(monkeypatch):
    """Counts the rows top_p_filter hands to the reference (its tie fallback)."""
    calls = []
    original = top_p_module.top_p_reference

    def counting(scores, p, stable=False):
        calls.append(scores.shape[0])
        return original(scores, p, stable)

    monkeypatch.setattr(top_p_module, "top_p_reference", counting)
    return calls


@pytest.mark.parametrize("vocab", [2, 7, 1025, 151680])
@pytest.mark.parametrize("p", [0.05, 0.5, 0.9, 0.95, 0.999])
def test_random_rows_match_the_reference_without_falling_back(vocab, p, reference_calls):
    gen = torch.Generator().manual_seed(vocab + int(1000 * p))
    scores = torch.randn(4, vocab, generator=gen) * torch.tensor([[0.5], [3.0], [10.0], [40.0]])
    expected = top_p_reference(scores, p)
    got = top_p_filter(scores, p)
    assert same(got, expected)
    assert reference_calls == []                   # the fast branch decided every row
    if vocab > 7 and p < 0.999:
        assert bool(torch.isinf(got).any())        # and it did drop something


def test_rows_with_removed_entries_match(reference_calls):
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(3, 1025, generator=gen) * 4
    scores[0, ::3] = float("-inf")                 # as after top-k / padding of a narrower channel
    scores[1, 100:] = float("-inf")
    scores[2, :-1] = float("-inf")                 # a single finite entry
    for p in (0.1, 0.95, 1.0):
        assert same(top_p_filter(scores, p), top_p_reference(scores, p))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ties_across_the_boundary_fall_back_to_the_reference(reference_calls, dtype):
    gen = torch.Generator().manual_seed(2)
    scores = torch.randint(0, 6, (5, 4000), generator=gen).to(dtype)   # long runs of equal scores
    for p in (0.3, 0.6, 0.9):
        assert same(top_p_filter(scores, p), top_p_reference(scores, p))
    assert sum(reference_calls) > 0               # the tie branch was exercised


def test_only_the_top_token_survives_a_tiny_p():
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 5.0, 1.0, 0.0]])
    expected = top_p_reference(scores, 1e-9)
    assert same(top_p_filter(scores, 1e-9), expected)
    assert int((~torch.isinf(expected[0])).sum()) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_dtypes_match(dtype):
    gen = torch.Generator().manual_seed(3)
    scores = (torch.randn(2, 3000, generator=gen) * 5).to(dtype)
    assert same(top_p_filter(scores, 0.9), top_p_reference(scores, 0.9))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_batch_of_text_rows_matches_row_by_row_and_the_reference(dtype, reference_calls):
    """Eight text-vocabulary rows at once (the batched dialogue sampler: temperature 0.6,
    top-p 0.95): the same bits as the reference, and as each row filtered alone."""
    gen = torch.Generator().manual_seed(6)
    scores = ((torch.randn(8, 151680, generator=gen) * 2.5).to(dtype) / 0.6)
    got = top_p_filter(scores, 0.95)
    assert same(got, top_p_reference(scores, 0.95))
    assert same(got, torch.cat([top_p_filter(scores[i : i + 1], 0.95) for i in range(8)]))


@pytest.mark.parametrize("cfg", [SamplerConfig(temperature=0.6, top_p=0.95),
                                 SamplerConfig(temperature=0.9, top_k=50, top_p=0.8),
                                 SamplerConfig(temperature=1.3, top_p=1.0)])
def test_process_logits_is_the_same_with_either_filter(cfg):
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 151680, generator=gen) * 6
    assert same(process_logits(logits, cfg), process_logits(logits, cfg, top_p_reference))


def test_degenerate_rows_match():
    rows = torch.tensor([[float("-inf")] * 6,
                         [0.0, float("nan"), 1.0, 2.0, 3.0, 4.0],
                         [-0.0, 0.0, -0.0, 0.0, 1.0, 1.0],
                         [float("inf"), 0.0, 1.0, 2.0, 3.0, 4.0]])
    for p in (0.1, 0.5, 0.95):
        assert torch.equal(torch.isnan(top_p_filter(rows, p)), torch.isnan(top_p_reference(rows, p)))
        fast, ref = top_p_filter(rows, p).nan_to_num(nan=7.0), top_p_reference(rows, p).nan_to_num(nan=7.0)
        assert same(fast, ref)


# ---- ties="index": boundary ties dropped by token id (the stable sort's order), no index sort ----

def stable_reference(scores, p):
    return top_p_reference(scores, p, stable=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_index_ties_equal_the_stable_sort_without_falling_back(dtype, reference_calls):
    gen = torch.Generator().manual_seed(7)
    tie_heavy = torch.randint(0, 6, (5, 4000), generator=gen).to(dtype)          # long runs of equal scores
    text_rows = ((torch.randn(8, 151680, generator=gen) * 2.5).to(dtype) / 0.6)
    straddled = 0
    for scores in (tie_heavy, text_rows):
        for p in (1e-9, 0.3, 0.6, 0.9, 0.95, 1.0):
            got = top_p_filter(scores, p, ties="index")
            assert same(got, stable_reference(scores, p))
            values = torch.sort(scores).values
            n_drop = int((values.softmax(-1).cumsum(-1)[0] <= 1 - p).sum())
            straddled += 0 < n_drop < scores.shape[1] and bool(values[0, n_drop - 1] == values[0, n_drop])
    assert straddled > 0                           # boundary ties were there to break
    assert reference_calls == []                   # and no row went to a sort


def test_index_ties_keep_as_many_tokens_with_the_same_probabilities_as_the_reference():
    """Only *which* of several equal scores survive can differ from the (unstable) reference."""
    gen = torch.Generator().manual_seed(8)
    scores = ((torch.randn(8, 151680, generator=gen) * 2.5).to(torch.bfloat16) / 0.6)
    ours, reference = top_p_filter(scores, 0.95, ties="index"), top_p_reference(scores, 0.95)
    for row in range(8):
        kept_ours = ours[row][~torch.isinf(ours[row])]
        kept_ref = reference[row][~torch.isinf(reference[row])]
        assert same(torch.sort(kept_ours).values, torch.sort(kept_ref).values)
    assert not same(ours, reference)               # bf16 text rows: the id choice does differ


def test_index_ties_batch_equals_row_by_row():
    gen = torch.Generator().manual_seed(9)
    scores = ((torch.randn(8, 151680, generator=gen) * 2.5).to(torch.bfloat16) / 0.6)
    scores[2, :1000] = float("-inf")
    got = top_p_filter(scores, 0.95, ties="index")
    assert same(got, torch.cat([top_p_filter(scores[i : i + 1], 0.95, ties="index") for i in range(8)]))


def test_index_ties_degenerate_rows_match_the_stable_sort():
    rows = torch.tensor([[float("-inf")] * 6,
                         [0.0, float("nan"), 1.0, 2.0, 3.0, 4.0],
                         [-0.0, 0.0, -0.0, 0.0, 1.0, 1.0],
                         [float("inf"), 0.0, 1.0, 2.0, 3.0, 4.0],
                         [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    for p in (0.1, 0.5, 0.95):
        got, ref = top_p_filter(rows, p, ties="index"), stable_reference(rows, p)
        assert torch.equal(torch.isnan(got), torch.isnan(ref))
        assert same(got.nan_to_num(nan=7.0), ref.nan_to_num(nan=7.0))


def test_the_fast_paths_filter_keeps_reference_bits_in_float32_and_breaks_ties_by_id_in_16_bits():
    gen = torch.Generator().manual_seed(10)
    scores = torch.randint(0, 6, (5, 4000), generator=gen).float()
    assert same(top_p_fast(scores, 0.6), top_p_reference(scores, 0.6))
    for dtype in (torch.bfloat16, torch.float16):     # widened to float32, what the sampler takes
        assert same(top_p_fast(scores.to(dtype), 0.6), stable_reference(scores.to(dtype), 0.6).float())
    with pytest.raises(ValueError, match="ties"):
        top_p_filter(scores, 0.6, ties="random")


# ---- rows as wide as the text vocabulary: counting sort, prefix sums, in-place thresholds ----

def wide_rows(dtype, seed=11):
    """8 text-vocabulary rows: flat ones (the boundary early in the ascending order, inside
    the summed prefix), peaked ones (the boundary past it), and awkward values."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.tensor([[0.3], [0.5], [1.0], [2.5], [6.0], [12.0], [40.0], [0.8]])
    rows = (torch.randn(8, 151680, generator=gen) * scales).to(dtype) / 0.6
    rows[0, :7] = -0.0
    rows[0, 7:12] = 0.0
    rows[1, ::5] = float("-inf")                   # as after a ban or top-k
    rows[2, 100] = torch.finfo(dtype).tiny / 4     # a subnormal
    rows[2, 101] = -torch.finfo(dtype).tiny / 4
    rows[3, 5:9] = rows[3].max()                   # a tie at the top
    return rows


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_wide_rows_sort_to_the_same_values_as_torch_sort(dtype):
    rows = wide_rows(dtype)
    rows[4, 3] = float("inf")
    rows[5, 9] = float("nan")
    expected = torch.sort(rows).values
    got = top_p_module.sorted_values(rows)
    assert got.dtype == dtype and torch.equal(got.isnan(), expected.isnan())
    assert torch.equal(got.nan_to_num(nan=7.0), expected.nan_to_num(nan=7.0))   # -0.0 == +0.0 here
    if dtype != torch.float32:
        assert top_p_module.COUNTING_SORT_MIN <= rows.shape[-1]            # the counting sort ran


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_the_fast_filter_on_wide_rows_equals_the_filter_bit_for_bit(dtype, reference_calls, monkeypatch):
    rows = wide_rows(dtype)
    sixteen = dtype != torch.float32
    ties = "index" if sixteen else "reference"
    summed = []
    original = top_p_module._count_at_most

    def spy(probs, limit):
        count = original(probs, limit)
        summed.extend(count.tolist())
        return count

    monkeypatch.setattr(top_p_module, "_count_at_most", spy)
    for p in (1e-9, 0.5, 0.9, 0.95, 0.999):
        got = top_p_fast(rows, p)
        expected = top_p_filter(rows, p, ties)
        expected = expected.float() if sixteen else expected
        # bit for bit (torch.equal would let -0.0 pass for +0.0)
        assert got.dtype == expected.dtype and torch.equal(got.view(torch.int32), expected.view(torch.int32))
        assert torch.equal(got, stable_reference(rows, p).to(got.dtype) if sixteen else top_p_reference(rows, p))
    # boundaries inside the summed prefix and past it were both exercised
    assert min(summed) < top_p_module.PREFIX < max(summed)
    if sixteen:
        assert reference_calls == []                                      # no row went to a sort


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_the_fast_filter_sends_degenerate_wide_rows_to_the_reference(dtype):
    rows = wide_rows(dtype)[:4].clone()
    rows[0, 10] = float("nan")
    rows[1, 10] = float("inf")
    rows[2] = float("-inf")
    stable = dtype != torch.float32
    for p in (0.5, 0.95):
        got = top_p_fast(rows, p)
        expected = top_p_reference(rows, p, stable=stable).to(got.dtype)
        assert torch.equal(got.isnan(), expected.isnan())
        assert torch.equal(got.nan_to_num(nan=7.0), expected.nan_to_num(nan=7.0))
