"""The delay pattern helpers: the worked example, round trips, the release's 11-step schedule."""

import pytest
import torch

from mimo_core.engine.delay import UNGENERATED, delay, num_steps, schedule, undelay


def test_worked_example_from_the_docstring():
    a, b, c = 10, 20, 30
    codes = torch.tensor([[a + f, b + f, c + f] for f in range(4)])   # (P=4, C=3)
    _ = UNGENERATED
    expected = torch.tensor([
        [a + 0, _, _],
        [a + 1, b + 0, _],
        [a + 2, b + 1, c + 0],
        [a + 3, b + 2, c + 1],
        [_, b + 3, c + 2],
        [_, _, c + 3],
    ])
    assert torch.equal(delay(codes, (0, 1, 2)), expected)
    assert torch.equal(undelay(expected, (0, 1, 2), 4), codes)


def test_release_pattern_takes_eleven_steps_and_round_trips_batched():
    delays = (0, 1, 2, 3, 4, 5, 6, 7)
    assert num_steps(delays, 4) == 11
    codes = torch.randint(0, 128, (3, 4, 8))                 # (B, P, C)
    delayed = delay(codes, delays)
    assert delayed.shape == (3, 11, 8)
    assert torch.equal(undelay(delayed, delays, 4), codes)


def test_schedule_lists_each_channel_frame_once_in_channel_order():
    delays = (0, 1, 2, 3, 4, 5, 6, 7)
    steps = schedule(delays, 4)
    assert len(steps) == 11
    assert steps[0] == ((0, 0),)
    assert steps[3] == ((0, 3), (1, 2), (2, 1), (3, 0))
    assert steps[10] == ((7, 3),)
    emitted = [pair for step in steps for pair in step]
    assert sorted(emitted) == [(c, f) for c in range(8) for f in range(4)]
    for step in steps:
        assert [c for c, _ in step] == sorted(c for c, _ in step)


def test_undelay_rejects_a_slot_never_generated():
    delays = (0, 1)
    delayed = delay(torch.ones(4, 2, dtype=torch.long), delays)
    delayed[2, 1] = UNGENERATED
    with pytest.raises(RuntimeError, match="ungenerated"):
        undelay(delayed, delays, 4)


def test_non_uniform_delays():
    delays = (2, 0)
    codes = torch.arange(8).reshape(4, 2)
    delayed = delay(codes, delays, fill=-5)
    assert delayed[:, 0].tolist() == [-5, -5, 0, 2, 4, 6]
    assert delayed[:, 1].tolist() == [1, 3, 5, 7, -5, -5]
    assert torch.equal(undelay(delayed, delays, 4, check_fill=-5), codes)
