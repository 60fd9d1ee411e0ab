"""The advanced settings as generation options, and model outputs as things a browser plays.

Pure helpers, no gradio: the handlers call them, the tests call them directly. A setting that
is not a number (or not a whole number where one is needed) raises a :mod:`mimo_core.errors`
error with one readable line (the handlers turn those into ``gr.Error`` toasts); its bounds are
checked with every request's, in planning. Task inputs are converted in :mod:`app.convert`.
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
from mimo_core.sampler_config import OPTIONS, Option
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.types import GenerationOptions

from .outputs import OFFERED, PART_SUFFIX

__all__ = ["SAMPLER_FIELDS", "UI_OPTIONS", "options_from", "ui_words", "wav_bytes", "write_wav", "audio_file",
           "audio_path_of"]

# The advanced-settings inputs every task tab has: the options of the one table
# (mimo_core/sampler_config.py) that have a web input, by input name, in its order.
UI_OPTIONS = tuple(option for option in OPTIONS if option.ui is not None)
SAMPLER_FIELDS = tuple(option.ui for option in UI_OPTIONS)


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


def ui_words(option: Option) -> str:
    """How the UI's messages name an input: its label up to a comma or parenthesis."""
    return option.ui_label.split(" (")[0].split(",")[0].lower()


def _ui_value(option: Option, value: Any) -> Any:
    """One advanced-settings value as the option takes it (numbers arrive as text)."""
    if option.kind is bool:
        return bool(value)
    number = _number(value, ui_words(option))
    if number is None or option.ui_seconds:
        return number
    if option.kind is int:
        if number != int(number):
            raise PromptError(f"{ui_words(option)} must be a whole number, got {value!r}")
        return int(number)
    return option.kind(number)


def _lengths(low: Optional[float], high: Optional[float]) -> dict:
    """The minimum / maximum length in seconds -> groups (6.25 a second; for text tasks a group
    is a token). A minimum of 0 means the task's default."""
    if low is not None and low < 0:
        raise PromptError(f"minimum length must be >= 0 s, got {low:g}")
    if high is not None and high <= 0:
        raise PromptError(f"maximum length must be more than 0 s, got {high:g}")
    if low is not None and high is not None and low > high:
        raise PromptError(f"minimum length {low:g} s is more than the maximum {high:g} s")
    return {"min_new_groups": groups_for_seconds(low) if low else None,
            "max_new_groups": None if high is None else groups_for_seconds(high)}


def options_from(**values: Any) -> GenerationOptions:
    """Build :class:`GenerationOptions` from the advanced-settings values by input name
    (``SAMPLER_FIELDS``; the UI sends numbers as text). An empty field means the task's
    default; the lengths are in seconds. Bounds are checked where every request's are
    (:func:`mimo_core.sampler_config.check_options`, in planning)."""
    unknown = set(values) - set(SAMPLER_FIELDS)
    if unknown:
        raise TypeError(f"unknown advanced settings: {', '.join(sorted(unknown))}")
    flat = {option.name: _ui_value(option, values.get(option.ui)) for option in UI_OPTIONS}
    flat.update(_lengths(flat.pop("min_new_groups"), flat.pop("max_new_groups")))
    return GenerationOptions.from_flat(**flat)


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
    """Write audio to a content-named WAV file (same audio -> same file) and return its path.

    Handlers run in several threads (and app processes may share the folder), and two requests
    can produce the same audio: each writer fills its own temporary file (a unique name from
    ``mkstemp``) and renames it into place, so no rename loses its source and no reader sees a
    half-written file. The path is marked as offered for download first, so the output cleaner
    (app/outputs.py) keeps it while a session may still fetch it.
    """
    pcm = _pcm16(wav)
    digest = hashlib.sha1(pcm.tobytes()).hexdigest()[:20]
    path = output_dir() / f"mimo-{digest}.wav"
    OFFERED.touch(path)
    if not _reused(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.stem}.", suffix=PART_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                sf.write(f, pcm, sample_rate, format="WAV", subtype="PCM_16")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return str(path)


def _reused(path: Path) -> bool:
    """True when ``path`` already exists; its age restarts (what a cleaner in any process reads)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def audio_file(wav: Optional[np.ndarray], sample_rate: int = SAMPLE_RATE) -> Optional[str]:
    """:func:`write_wav` for an output that may be missing: None for no (or empty) audio."""
    return write_wav(wav, sample_rate) if wav is not None and np.size(wav) else None
