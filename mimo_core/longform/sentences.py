"""Where a text may be cut, from the strongest break to the weakest, and how long a piece is.

All functions take ``(text, start, end)`` and return cut positions inside ``text[start:end]``
(indices into ``text``; a position ``p`` cuts between ``text[p - 1]`` and ``text[p]``), so that
every piece keeps its character span in the original text.

Breaks, strongest first:

1. paragraph: a blank line (a newline, optional spaces, a newline);
2. line break: a single newline after a *short* line (under ``SOFT_BREAK_CHARS``, weighted; a
   heading, a list item, a line of verse) or before a list item (``- ``, ``* ``, ``• ``,
   ``1. ``, ``1) ``). After a longer line a newline is read as hard-wrapping, i.e. a space;
3. sentence end: see :func:`sentence_ends`;
4. clause mark: English ``, ; :`` followed by a space, Chinese ``，、；：`` anywhere;
5. whitespace.

Length is *weighted*: a wide (CJK) character counts ``CJK_WEIGHT`` Latin characters, a run of
whitespace counts one. English is spoken at about 15 characters a second and Chinese at 4-5,
so a CJK character stands for about 2.5-3.5 Latin ones; 2.5 keeps Chinese segments a little
longer in seconds than English ones of the same weight (80 CJK characters are 16-20 s of
speech, 200 Latin characters about 13 s). Example::

    >>> Weights("Hi 你好")(0, 5)
    8.0
"""

from __future__ import annotations

import re
import unicodedata

CJK_WEIGHT = 2.5               # a wide character counts as this many Latin characters
SOFT_BREAK_CHARS = 50          # a line shorter than this (weighted) ends at its newline

CJK_ENDERS = "。！？；"         # always end a sentence (closers may follow)
LATIN_ENDERS = ".!?"
ELLIPSIS = "…"
CLOSERS = "\"'”’»」』）》】〕)]"   # closing quotes and brackets kept with the sentence before
CJK_CLAUSE = "，、；："
LATIN_CLAUSE = ",;:"

# Before a period, these words do not end a sentence (titles before a name, "e.g.").
TITLES = frozenset("mr mrs ms dr prof st mt sr jr rev gen col capt lt sgt gov sen rep hon pres".split())
# Before a period and a number ("No. 5", "Fig. 3", "pp. 10"), these words do not end a sentence.
NUMBER_WORDS = frozenset("no nos vol p pp ch fig figs sec art eq approx".split())

_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_TERMINATOR = re.compile(f"[{re.escape(LATIN_ENDERS + ELLIPSIS + CJK_ENDERS)}]+[{re.escape(CLOSERS)}]*")
_CLAUSE = re.compile(f"(?:[{re.escape(CJK_CLAUSE)}]|[{re.escape(LATIN_CLAUSE)}](?=\\s|$))[{re.escape(CLOSERS)}]*")
_SPACE = re.compile(r"\s+")
_LIST_ITEM = re.compile(r"[^\S\n]*(?:[-*•]|\d{1,3}[.)])\s")
_WORD_BEFORE = re.compile(r"(?:^|(?<=[^A-Za-z.]))([A-Za-z]+(?:\.[A-Za-z]+)*)$")


def is_wide(ch: str) -> bool:
    """True for a wide or full-width character (CJK ideographs, kana, hangul, 。，)."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


class Weights:
    """Weighted length of any span of one text in O(1), from prefix sums.

    ``Weights(text)(start, end)`` for a span that starts on a non-space character.
    """

    def __init__(self, text: str):
        prefix, total, prev_space = [0.0], 0.0, False
        for ch in text:
            space = ch.isspace()
            if not (space and prev_space):
                total += 1.0 if space else (CJK_WEIGHT if is_wide(ch) else 1.0)
            prefix.append(total)
            prev_space = space
        self._prefix = prefix

    def __call__(self, start: int, end: int) -> float:
        return self._prefix[end] - self._prefix[start]


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` moved inwards past whitespace (``start == end`` when blank)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def cut(text: str, start: int, end: int, positions) -> list[tuple[int, int]]:
    """``text[start:end]`` cut at sorted ``positions``: the non-blank pieces, each stripped."""
    pieces, prev = [], start
    for p in list(positions) + [end]:
        s, e = strip_span(text, prev, p)
        if s < e:
            pieces.append((s, e))
        prev = p
    return pieces


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of the paragraphs (separated by blank lines), stripped, blank ones dropped."""
    return cut(text, 0, len(text), [m.start() for m in _PARAGRAPH.finditer(text)])


