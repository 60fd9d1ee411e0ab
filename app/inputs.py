"""The advanced settings as generation options, and model outputs as things a browser plays.

Pure helpers, no gradio: the handlers call them, the tests call them directly. A setting that
is not a number raises a :mod:`mimo_core.errors` error with one readable line (the handlers
turn those into ``gr.Error`` toasts); task inputs are converted in :mod:`app.convert`.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
import soundfile as sf

from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import PromptError
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.types import GenerationOptions

__all__ = ["SAMPLER_FIELDS", "options_from", "wav_bytes", "write_wav", "audio_file", "audio_path_of"]

# The advanced-settings widgets every task tab has, in the order their values reach a handler.
SAMPLER_FIELDS = ("greedy", "seed", "min_seconds", "max_seconds", "text_temperature", "text_top_p",
                  "audio_temperature", "audio_top_p")
_MAX_SEED = 2**63 - 1


def audio_path_of(value: Any) -> Any:
    """The file behind a widget value: gr.Audio(type="filepath") gives a str; the HTTP API may
    give a FileData dict ``{"path": ...}``; arrays and ``(rate, samples)`` pass through."""
    if isinstance(value, dict):
        return value.get("path") or value.get("name")
    return value


def _number(value: Any, what: str) -> Optional[float]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PromptError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise PromptError(f"{what} must be a finite number, got {value!r}")
    return number


def options_from(greedy: Any = False, seed: Any = None, min_seconds: Any = None,
                 max_seconds: Any = None, text_temperature: Any = None, text_top_p: Any = None,
                 audio_temperature: Any = None, audio_top_p: Any = None) -> GenerationOptions:
    """Build :class:`GenerationOptions` from the advanced-settings values (``SAMPLER_FIELDS``,
    by name; the UI sends numbers as text). An empty field means the task's default;
    ``min_seconds`` / ``max_seconds`` bound the output length (6.25 positions a second; for
    text tasks a position is a token)."""
    seed_value = _number(seed, "seed")
    if seed_value is not None and not (0 <= seed_value <= _MAX_SEED and seed_value == int(seed_value)):
        raise PromptError(f"seed must be a whole number >= 0, got {seed!r}")
    low = _number(min_seconds, "minimum length")
    high = _number(max_seconds, "maximum length")
    if low is not None and low < 0:
        raise PromptError(f"minimum length must be >= 0 s, got {low:g}")
    if high is not None and high <= 0:
        raise PromptError(f"maximum length must be more than 0 s, got {high:g}")
    if low is not None and high is not None and low > high:
        raise PromptError(f"minimum length {low:g} s is more than the maximum {high:g} s")
    return GenerationOptions(
        greedy=bool(greedy),
        seed=None if seed_value is None else int(seed_value),
        min_new_groups=groups_for_seconds(low) if low else None,
        max_new_groups=None if high is None else groups_for_seconds(high),
        text_temperature=_number(text_temperature, "text temperature"),
        text_top_p=_number(text_top_p, "text top-p"),
        audio_temperature=_number(audio_temperature, "audio temperature"),
        audio_top_p=_number(audio_top_p, "audio top-p"),
    )


def _pcm16(wav: np.ndarray) -> np.ndarray:
    wav = np.nan_to_num(np.asarray(wav, dtype=np.float32).reshape(-1))
    return (np.clip(wav, -1.0, 1.0) * 32767.0).astype(np.int16)


def wav_bytes(chunk: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """One streamed chunk as a complete 16-bit PCM WAV file (what gr.Audio streaming takes)."""
    buf = io.BytesIO()
    sf.write(buf, _pcm16(chunk), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def output_dir() -> Path:
    path = Path(os.environ.get("MIMO_APP_TMP") or Path(tempfile.gettempdir()) / "mimo_audio_app")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_wav(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """Write audio to a content-named WAV file (same audio -> same file) and return its path."""
    pcm = _pcm16(wav)
    digest = hashlib.sha1(pcm.tobytes()).hexdigest()[:20]
    path = output_dir() / f"mimo-{digest}.wav"
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.part")
        sf.write(tmp, pcm, sample_rate, format="WAV", subtype="PCM_16")
        os.replace(tmp, path)
    return str(path)


def audio_file(wav: Optional[np.ndarray], sample_rate: int = SAMPLE_RATE) -> Optional[str]:
    """:func:`write_wav` for an output that may be missing: None for no (or empty) audio."""
    return write_wav(wav, sample_rate) if wav is not None and np.size(wav) else None
