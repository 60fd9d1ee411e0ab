"""From widget values to typed task inputs, and from model outputs to things a browser plays.

Pure helpers, no gradio: the handlers call them, the tests call them directly. Every bad
value raises a :mod:`mimo_core.errors` error with one readable line (the handlers turn those
into ``gr.Error`` toasts).
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

from mimo_core.audio_io import load_audio
from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import AudioInputError, MimoError, PromptError
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.limits import Limits, check_text
from mimo_core.tasks.types import GenerationOptions

from .outputs import OFFERED, PART_SUFFIX

__all__ = ["SAMPLER_FIELDS", "read_audio", "read_text", "options_from",
           "wav_bytes", "write_wav", "audio_file", "audio_path_of"]

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


def read_audio(value: Any, what: str, limits: Limits, *, required: bool = True
               ) -> Optional[np.ndarray]:
    """Load one audio widget value as 24 kHz mono float32, or raise a readable error.

    ``what`` names the widget in the message ("the input audio", "example 2's output").
    """
    source = audio_path_of(value)
    if source is None or (isinstance(source, str) and not source.strip()):
        if required:
            raise AudioInputError(f"{what} is missing: upload a file or record with the microphone")
        return None
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise AudioInputError(f"{what}: file not found ({Path(source).name})")
    try:
        return load_audio(source, max_seconds=limits.max_audio_seconds)
    except MimoError as exc:                    # AudioInputError, InputTooLongError
        raise type(exc)(f"{what}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file for the user
        raise AudioInputError(f"{what} cannot be read as audio ({type(exc).__name__})") from exc


def read_text(value: Any, what: str, limits: Limits, *, required: bool = True) -> str:
    """Strip and check one text widget value (empty / over-long -> readable error)."""
    text = "" if value is None else str(value)
    return check_text(text.strip(), what, limits, required=required)


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


def options_from(values: tuple) -> GenerationOptions:
    """Build :class:`GenerationOptions` from the advanced-settings values (``SAMPLER_FIELDS``
    order). An empty field means the task's default; ``min_seconds`` / ``max_seconds`` bound
    the output length (6.25 positions a second; for text tasks a position is a token)."""
    if len(values) != len(SAMPLER_FIELDS):
        raise PromptError(f"expected {len(SAMPLER_FIELDS)} sampler settings, got {len(values)}")
    named = dict(zip(SAMPLER_FIELDS, values))
    seed = _number(named["seed"], "seed")
    if seed is not None and not (0 <= seed <= _MAX_SEED and seed == int(seed)):
        raise PromptError(f"seed must be a whole number >= 0, got {named['seed']!r}")
    low = _number(named["min_seconds"], "minimum length")
    high = _number(named["max_seconds"], "maximum length")
    if low is not None and low < 0:
        raise PromptError(f"minimum length must be >= 0 s, got {low:g}")
    if high is not None and high <= 0:
        raise PromptError(f"maximum length must be more than 0 s, got {high:g}")
    if low is not None and high is not None and low > high:
        raise PromptError(f"minimum length {low:g} s is more than the maximum {high:g} s")
    return GenerationOptions(
        greedy=bool(named["greedy"]),
        seed=None if seed is None else int(seed),
        min_new_groups=groups_for_seconds(low) if low else None,
        max_new_groups=None if high is None else groups_for_seconds(high),
        text_temperature=_number(named["text_temperature"], "text temperature"),
        text_top_p=_number(named["text_top_p"], "text top-p"),
        audio_temperature=_number(named["audio_temperature"], "audio temperature"),
        audio_top_p=_number(named["audio_top_p"], "audio top-p"),
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
