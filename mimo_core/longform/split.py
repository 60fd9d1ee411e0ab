"""Cut a long text (a chapter, any language) into segments the model speaks one at a time.

``split_text(text)`` returns :class:`Segment` s in reading order. Each has the text to speak
(whitespace collapsed), its character span ``[start, end)`` in the original text (so a UI can
highlight it) and ``paragraph_end`` (a longer pause follows). The rules, in order:

1. Paragraphs (blank lines) are never merged; the last segment of each has ``paragraph_end``.
2. Inside a paragraph, a newline after a short line (a heading, a list item, a line of verse;
   under ``SOFT_BREAK_CHARS``) or before a list item is a *line break*: it ends a segment like a
   sentence end does, but segments are not merged across it either (a line without final
   punctuation cannot be read run into the next). A newline after a longer line is
   hard-wrapping and reads as a space.
3. Sentences (:func:`.sentences.sentence_ends`: abbreviations, decimals, ellipses, quotes,
   Chinese ``。！？；…``) are merged while the merged segment stays within ``target_chars``.
4. A sentence over ``max_chars`` is cut at clause marks (``, ; :`` / ``，、；：``), a clause
   still over it at whitespace, and a run with neither (CJK without punctuation) is cut into
   the fewest pieces of at most ``max_chars``, of near-equal weight; the pieces are then merged as in 3.
5. A segment under ``min_chars`` joins its previous (else next) neighbour when the two fit
   within ``max_chars``, never across a paragraph or line break.

Lengths are *weighted* (:class:`.sentences.Weights`: a CJK character counts 2.5 Latin ones).
Why the defaults: the LM speaks 6.25 groups a second; English runs at ~15 characters a second
(Chinese 4-5), so the target of 200 (~13 s English, 80 CJK characters ~16-20 s) is ~80-125
groups of speech and the cap of 300 (120 CJK characters) ~20-27 s, ~125-170 groups: far inside
the 8192-group context with any voice prompt, short enough that a long generation does not
drift, that the first audio comes quickly, and that regenerating one segment is cheap.

>>> [(s.text, s.paragraph_end) for s in split_text("Dr. Lee arrived. It was 3.5 km.\\n\\n好的。", target_chars=20, min_chars=5)]
[('Dr. Lee arrived.', False), ('It was 3.5 km.', True), ('好的。', True)]

Text checks and file reading (``check_long_text``, ``read_text_file``) live in
:mod:`.textin` and are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import PromptError
from .sentences import (CJK_WEIGHT, Weights, clause_ends, cut, line_breaks, paragraphs,
                        sentence_ends, space_cuts, spoken)
from .textin import MAX_TEXT_CHARS, check_long_text, read_text_file  # noqa: F401 - re-exported

TARGET_CHARS = 200      # weighted: merge sentences up to ~13 s of English / 80 CJK characters
MAX_CHARS = 300         # weighted: a segment never exceeds ~20 s of English / 120 CJK characters
MIN_CHARS = 40          # weighted: shorter segments join a neighbour when they fit

Span = tuple[int, int]


@dataclass(frozen=True)
class Segment:
    """One piece to speak: ``text`` is ``original[start:end]`` with whitespace collapsed."""

    index: int
    text: str
    start: int
    end: int
    paragraph_end: bool     # a paragraph (or the text) ends here: a longer pause follows


def split_text(text: str, *, target_chars: float = TARGET_CHARS, max_chars: float = MAX_CHARS,
               min_chars: float = MIN_CHARS) -> list[Segment]:
    """Segments of ``text`` (see the module docstring); ``[]`` for blank text.

    The spans are disjoint, in order, and together cover every non-space character of ``text``;
    every segment's weighted length is at most ``max_chars``.
    """
    if not isinstance(text, str):
        raise PromptError(f"text must be a string, got {type(text).__name__}")
    if not 0 < min_chars <= target_chars <= max_chars or max_chars < CJK_WEIGHT:
        raise ValueError(f"need 0 < min_chars <= target_chars <= max_chars (>= {CJK_WEIGHT}), "
                         f"got {min_chars}, {target_chars}, {max_chars}")
    weights = Weights(text)
    segments: list[Segment] = []
    for p_start, p_end in paragraphs(text):
        spans: list[Span] = []
        for b_start, b_end in cut(text, p_start, p_end, line_breaks(text, p_start, p_end, weights)):
            pieces: list[Span] = []
            for sentence in cut(text, b_start, b_end, sentence_ends(text, b_start, b_end)):
                pieces += _fit(text, weights, sentence, max_chars)
            spans += _absorb_short(_pack(pieces, weights, target_chars), weights, min_chars, max_chars)
        for j, (s, e) in enumerate(spans):
            segments.append(Segment(len(segments), spoken(text[s:e]), s, e, j == len(spans) - 1))
    return segments


def weighted_length(text: str) -> float:
    """The weighted length of a whole text (whitespace runs count one, CJK 2.5)."""
    start, end = 0, len(text)
    stripped = text.strip()
    if stripped:
        start = text.index(stripped[0])
        end = start + len(stripped)
    return Weights(text)(start, end)


def _fit(text: str, weights: Weights, span: Span, max_w: float, level: int = 0) -> list[Span]:
    """``span`` cut into pieces of at most ``max_w``: at clause marks, then spaces, then hard."""
    if weights(*span) <= max_w:
        return [span]
    finders = (clause_ends, space_cuts)
    for depth in range(level, len(finders)):
        parts = cut(text, *span, finders[depth](text, *span))
        if len(parts) > 1:
            return [piece for part in parts for piece in _fit(text, weights, part, max_w, depth + 1)]
    return _hard_cut(weights, span, max_w)


def _hard_cut(weights: Weights, span: Span, max_w: float) -> list[Span]:
    """The fewest pieces of at most ``max_w``, cut where the weight nears ``k * total / n``."""
    start, end = span
    total = weights(start, end)
    n = math.ceil(total / max_w)
    cuts, i = [start], start
    for k in range(1, n):
        limit = min(k * total / n, weights(start, cuts[-1]) + max_w)
        while i + 1 < end and weights(start, i + 1) <= limit:
            i += 1
        cuts.append(i)
    cuts.append(end)
    pieces = list(zip(cuts[:-1], cuts[1:]))
    if all(weights(s, e) <= max_w for s, e in pieces) and all(s < e for s, e in pieces):
        return pieces
    pieces, piece_start = [], start                                   # uneven weights: greedy
    for i in range(start + 1, end + 1):
        if weights(piece_start, i) > max_w:
            pieces.append((piece_start, i - 1))
            piece_start = i - 1
    return pieces + [(piece_start, end)]


def _pack(pieces: list[Span], weights: Weights, target: float) -> list[Span]:
    """Consecutive pieces merged greedily while the merged span weighs at most ``target``."""
    packed: list[Span] = []
    for piece in pieces:
        if packed and weights(packed[-1][0], piece[1]) <= target:
            packed[-1] = (packed[-1][0], piece[1])
        else:
            packed.append(piece)
    return packed


def _absorb_short(spans: list[Span], weights: Weights, min_w: float, max_w: float) -> list[Span]:
    """Spans under ``min_w`` merged into the previous span, else the next, when within ``max_w``."""
    spans, i = list(spans), 0
    while i < len(spans):
        s, e = spans[i]
        if weights(s, e) < min_w:
            if i > 0 and weights(spans[i - 1][0], e) <= max_w:
                spans[i - 1:i + 1] = [(spans[i - 1][0], e)]
                continue
            if i + 1 < len(spans) and weights(s, spans[i + 1][1]) <= max_w:
                spans[i:i + 2] = [(s, spans[i + 1][1])]
                continue
        i += 1
    return spans
