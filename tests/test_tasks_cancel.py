"""Stop takes effect at once for the consumer too: after the cancel event is set, the groups the
engine had already made are not decoded or sent; the final (cancelled) result comes next."""

from __future__ import annotations

import threading
import time

import pytest

from mimo_core.tasks import ChatRequest, GenerationOptions, MimoAudio, TTSRequest


@pytest.mark.parametrize("make", [
    lambda: TTSRequest(text="A long story, read slowly.", options=GenerationOptions(seed=1, min_new_groups=2000,
                                                                                      max_new_groups=2000)),
    lambda: ChatRequest(text="Tell me everything.", options=GenerationOptions(seed=1, min_new_groups=2000,
                                                                             max_new_groups=2000)),
], ids=["tts", "chat"])
def test_a_slow_consumer_gets_the_cancelled_result_next(mimo, make):
    cancel = threading.Event()
    events = mimo.stream(make(), cancel=cancel)
    for _ in range(5):                      # a slow consumer: the engine runs ahead of it
        next(events)
        time.sleep(0.2)
    cancel.set()
    after = list(events)
    assert after[-1].result is not None and after[-1].result.stop_reason == "cancelled"
    assert len(after) == 1, f"{len(after) - 1} buffered updates were still sent after Stop"
    result = after[-1].result
    # the result is still the one output rule over every group made (tokens and text agree)
    assert result.tokens.shape[1] == result.prompt_columns + 4 * result.new_groups
    assert result.new_groups > 5
