"""Engine behaviour on a random tiny LM (no fixtures needed): batching, streaming,
cancellation, the scheduler, stop rules and request validation."""

import threading

import pytest
import torch

from mimo_core.engine import Engine, GenerationRequest, GenerationResult, GroupEvent, SamplerConfig, StopReason
from mimo_core.errors import InputTooLongError, PromptError
from mimo_core.lm.tiny import build_tiny_lm
from mimo_core.streams import drain

VOCAB, EMPTY, STOP_A, STOP_B = 512, 500, 501, 502
EMPTY_CODES = (1024, 1024, 128, 128, 128, 128, 128, 128)
GREEDY = SamplerConfig(greedy=True)
SAMPLED = SamplerConfig(temperature=0.9, top_k=50, top_p=0.95)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    # <|empty|> made likely so the patch decoder runs often; stop ids likely enough to fire
    return build_tiny_lm(VOCAB, seed=5, row_norms={EMPTY: 9.0, STOP_A: 4.0, STOP_B: 4.0})


def make_prompt(groups: int, seed: int, speech_every: int = 3) -> torch.Tensor:
    """A [9, 4*groups] prompt: text groups (filler -100 in columns 1..3) and speech groups."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.empty(9, 4 * groups, dtype=torch.long)
    ids[1:] = torch.tensor(EMPTY_CODES)[:, None]
    for g in range(groups):
        cols = slice(4 * g, 4 * g + 4)
        ids[0, cols] = -100
        if g % speech_every == speech_every - 1:
            ids[0, 4 * g] = EMPTY
            for c, empty in enumerate(EMPTY_CODES):
                ids[c + 1, cols] = torch.randint(0, empty, (4,), generator=gen)
        else:
            ids[0, 4 * g] = int(torch.randint(0, 499, (1,), generator=gen))
    return ids


def request(groups, seed, sampler=GREEDY, max_new=12, stops=(STOP_A,), min_new=0, req_seed=None):
    return GenerationRequest(make_prompt(groups, seed), sampler, sampler, frozenset(stops), max_new,
                             min_new, req_seed)


def test_batch_of_three_different_prompts_equals_each_alone(model):
    reqs = [request(5, 1, max_new=14), request(11, 2, max_new=9, stops=(STOP_B,)), request(8, 3, stops=())]
    engine = Engine(model, EMPTY, max_batch=3)
    alone = [engine.generate(r) for r in reqs]
    batched = engine.generate_batch(reqs)
    for a, b in zip(alone, batched):
        assert torch.equal(a.generated_ids, b.generated_ids)
        assert (a.stop_reason, a.stop_token, a.new_groups) == (b.stop_reason, b.stop_token, b.new_groups)
    assert len({r.new_groups for r in batched}) > 1                   # rows finished on their own
    speech = torch.cat([r.new_ids[0, ::4] for r in batched]) == EMPTY
    assert speech.any() and not speech.all()                           # both kinds of group occurred


def test_only_a_steps_speech_rows_run_the_patch_decoder(model, monkeypatch):
    """Rows that write text in a step take no part in its patch decoder (the local transformer
    runs on the speech rows only), and every row still equals its request run alone."""
    import mimo_core.engine.batch as batch_module

    calls = []                                     # (plan, rows) of every step_stack call
    original = batch_module.step_stack

    def spy(plan, embeds, *args, **kwargs):
        calls.append((plan, embeds.shape[0]))
        return original(plan, embeds, *args, **kwargs)

    reqs = [request(5, 21, max_new=10, stops=()), request(7, 22, max_new=10, stops=()),
            request(9, 23, max_new=10, stops=())]
    engine = Engine(model, EMPTY, max_batch=3)
    alone = [engine.generate(r) for r in reqs]
    monkeypatch.setattr(batch_module, "step_stack", spy)
    batched = engine.generate_batch(reqs)
    for a, b in zip(alone, batched):
        assert torch.equal(a.generated_ids, b.generated_ids)
    local = engine._decoder.local_plan
    rows = [n for plan, n in calls if plan is local]
    speech = torch.stack([r.new_ids[0, ::4] == EMPTY for r in batched]).sum(0)   # speech rows per step
    steps = engine._decoder.steps
    assert rows == [int(k) for k in speech if k > 0 for _ in range(steps)]
    assert any(0 < int(k) < len(reqs) for k in speech)                 # a mixed step was exercised


def test_fast_path_tokens_equal_eager_tokens(model):
    fast, eager = Engine(model, EMPTY), Engine(model, EMPTY, fast=False)
    for req in (request(6, 10, max_new=16), request(9, 11, sampler=SAMPLED, req_seed=3, max_new=16)):
        a, b = fast.generate(req), eager.generate(req)
        assert torch.equal(a.generated_ids, b.generated_ids)
        assert a.stop_reason == b.stop_reason


def test_eager_attention_backend_gives_the_same_tokens(model):
    req = request(7, 4, max_new=10)
    sdpa = Engine(model, EMPTY).generate(req)
    model.set_attention("eager")
    try:
        eager_attn = Engine(model, EMPTY).generate(req)
    finally:
        model.set_attention("sdpa")
    assert torch.equal(sdpa.generated_ids, eager_attn.generated_ids)


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(model):
    engine = Engine(model, EMPTY, max_batch=4)
    req = request(6, 7, sampler=SAMPLED, max_new=16, stops=(), req_seed=1234)
    first, second = engine.generate(req), engine.generate(req)
    assert torch.equal(first.generated_ids, second.generated_ids) and first.seed == 1234
    others = [request(9, 8, sampler=SAMPLED, req_seed=9), request(4, 9, max_new=5)]
    batched = engine.generate_batch([others[0], req, others[1]])
    assert torch.equal(batched[1].generated_ids, first.generated_ids)
    unseeded = engine.generate(request(6, 7, sampler=SAMPLED, max_new=16, stops=()))
    replay = engine.generate(request(6, 7, sampler=SAMPLED, max_new=16, stops=(), req_seed=unseeded.seed))
    assert torch.equal(unseeded.generated_ids, replay.generated_ids)


def test_stream_yields_each_group_then_the_result_and_can_be_cancelled(model):
    engine = Engine(model, EMPTY)
    stream = engine.stream(request(5, 12, max_new=30, stops=()))
    seen = []
    for item in stream:
        if isinstance(item, GroupEvent):
            assert item.codes.shape == (4, 8) and item.index == len(seen)
            if item.text_id != EMPTY:
                assert item.codes.tolist() == [list(EMPTY_CODES)] * 4
            seen.append(item)
            if len(seen) == 3:
                stream.cancel()
        else:
            result = item
    assert isinstance(result, GenerationResult) and result is stream.result
    assert result.stop_reason is StopReason.CANCELLED and result.new_groups == 3
    assert [int(result.new_ids[0, 4 * i]) for i in range(3)] == [e.text_id for e in seen]
    # the engine is free again
    assert engine.generate(request(5, 12, max_new=2, stops=())).new_groups == 2


def test_scheduler_serves_concurrent_callers_like_generate(model):
    engine = Engine(model, EMPTY, max_batch=2)
    reqs = [request(4 + i, 20 + i, max_new=6 + i) for i in range(4)]
    expected = [engine.generate(r) for r in reqs]
    results = [None] * 4
    with engine.scheduler() as scheduler:
        def call(i):
            results[i] = drain(scheduler.submit(reqs[i]))
        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert scheduler.active_count == 0 and scheduler.waiting_count == 0
    for got, want in zip(results, expected):
        assert torch.equal(got.generated_ids, want.generated_ids)


def test_cancelling_frees_the_slot_for_the_next_request(model):
    engine = Engine(model, EMPTY)
    with engine.scheduler(max_batch=1) as scheduler:
        long_run = scheduler.submit(request(5, 30, max_new=500, stops=()))
        queued = scheduler.submit(request(6, 31, max_new=4, stops=()))
        never = scheduler.submit(request(6, 32, max_new=4, stops=()))
        never.cancel()                                   # cancelled while still waiting
        it = iter(long_run)
        first = next(it)
        assert isinstance(first, GroupEvent)
        assert scheduler.active_count == 1 and queued.result is None
        long_run.cancel()
        rest = list(it)
        assert rest[-1].stop_reason is StopReason.CANCELLED and rest[-1].new_groups < 500
        done = drain(queued)                             # got the freed slot and ran to its end
        assert done.stop_reason is StopReason.MAX_NEW_GROUPS and done.new_groups == 4
        skipped = drain(never)
        assert skipped.stop_reason is StopReason.CANCELLED and skipped.new_groups == 0


def test_min_new_groups_bans_stop_ids_until_reached(model):
    engine = Engine(model, EMPTY)
    stops = tuple(i for i in range(VOCAB) if i != EMPTY)   # every text id but <|empty|> stops
    early = engine.generate(request(5, 40, max_new=20, stops=stops))
    assert early.stop_reason is StopReason.STOP_TOKEN and early.new_groups < 6
    late = engine.generate(request(5, 40, max_new=20, stops=stops, min_new=6))
    text = late.new_ids[0, ::4].tolist()
    assert text[:6] == [EMPTY] * 6                         # only <|empty|> was allowed
    assert late.stop_reason is StopReason.STOP_TOKEN and late.stop_token == text[-1] != EMPTY
    assert all(t == EMPTY for t in text[:-1])


def test_context_limit_stops_generation_and_rejects_long_prompts(model):
    for fast in (True, False):
        engine = Engine(model, EMPTY, fast=fast, context_groups=8)
        result = engine.generate(request(5, 50, max_new=20, stops=()))
        assert result.stop_reason is StopReason.CONTEXT_LIMIT and result.new_groups == 3
        with pytest.raises(InputTooLongError):
            engine.generate(request(8, 50, stops=()))


@pytest.mark.parametrize("bad", [
    lambda p: p[:8],                        # 8 rows instead of 9
    lambda p: p[:, :6],                     # not a multiple of 4 columns
    lambda p: p.float(),                    # not integer ids
    lambda p: p.index_put_((torch.tensor(3), torch.tensor(0)), torch.tensor(129)),   # code out of range
    lambda p: p.index_put_((torch.tensor(0), torch.tensor(0)), torch.tensor(VOCAB)),  # text out of range
])
def test_invalid_prompts_are_prompt_errors(model, bad):
    req = GenerationRequest(bad(make_prompt(4, 0)), GREEDY, GREEDY, frozenset(), 4)
    with pytest.raises(PromptError):
        Engine(model, EMPTY).generate(req)
