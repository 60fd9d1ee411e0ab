"""Multi-speaker scripts: who says what, and which voice speaks for whom.

A script is text, one utterance per line::

    # a comment (a line whose first visible character is #)
    [Alice] Hello there.
    Bob: Hi, Alice!
    Alice：你好。
    This line has no speaker: Alice goes on.

    A blank line before it makes this one a new utterance, still Alice's.

Rules:

* ``[Name] text`` sets the speaker (always: a line starting with ``[...]`` names a speaker);
  ``Name: text`` (an ASCII colon followed by a space or the line end, so ``10:30`` and
  ``http://`` are not speakers) or ``Name：text`` (full-width colon) does so when ``Name`` is a
  valid name of at most ``MAX_COLON_NAME_WORDS`` words; otherwise the line is plain text.
  Text whose first words end in a colon (``Note: ...``) therefore reads as a speaker: write
  such lines with an explicit ``[Name]``.
* A line without a speaker continues the previous speaker: directly after that speaker's
  line it is appended to it (a wrapped line; joined by a space, or by nothing between two CJK
  characters); after a blank line it starts a new utterance of the same speaker. A first line
  without a speaker is an error. ``[Name]`` or ``Name:`` alone on a line sets the speaker for
  the lines that follow.
* Names (and voice names) are 1-40 characters: letters or digits of any script first, then
  letters, digits, spaces and ``_ - . '``, without ``..`` -- nothing that can act as a path.
  Names are case-sensitive.

>>> [(l.speaker, l.text, l.line_no) for l in parse_script("[Alice] Hi.\\nBob: Hello,\\nthere.")]
[('Alice', 'Hi.', 1), ('Bob', 'Hello, there.', 2)]
>>> parse_speaker_map("Alice=voice1, Bob = voice2")
{'Alice': 'voice1', 'Bob': 'voice2'}
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, NamedTuple

from ..errors import PromptError
from .sentences import is_wide

MAX_NAME_CHARS = 40
MAX_COLON_NAME_WORDS = 3            # "Dr. Jane Smith: ..." is a speaker, "The plan for today: ..." is not
COMMENT = "#"

_NAME = re.compile(r"[^\W_][\w .'\-]*")
_BRACKET = re.compile(r"\[([^\]\n]*)\]\s*(.*)")
_COLON = re.compile(r"([^:：\[\]]+?)\s*(?::(?=\s|$)|：)\s*(.*)")


class ScriptLine(NamedTuple):
    """One utterance: its index in the script, its speaker, its text, its first line (from 1)."""

    index: int
    speaker: str
    text: str
    line_no: int


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid speaker or voice name (see the module rules)."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and name == name.strip()
            and _NAME.fullmatch(name) is not None and ".." not in name)


def check_name(name: str, what: str = "speaker") -> str:
    """``name`` unchanged, or a one-line :class:`PromptError` saying what a name may hold."""
    if not is_valid_name(name):
        raise PromptError(f"invalid {what} name {name!r}: use 1-{MAX_NAME_CHARS} letters, digits, "
                          f"spaces and _ - . ' (starting with a letter or digit, no '..')")
    return name


def _speaker_of(line: str, line_no: int) -> tuple[str, str] | None:
    """``(speaker, rest)`` when the stripped ``line`` names a speaker, else None."""
    m = _BRACKET.match(line)
    if m:
        name = m.group(1).strip()
        if not is_valid_name(name):
            raise PromptError(f"line {line_no}: invalid speaker name {name!r}: use 1-{MAX_NAME_CHARS} "
                              f"letters, digits, spaces and _ - . '")
        return name, m.group(2).strip()
    m = _COLON.match(line)
    if m and is_valid_name(m.group(1)) and len(m.group(1).split()) <= MAX_COLON_NAME_WORDS:
        return m.group(1), m.group(2).strip()
    return None


def _join(before: str, after: str) -> str:
    return before + ("" if is_wide(before[-1]) and is_wide(after[0]) else " ") + after


def parse_script(text: str) -> list[ScriptLine]:
    """The utterances of a script (see the module rules); a one-line :class:`PromptError` for a
    first line without a speaker, an invalid bracketed name, or a script with nothing to say.
    """
    if not isinstance(text, str):
        raise PromptError(f"the script must be text, got {type(text).__name__}")
    lines: list[ScriptLine] = []
    speaker, joinable = None, False
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            joinable = False
            continue
        if line.startswith(COMMENT):
            continue
        named = _speaker_of(line, line_no)
        if named is not None:
            speaker, line = named
            joinable = False
            if not line:
                continue
        elif speaker is None:
            raise PromptError(f"line {line_no} has no speaker; start it with [Name] or Name: ")
        if joinable:
            last = lines[-1]
            lines[-1] = last._replace(text=_join(last.text, line))
        else:
            lines.append(ScriptLine(len(lines), speaker, line, line_no))
        joinable = True
    if not lines:
        raise PromptError("the script has no lines to speak")
    return lines


def speakers(lines: Iterable[ScriptLine]) -> list[str]:
    """The speakers of ``lines`` in order of first appearance."""
    return list(dict.fromkeys(line.speaker for line in lines))


def parse_speaker_map(spec: str | Iterable[str]) -> dict[str, str]:
    """``{speaker: voice}`` from ``"Alice=voice1,Bob=voice2"`` (or such entries, one per string,
    as repeated ``--map`` options give them); blank entries are skipped.
    """
    entries = spec.split(",") if isinstance(spec, str) else [e for s in spec for e in str(s).split(",")]
    mapping: dict[str, str] = {}
    for entry in entries:
        if not entry.strip():
            continue
        if "=" not in entry:
            raise PromptError(f"speaker map entry {entry.strip()!r} has no '='; write NAME=VOICE")
        name, voice = (part.strip() for part in entry.split("=", 1))
        check_name(name, "speaker")
        check_name(voice, "voice")
        if name in mapping:
            raise PromptError(f"speaker {name} is mapped twice ({mapping[name]} and {voice})")
        mapping[name] = voice
    return mapping


def check_speaker_map(lines: Iterable[ScriptLine], voices: Mapping[str, str]) -> None:
    """A one-line :class:`PromptError` listing every speaker of ``lines`` without a voice.

    >>> check_speaker_map(parse_script("A: x\\nB: y\\nC: z"), {"A": "v"})
    Traceback (most recent call last):
    ...
    mimo_core.errors.PromptError: speakers without a voice: B, C; map them with --map B=NAME
    """
    missing = [name for name in speakers(lines) if name not in voices]
    if missing:
        noun, pronoun = ("speaker", "it") if len(missing) == 1 else ("speakers", "them")
        raise PromptError(f"{noun} without a voice: {', '.join(missing)}; "
                          f"map {pronoun} with --map {missing[0]}=NAME")
