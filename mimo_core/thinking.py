"""Reasoning versus answer in a decoded output (docs/FORMAT.md, "Thinking").

Where the model may think (audio understanding, speech-to-text dialogue and text chat with
``thinking=True``; TTS with a style instruction, a voice prompt or a natural instruction) the
prompt ends with ``<think>\\n``: the model writes its reasoning, closes it with ``</think>``
and then answers. A prompt ending with the empty block ``<think>\\n\\n</think>\\n`` (thinking
off) gets a bare answer. Whether the prompt opened the block is decided once, by planning;
the one output reader (:class:`mimo_core.prompts.extraction.OutputReader`) splits with
:func:`split_thinking`, on text whose markup (special tokens) it already left out. Pure
string functions, no torch.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def split_thinking(text: str, opened: bool = False, *, final: bool = True) -> tuple[str, str]:
    """``(thinking, answer)`` of a decoded output, each stripped.

    ``opened``: the prompt ended with an open think block, so text before any ``</think>`` is
    reasoning (without a ``</think>`` at all the model was stopped while thinking: everything
    is reasoning). Without ``opened``, only an explicit ``<think>...</think>`` block in the
    text counts. A leading ``<think>`` is not part of the reasoning.

    ``final=False``: the text is still growing (a stream). Then both parts are what no
    continuation of the text can change, prefixes of the parts of the finished text: a tail
    that may be the start of ``</think>`` is held back, and so is a text that may be opening
    an explicit block, until it is closed or the text ends.

    >>> split_thinking("step one</think>\\nParis", opened=True)
    ('step one', 'Paris')
    >>> split_thinking("Paris")
    ('', 'Paris')
    >>> split_thinking("step one</th", opened=True, final=False)
    ('step one', '')
    """
    head, closed, tail = text.partition(THINK_CLOSE)
    if closed and (opened or head.lstrip().startswith(THINK_OPEN)):
        return _reasoning(head), tail.strip()
    if not final:
        text = text[:len(text) - _marker_prefix_len(text, THINK_CLOSE)]
        start = text.lstrip()
        if start.startswith(THINK_OPEN) or THINK_OPEN.startswith(start):
            if not opened or len(start) < len(THINK_OPEN):
                return "", ""                   # an explicit block, or its opening tag, arriving
    if opened:
        return _reasoning(text), ""
    return "", text.strip()


def _reasoning(text: str) -> str:
    text = text.strip()
    return text[len(THINK_OPEN):].strip() if text.startswith(THINK_OPEN) else text


def _marker_prefix_len(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0
