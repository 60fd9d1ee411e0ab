"""Reasoning versus answer in a decoded output (docs/FORMAT.md, "Thinking").

Where the model may think (audio understanding, speech-to-text dialogue and text chat with
``thinking=True``; TTS with a style instruction, a voice prompt or a natural instruction) the
prompt ends with ``<think>\\n``: the model writes its reasoning, closes it with ``</think>``
and then answers. A prompt ending with the empty block ``<think>\\n\\n</think>\\n`` (thinking
off) gets a bare answer. Pure string functions, no torch.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPEECH_OPEN = "<|sostm|>"            # where a thinking TTS turn starts to speak


def split_thinking(text: str, opened: bool = False) -> tuple[str, str]:
    """``(thinking, answer)`` of a decoded output.

    ``opened``: the prompt ended with an open think block, so text before any ``</think>`` is
    reasoning (without a ``</think>`` at all the model was stopped while thinking: everything
    is reasoning). Without ``opened``, only an explicit ``<think>...</think>`` block in the
    text counts. The speech marker ``<|sostm|>`` is dropped from the answer shown to people.

    >>> split_thinking("step one</think>\\nParis", opened=True)
    ('step one', 'Paris')
    >>> split_thinking("Paris")
    ('', 'Paris')
    """
    head, closed, tail = text.partition(THINK_CLOSE)
    if closed and (opened or head.lstrip().startswith(THINK_OPEN)):
        thinking = head.strip()
        if thinking.startswith(THINK_OPEN):
            thinking = thinking[len(THINK_OPEN):].strip()
        return thinking, _answer(tail)
    if opened:
        return text.strip(), ""
    return "", _answer(text)


def _answer(text: str) -> str:
    return text.replace(SPEECH_OPEN, "").strip()
