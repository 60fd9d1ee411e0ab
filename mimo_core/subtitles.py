"""Subtitles and transcripts from timed cues: SRT, WebVTT, OpenAI ``verbose_json``, plain text.

A :class:`Cue` is a stretch of the recording with its text (and optionally its speaker), e.g.
one ASR result per speech segment of a long recording. Cues must be in order, each at least
1 ms long, and must not overlap (touching is fine); times are written in whole milliseconds
(rounded), and checked after rounding. Cues whose text is blank are left out of every output.

Display: a cue is kept whole (its sub-timings are unknown, so a 30 s cue stays one 30 s cue),
and its text is wrapped for reading at ``LINE_CHARS`` columns (a CJK character takes two
columns; words are not broken; CJK closing punctuation never starts a line). ``-->`` inside a
text is written ``->`` so that no text line can read as a timing line.

* SRT: ``1``, ``00:00:01,000 --> 00:00:02,500``, the text lines, a blank line; a speaker is a
  ``Alice: `` prefix.
* WebVTT: ``WEBVTT``, a blank line, then ``00:00:01.000 --> 00:00:02.500`` and the text lines
  per cue; a speaker is a voice span ``<v Alice>``; ``& < >`` are escaped as the format needs.
* ``verbose_json``: OpenAI's transcription shape (``TranscriptionVerbose`` of the ``openai``
  SDK), see :func:`to_verbose_json`. Speakers have no place in it and are left out.
* text: the cue texts as paragraphs: a new paragraph when the speaker changes or after a
  silence of ``PARAGRAPH_GAP_S``; a speaker is a ``Alice: `` prefix on their paragraph.

>>> print(to_srt([Cue(0.5, 2.0, "Hello there.", "Alice"), Cue(2.0, 3.25, "Hi!")]), end="")
1
00:00:00,500 --> 00:00:02,000
Alice: Hello there.
<BLANKLINE>
2
00:00:02,000 --> 00:00:03,250
Hi!
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

from .longform.sentences import is_wide

LINE_CHARS = 42                 # columns per subtitle line (the common broadcast guideline)
PARAGRAPH_GAP_S = 2.0           # a silence this long starts a new paragraph in the text transcript
NO_BREAK_BEFORE = "，。！？；：、」』）》】〕”’…,.!?;:)]"   # never first on a wrapped line

# verbose_json fields this pipeline cannot measure, and the neutral values written for them:
NEUTRAL_TEMPERATURE = 0.0       # the ASR task decodes its text greedily
NEUTRAL_AVG_LOGPROB = 0.0       # no log-probabilities are kept; 0.0 passes the "< -1 failed" check
NEUTRAL_NO_SPEECH_PROB = 0.0    # every cue is a stretch the voice detector found speech in


@dataclass(frozen=True)
class Cue:
    """``text`` spoken from ``start_s`` to ``end_s`` (seconds in the recording), by ``speaker``."""

    start_s: float
    end_s: float
    text: str
    speaker: Optional[str] = None


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def check_cues(cues: Iterable[Cue]) -> list[Cue]:
    """The cues with blank text left out; ValueError naming the cue for bad or overlapping times."""
    kept, prev_end = [], 0
    for i, cue in enumerate(cues):
        if not all(isinstance(t, (int, float)) and math.isfinite(t) for t in (cue.start_s, cue.end_s)):
            raise ValueError(f"cue {i}: times must be finite numbers, got {cue.start_s!r} and {cue.end_s!r}")
        start, end = _ms(cue.start_s), _ms(cue.end_s)
        if start < 0 or end <= start:
            raise ValueError(f"cue {i}: needs 0 <= start < end (in whole ms), got {cue.start_s} and {cue.end_s}")
        if start < prev_end:
            raise ValueError(f"cue {i} starts at {cue.start_s} s, before the previous cue ends ({prev_end / 1000} s)")
        prev_end = end
        if cue.text.strip():
            kept.append(cue)
    return kept


def timestamp(seconds: float, decimal: str = ",") -> str:
    """``HH:MM:SS,mmm`` (``decimal="."`` for WebVTT); hours grow past 99 if needed.

    >>> timestamp(3725.0004), timestamp(0.9996, ".")
    ('01:02:05,000', '00:00:01.000')
    """
    ms = _ms(seconds)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def _columns(token: str) -> int:
    return sum(2 if is_wide(ch) else 1 for ch in token)


def _tokens(text: str) -> list[tuple[str, bool]]:
    """``(token, space before it)``: Latin words, and each wide character on its own."""
    tokens, word, word_space, space = [], "", False, False
    for ch in text:
        if ch.isspace() or is_wide(ch):
            if word:
                tokens.append((word, word_space))
                word = ""
            if is_wide(ch):
                tokens.append((ch, space))
            space = ch.isspace()
        else:
            if not word:
                word_space, space = space, False
            word += ch
    if word:
        tokens.append((word, word_space))
    return tokens


def wrap(text: str, width: int = LINE_CHARS) -> list[str]:
    """``text`` in lines of at most ``width`` columns, greedily (see the module rules).

    >>> wrap("The quick brown fox jumps over the lazy dog, twice.", 20)
    ['The quick brown fox', 'jumps over the lazy', 'dog, twice.']
    >>> wrap("今天天气很好，我们去公园散步。", 12)
    ['今天天气很好，', '我们去公园散', '步。']
    """
    lines, line, used = [], "", 0
    for token, space in _tokens(text.replace("-->", "->")):
        sep = " " if space and line else ""
        cols = _columns(token)
        if line and used + len(sep) + cols > width and token[0] not in NO_BREAK_BEFORE:
            lines.append(line)
            line, used = token, cols
        else:
            line, used = line + sep + token, used + len(sep) + cols
    return lines + [line] if line else lines


def to_srt(cues: Iterable[Cue], width: int = LINE_CHARS) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm`` times, ``Speaker: `` prefixes."""
    blocks = []
    for n, cue in enumerate(check_cues(cues), 1):
        text = f"{cue.speaker}: {cue.text}" if cue.speaker else cue.text
        blocks.append(f"{n}\n{timestamp(cue.start_s)} --> {timestamp(cue.end_s)}\n" + "\n".join(wrap(text, width)))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Iterable[Cue], width: int = LINE_CHARS) -> str:
    """WebVTT text: the header, ``HH:MM:SS.mmm`` times, ``<v Speaker>`` voice spans.

    >>> print(to_vtt([Cue(1, 2.5, "a < b", "Bob")]), end="")
    WEBVTT
    <BLANKLINE>
    00:00:01.000 --> 00:00:02.500
    <v Bob>a &lt; b
    """
    blocks = ["WEBVTT"]
    for cue in check_cues(cues):
        lines = [_vtt_escape(line) for line in wrap(cue.text, width)]
        if cue.speaker:
            lines[0] = f"<v {_vtt_escape(cue.speaker)}>{lines[0]}"
        blocks.append(f"{timestamp(cue.start_s, '.')} --> {timestamp(cue.end_s, '.')}\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _join(texts: Sequence[str]) -> str:
    """Texts joined by a space, or by nothing between two CJK characters."""
    out = ""
    for text in (t.strip() for t in texts):
        if out and text:
            out += "" if is_wide(out[-1]) and is_wide(text[0]) else " "
        out += text
    return out


def to_text(cues: Iterable[Cue]) -> str:
    """A readable transcript: paragraphs split at speaker changes and long silences.

    >>> to_text([Cue(0, 1, "Hi.", "A"), Cue(1, 2, "How are you?", "A"), Cue(2, 3, "Fine.", "B")])
    'A: Hi. How are you?\\n\\nB: Fine.\\n'
    """
    paragraphs: list[tuple[Optional[str], list[str]]] = []
    prev_end = None
    for cue in check_cues(cues):
        gap = prev_end is not None and cue.start_s - prev_end >= PARAGRAPH_GAP_S
        if not paragraphs or gap or cue.speaker != paragraphs[-1][0]:
            paragraphs.append((cue.speaker, []))
        paragraphs[-1][1].append(cue.text)
        prev_end = cue.end_s
    out = [(f"{speaker}: " if speaker else "") + _join(texts) for speaker, texts in paragraphs]
    return "\n\n".join(out) + "\n" if out else ""


def compression_ratio(text: str) -> float:
    """UTF-8 bytes over zlib-compressed bytes, as Whisper computes its ``compression_ratio``."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def to_verbose_json(cues: Iterable[Cue], *, language: str, duration_s: float, text: Optional[str] = None,
                    temperature: float = NEUTRAL_TEMPERATURE,
                    tokenize: Optional[Callable[[str], list[int]]] = None) -> dict:
    """OpenAI's ``verbose_json`` transcription: ``task``, ``language``, ``duration``, ``text`` and
    ``segments`` (``id, seek, start, end, text, tokens, temperature, avg_logprob,
    compression_ratio, no_speech_prob``).

    ``language`` is written as given (OpenAI writes a lower-case English name: ``"english"``);
    ``text`` defaults to the cue texts joined. Per segment: ``seek`` is its start in 10 ms
    frames (Whisper's offset of the window it decoded: each cue is decoded on its own);
    ``tokens`` are ``tokenize(text)`` or ``[]``; ``compression_ratio`` is computed as Whisper
    does; ``temperature``, ``avg_logprob`` and ``no_speech_prob`` are the neutral values above.
    Times are rounded to milliseconds.
    """
    if not isinstance(language, str) or not language.strip():
        raise ValueError(f"language must be a non-empty string, got {language!r}")
    if not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s) and duration_s >= 0):
        raise ValueError(f"duration_s must be a finite number >= 0, got {duration_s!r}")
    kept = check_cues(cues)
    segments = [{
        "id": i, "seek": round(cue.start_s * 100), "start": round(cue.start_s, 3), "end": round(cue.end_s, 3),
        "text": cue.text, "tokens": list(tokenize(cue.text)) if tokenize else [],
        "temperature": float(temperature), "avg_logprob": NEUTRAL_AVG_LOGPROB,
        "compression_ratio": compression_ratio(cue.text), "no_speech_prob": NEUTRAL_NO_SPEECH_PROB,
    } for i, cue in enumerate(kept)]
    return {"task": "transcribe", "language": language, "duration": round(float(duration_s), 3),
            "text": _join([c.text for c in kept]) if text is None else text, "segments": segments}
