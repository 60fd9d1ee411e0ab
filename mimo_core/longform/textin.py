"""Long texts at the boundary: check a text before splitting it, read one from a file.

``check_long_text`` refuses, with one line each: a value that is not a string (``None``,
bytes), blank text, text over the limit (:class:`InputTooLongError`), control characters, and
a stretch of ``MAX_RUN_CHARS`` characters with no sentence end or line break (not prose: a
pasted data blob, minified code; the splitter could only hard-cut it).

``read_text_file`` decodes UTF-8 (with or without a BOM), UTF-16 and UTF-32 (with a BOM), and
refuses anything else as "not a text file": NUL bytes without a UTF-16/32 BOM, bytes that are
not UTF-8 (legacy code pages are not guessed: a guess turns Latin-1 into Chinese), or text whose
characters are more than ``MAX_UNPRINTABLE_FRACTION`` unprintable. The BOM is dropped and line
ends are kept as they are, so that spans found in the returned text are spans in the file's text.

>>> check_long_text("Hello.")
'Hello.'
"""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from ..errors import InputTooLongError, PromptError
from .sentences import paragraphs, sentence_ends

MAX_TEXT_CHARS = 100_000            # ~2 hours of English speech
MAX_RUN_CHARS = 5_000               # longest stretch allowed without a sentence end or newline
MAX_FILE_BYTES = 4 * MAX_TEXT_CHARS + 4   # UTF-8/16/32 need at most 4 bytes a character, + BOM
MAX_UNPRINTABLE_FRACTION = 0.10     # a decoded file with more unprintable characters is binary

_BOMS = (                            # longest first: the UTF-32 LE BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def check_long_text(text, limit: int = MAX_TEXT_CHARS) -> str:
    """Return ``text`` unchanged, or raise a one-line :class:`PromptError` / :class:`InputTooLongError`.

    Character positions in messages count from 1.
    """
    if text is None:
        raise PromptError("no text given")
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise PromptError("text must be a string, not bytes; decode it first (read_text_file reads a file)")
    if not isinstance(text, str):
        raise PromptError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise PromptError("text is empty")
    if len(text) > limit:
        raise InputTooLongError(f"text has {len(text):,} characters; the limit is {limit:,}")
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" and not ch.isspace():
            raise PromptError(f"text contains the control character U+{ord(ch):04X} at character {i + 1:,}")
    start = _run_without_end(text)
    if start is not None:
        raise PromptError(f"text has no sentence end in the {MAX_RUN_CHARS:,} characters starting at "
                          f"character {start + 1:,}; add punctuation (. ! ? 。) or line breaks")
    return text


def _run_without_end(text: str) -> int | None:
    """Start of the first stretch over ``MAX_RUN_CHARS`` with no sentence end or newline, or None."""
    for p_start, p_end in paragraphs(text):
        cuts = sorted(set(sentence_ends(text, p_start, p_end))
                      | {i + 1 for i in range(p_start, p_end) if text[i] == "\n"})
        prev = p_start
        for c in cuts + [p_end]:
            if c - prev > MAX_RUN_CHARS:
                return prev + (len(text[prev:c]) - len(text[prev:c].lstrip()))
            prev = c
    return None


def read_text_file(path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of the file at ``path``; a one-line :class:`PromptError` naming the file if it is
    missing, unreadable, empty or not text, :class:`InputTooLongError` over ``max_bytes``.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise PromptError(f"text file not found: {path}")
    if not path.is_file():
        raise PromptError(f"not a file: {path}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputTooLongError(f"{path} is {size:,} bytes; the limit is {max_bytes:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise PromptError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = _decode(data, path)
    if not text.strip():
        raise PromptError(f"text file is empty: {path}")
    return text


def _decode(data: bytes, path: Path) -> str:
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data:
        raise PromptError(f"{path} is not a text file (it contains NUL bytes)")
    try:
        text = data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        what = "UTF-8" if encoding is None else encoding.upper().replace("-SIG", "")
        raise PromptError(f"{path} is not a text file: not {what} (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start:,}); save it as UTF-8") from None
    if "\x00" in text:
        raise PromptError(f"{path} is not a text file (it contains NUL characters)")
    unprintable = sum(1 for ch in text if not (ch.isprintable() or ch.isspace()))
    if text and unprintable > MAX_UNPRINTABLE_FRACTION * len(text):
        raise PromptError(f"{path} is not a text file ({100 * unprintable / len(text):.0f}% of its "
                          f"characters are not printable)")
    return text
