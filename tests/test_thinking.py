"""Thinking: the reasoning is shown apart from the answer; S2T dialogue and text chat take
``thinking`` (their prompt then ends with an open think block), and a conversation continued
after a thinking turn keeps the exact token history the model saw (docs/FORMAT.md, Thinking)."""

from __future__ import annotations

import numpy as np
import pytest

from mimo_core.constants import GROUP_SIZE, SAMPLE_RATE
from mimo_core.tasks import ChatRequest, GenerationOptions, MimoAudio, S2TRequest, TaskResult, UnderstandRequest
from mimo_core.thinking import split_thinking


@pytest.mark.parametrize("text,opened,expected", [
    ("first I listen</think>\nIt is a dog.", True, ("first I listen", "It is a dog.")),
    ("<think>\nhmm\n</think>\n\nYes.", False, ("hmm", "Yes.")),        # an explicit block
    ("still thinking when stopped", True, ("still thinking when stopped", "")),
    ("A plain answer.", False, ("", "A plain answer.")),
    ("a plain answer with </think> inside", False, ("", "a plain answer with </think> inside")),
    ("calm and slow</think>\n<|sostm|>Hello there", True, ("calm and slow", "Hello there")),
    ("", True, ("", "")),
])
def test_split_thinking(text, opened, expected):
    assert split_thinking(text, opened) == expected


def test_task_result_exposes_thinking_and_answer():
    result = TaskResult(text="why</think>\nbecause", audio=None, tokens=np.zeros((9, 4), np.int64),
                        new_groups=1, stop_reason="stop_token", opened_thinking=True)
    assert (result.thinking, result.answer, result.text) == ("why", "because", "why</think>\nbecause")
    plain = TaskResult(text="because", audio=None, tokens=np.zeros((9, 4), np.int64), new_groups=1,
                       stop_reason="stop_token")
    assert (plain.thinking, plain.answer) == ("", "because")


def _tail(mimo, prompt) -> str:
    lm = mimo.models.lm("instruct")
    ids = [int(i) for i in prompt[0, ::GROUP_SIZE][-40:]]
    return lm.tokenizer.decode(ids, skip_special_tokens=False)


@pytest.fixture(scope="module")
def clip():
    t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
    return ((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE)


@pytest.mark.parametrize("make", [
    lambda clip, on: S2TRequest(audio=clip, thinking=on),
    lambda clip, on: ChatRequest(text="Why is the sky blue?", thinking=on),
    lambda clip, on: UnderstandRequest(audio=clip, question="What is this?", thinking=on),
], ids=["s2t", "chat", "understand"])
def test_thinking_opens_the_think_block(make, mimo, clip):
    _, _, on = mimo.prepare(make(clip, True))
    _, _, off = mimo.prepare(make(clip, False))
    assert _tail(mimo, on).endswith("<|im_start|>assistant\n<think>\n")
    assert _tail(mimo, off).endswith("<|im_start|>assistant\n<think>\n\n</think>\n")
    assert on.shape[1] < off.shape[1]                   # everything before the think block is shared
    np.testing.assert_array_equal(on[:, :-GROUP_SIZE], off[:, :on.shape[1] - GROUP_SIZE])


def test_thinking_result_and_exact_history(mimo):
    opts = GenerationOptions(seed=3, max_new_groups=6)
    first = mimo.run(ChatRequest(text="Think about cats.", thinking=True, options=opts))
    assert first.opened_thinking
    assert first.thinking + first.answer != "" or first.text == ""
    assert first.answer == split_thinking(first.text, True)[1]
    second = mimo.run(ChatRequest(text="And dogs?", conversation=first.conversation, options=opts))
    assert not second.opened_thinking
    # the follow-up prompt starts with everything the model saw and said, thinking included
    np.testing.assert_array_equal(second.tokens[:, :first.tokens.shape[1]], first.tokens)