def line_breaks(text: str, start: int, end: int, weights: Weights) -> list[int]:
    """Newlines that end a line of their own (break 2 above), as cut positions."""
    ends = set(sentence_ends(text, start, end))
    cuts, line_start = [], start
    for m in re.finditer(r"\n", text[start:end]):
        nl = start + m.start()
        s, e = strip_span(text, line_start, nl)
        line_start = nl + 1
        if s == e or e in ends:
            continue
        if weights(s, e) < SOFT_BREAK_CHARS or _LIST_ITEM.match(text, nl + 1, end):
            cuts.append(nl)
    return cuts


def _next_visible(text: str, pos: int, end: int) -> str:
    """The first non-space character at or after ``pos`` (before ``end``), or ''."""
    while pos < end and text[pos].isspace():
        pos += 1
    return text[pos] if pos < end else ""


def _ends_here(text: str, m: re.Match, end: int) -> bool:
    """Whether the terminator run ``m`` ends a sentence (see :func:`sentence_ends`)."""
    run = m.group(0).rstrip(CLOSERS)
    after = text[m.end()] if m.end() < end else ""
    nxt = _next_visible(text, m.end(), end)
    if any(c in CJK_ENDERS for c in run):
        return True
    if not nxt:
        return True
    if not (after.isspace() or is_wide(after)):
        return False                                   # 3.14, www.x.org, Yahoo!com
    if nxt.islower():
        return False                                   # approx. five / Wait... what / "Stop!" she
    if "!" in run or "?" in run:
        return True
    if run != ".":
        return True                                    # an ellipsis before a capital or CJK
    word = _WORD_BEFORE.search(text, max(0, m.start() - 24), m.start())
    if word is None:
        return True                                    # after a digit, a quote, CJK...
    w = word.group(1)
    if "." in w or w.lower() in TITLES:
        return False                                   # e.g. / U.S. / Mr.
    if len(w) == 1 and w.isupper():
        return False                                   # an initial: J. R. R. Tolkien
    return not (w.lower() in NUMBER_WORDS and nxt.isdigit())


def sentence_ends(text: str, start: int, end: int) -> list[int]:
    """Cut positions after each sentence end inside ``text[start:end]``.

    A sentence ends after a run of ``. ! ? … 。 ！ ？ ；`` plus any closing quotes/brackets:

    * a run with a CJK ender (``。！？；``) always ends one;
    * otherwise the run must be followed by whitespace, a wide character or the end, and the
      next visible character must not be lower-case (``approx. five``, ``Wait... what``,
      ``"Stop!" she said``); then ``!``, ``?`` and ellipses end one;
    * a single ``.`` does not end one after a title (``Mr.``), a dotted abbreviation
      (``e.g.``, ``U.S.``), an initial (``J.``) or a number word before a number (``No. 5``).

    >>> t = 'Mr. Smith paid $3.14. "Why?" he asked... Then left. 好。'
    >>> [t[p - 8:p] for p in sentence_ends(t, 0, len(t))]
    ['d $3.14.', 'asked...', 'en left.']
    """
    return [m.end() for m in _TERMINATOR.finditer(text, start, end)
            if m.end() < end and _ends_here(text, m, end)]


def clause_ends(text: str, start: int, end: int) -> list[int]:
    """Cut positions after clause marks (``, ; :`` + space; ``，、；：``), not in ``3,000``."""
    return [m.end() for m in _CLAUSE.finditer(text, start, end) if m.end() < end]


def space_cuts(text: str, start: int, end: int) -> list[int]:
    """Cut positions at each run of whitespace inside ``text[start:end]``."""
    return [m.start() for m in _SPACE.finditer(text, start, end)]


def spoken(raw: str) -> str:
    """Whitespace runs collapsed: to nothing between two wide characters, else to one space.

    >>> spoken("Hello\\n  world. 你\\n好")
    'Hello world. 你好'
    """
    def join(m: re.Match) -> str:
        s, e = m.start(), m.end()
        if 0 < s and e < len(raw) and is_wide(raw[s - 1]) and is_wide(raw[e]):
            return ""
        return " "
    return _SPACE.sub(join, raw.strip())
