"""Thinking: the reasoning is shown apart from the answer; S2T dialogue and text chat take
``thinking`` (their prompt then ends with an open think block), and a conversation continued
after a thinking turn keeps the exact token history the model saw (docs/FORMAT.md, Thinking).
Planning decides once whether the prompt opened the block; the output reader splits once, and
what people see (thinking, answer and their deltas) carries no markup (docs/FORMAT.md section 8)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimo_core.constants import GROUP_SIZE, LM_CHANNELS, SAMPLE_RATE
from mimo_core.prompts import RELEASE_SPEECH_EMPTY_IDS, extract_output
from mimo_core.tasks import ChatRequest, GenerationOptions, MimoAudio, S2TRequest, UnderstandRequest
from mimo_core.tasks.streaming import OutputTracker
from mimo_core.text.special_ids import load_text_tokenizer, markup_ids
from mimo_core.text.tiny_tokenizer import write_tiny_text_tokenizer
from mimo_core.thinking import split_thinking


@pytest.mark.parametrize("text,opened,expected", [
    ("first I listen</think>\nIt is a dog.", True, ("first I listen", "It is a dog.")),
    ("<think>\nhmm\n</think>\n\nYes.", False, ("hmm", "Yes.")),        # an explicit block
    ("still thinking when stopped", True, ("still thinking when stopped", "")),
    ("A plain answer.", False, ("", "A plain answer.")),
    ("a plain answer with </think> inside", False, ("", "a plain answer with </think> inside")),
    ("", True, ("", "")),
    # once the OpenAI route's own splitter's cases: one reader splits for every consumer now
    ("<think>\nwhy</think>answer", True, ("why", "answer")),
    ("a < b </think> yes", True, ("a < b", "yes")),
    ("still thinking</th", True, ("still thinking</th", "")),
    ("plain answer</think>", False, ("", "plain answer</think>")),
])
def test_split_thinking(text, opened, expected):
    assert split_thinking(text, opened) == expected


SPLIT_TEXTS = [("first I listen</think>\nIt is a dog.", True), ("<think>\nhmm\n</think>\n\nYes.", False),
               ("<think>\nhmm, still", True), ("<think>never closed", False), ("a </thin b </think> c", True),
               ("a </think> b", False), (" \n calm </think>\n\n Hello  there \n", True), ("<th", True),
               ("<think>\nwhy</think>answer", True), ("a < b </think> yes", True), ("still thinking</th", True),
               ("step one, then two</think>\n\nParis is the capital.", True)]


@pytest.mark.parametrize("text,opened", SPLIT_TEXTS)
def test_a_growing_text_splits_into_parts_that_only_grow(text, opened):
    """While the text streams in, each part is a prefix of the finished text's part, so deltas
    can be sent as they come and add up to the result."""
    final = split_thinking(text, opened)
    shown = ("", "")
    for end in range(len(text) + 1):
        now = split_thinking(text[:end], opened, final=False)
        assert all(f.startswith(n) for n, f in zip(now, final)), (text[:end], now, final)
        assert all(n.startswith(s) for s, n in zip(shown, now)), (text[:end], shown, now)
        shown = now


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory):
    return load_text_tokenizer(write_tiny_text_tokenizer(tmp_path_factory.mktemp("tiny_tok")))


def _groups(tokenizer, ids, pieces):
    """Text ids of ``pieces``: strings (ordinary tokens) or SpecialIds field names (markup)."""
    out = []
    for piece in pieces:
        if piece.startswith("|"):
            out.append(getattr(ids, piece[1:]))
        else:
            out += tokenizer(piece, add_special_tokens=False)["input_ids"]
    return out


MARKED_UP = {        # the model's text ids with markup in them (what the reader must not show)
    "tts_think": (True, ["calm and slow</think>\n", "|sostm", "Hello", "|eot", " there", "|eostm", "|im_end"],
                  ("calm and slow", "Hello there")),
    "asr": (False, ["|sosp", "Hi", "|eosp", " you", "|im_start", "|endoftext"], ("", "Hi you")),
    "chat_think": (True, ["Let", "|sostm", " me think", "|eosp", "</think>\n\n", "|sosp", "Paris", "|im_end"],
                   ("Let me think", "Paris")),
}


@pytest.mark.parametrize("case", MARKED_UP)
def test_the_reader_splits_once_and_people_see_no_markup(case, tiny_text):
    """The exact text keeps every special token (goldens compare it); the thinking and answer
    deltas and fields have none, and the deltas add up to the fields."""
    tokenizer, ids = tiny_text
    opened, pieces, (thinking, answer) = MARKED_UP[case]
    text_ids = _groups(tokenizer, ids, pieces)
    empty = torch.tensor(RELEASE_SPEECH_EMPTY_IDS).expand(GROUP_SIZE, LM_CHANNELS)        # (P, C) a text group
    tracker = OutputTracker(tokenizer, ids, RELEASE_SPEECH_EMPTY_IDS, speaks=False, speech_open=False,
                            opened_thinking=opened)
    updates = [tracker.push(t, empty) for t in text_ids] + [tracker.finish()]
    out = tracker.output()
    assert (out.thinking, out.answer) == (thinking, answer)
    assert "".join(u.thinking for u in updates) == thinking and "".join(u.answer for u in updates) == answer
    assert "".join(u.text for u in updates) == out.text
    markup = [tokenizer.convert_ids_to_tokens(i) for i in markup_ids(tokenizer, ids)]
    shown = [u.thinking + u.answer for u in updates]
    assert not [m for m in markup for piece in shown if m in piece]
    kept = [tokenizer.convert_ids_to_tokens(i) for i in text_ids[:-1] if i in markup_ids(tokenizer, ids)]
    assert kept and all(m in out.text for m in kept if m not in ("<|empty|>", "<|eot|>", "<|eostm|>"))
    # the one-shot replay is the same reader: the same fields
    replay = extract_output(torch.as_tensor(_as_new_ids(text_ids)), tokenizer, ids, opened_thinking=opened)
    assert (replay.text, replay.thinking, replay.answer) == (out.text, out.thinking, out.answer)


def _as_new_ids(text_ids):
    cols = torch.tensor(RELEASE_SPEECH_EMPTY_IDS)[:, None].expand(LM_CHANNELS, GROUP_SIZE * len(text_ids))
    row0 = torch.tensor(text_ids).repeat_interleave(GROUP_SIZE)[None]
    return torch.cat([row0, cols], dim=0)                                     # (K, P * G)


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
    planned_on, _, on = mimo.prepare(make(clip, True))
    planned_off, _, off = mimo.prepare(make(clip, False))
    assert _tail(mimo, on).endswith("<|im_start|>assistant\n<think>\n") and planned_on.opens_thinking
    assert _tail(mimo, off).endswith("<|im_start|>assistant\n<think>\n\n</think>\n") and not planned_off.opens_thinking
    assert on.shape[1] < off.shape[1]                   # everything before the think block is shared
    np.testing.assert_array_equal(on[:, :-GROUP_SIZE], off[:, :on.shape[1] - GROUP_SIZE])


def test_thinking_result_and_exact_history(mimo):
    opts = GenerationOptions(seed=3, max_new_groups=6)
    first = mimo.run(ChatRequest(text="Think about cats.", thinking=True, options=opts))
    assert first.opened_thinking
    assert first.thinking + first.answer != "" or first.text == ""
    lm = mimo.models.lm("instruct")
    replay = extract_output(first.tokens[:, first.prompt_columns:], lm.tokenizer, lm.special_ids,
                            lm.empty_ids, opened_thinking=True)
    assert (first.answer, first.thinking, first.text) == (replay.answer, replay.thinking, replay.text)
    streamed = list(mimo.stream(ChatRequest(text="Think about cats.", thinking=True, options=opts)))
    assert "".join(e.thinking_delta for e in streamed) == first.thinking
    assert "".join(e.answer_delta for e in streamed) == first.answer
    second = mimo.run(ChatRequest(text="And dogs?", conversation=first.conversation, options=opts))
    assert not second.opened_thinking
    # the follow-up prompt starts with everything the model saw and said, thinking included
    np.testing.assert_array_equal(second.tokens[:, :first.tokens.shape[1]], first.tokens)
