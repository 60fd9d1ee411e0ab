"""Input limits and request validation, all checked before any model work.

Every violation raises a typed :mod:`mimo_core.errors` error with one readable line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..context import check_context, context_room  # noqa: F401 - the one context rule, re-exported
from ..errors import InputTooLongError, PromptError
from ..sampler_config import check_options  # noqa: F401 - the options' one check, beside their table


@dataclass(frozen=True)
class Limits:
    """Configurable bounds on what one request may ask for."""

    max_audio_seconds: float = 300.0          # each input audio (query, voice prompt, example)
    max_text_chars: int = 4000                # each text field
    max_examples: int = 8                     # few-shot example pairs
    max_duration_s: float = 300.0             # requested continuation length


def check_text(value: Optional[str], what: str, limits: Limits, *, required: bool = True) -> str:
    """Return the text unchanged, or raise on empty / over-long / non-string input."""
    if value is None:
        if required:
            raise PromptError(f"{what} is missing")
        return ""
    if not isinstance(value, str):
        raise PromptError(f"{what} must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise PromptError(f"{what} is empty")
    if len(value) > limits.max_text_chars:
        raise InputTooLongError(
            f"{what} has {len(value)} characters; the limit is {limits.max_text_chars}")
    return value


def check_duration(seconds: float, limits: Limits) -> float:
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise PromptError(f"duration must be a number of seconds, got {seconds!r}") from None
    if not seconds > 0:
        raise PromptError(f"duration must be positive, got {seconds:g} s")
    if seconds > limits.max_duration_s:
        raise InputTooLongError(
            f"duration {seconds:g} s exceeds the limit of {limits.max_duration_s:g} s")
    return seconds


def check_example_count(n: int, limits: Limits) -> None:
    if n < 1:
        raise PromptError("few-shot speech-to-speech needs at least one example pair")
    if n > limits.max_examples:
        raise InputTooLongError(f"{n} few-shot examples given; the limit is {limits.max_examples}")
