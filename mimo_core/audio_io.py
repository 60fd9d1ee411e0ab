"""Audio at the edges: anything readable in, 24 kHz mono float32 inside, wav/flac out.

``load_audio`` accepts a path, raw file bytes, an ``(array, sample_rate)`` pair or a
24 kHz 1-D array; reads samples as float32, averages the channels (mean, in float32) and
resamples other rates to 24 kHz exactly as the reference front end does
(:mod:`mimo_core.resample`, torchaudio's default algorithm; soxr only when asked for with
``resampler="soxr"``); and rejects bad input with one readable line (``AudioInputError`` /
``InputTooLongError``): a file over ``max_seconds`` is refused from its header before it is
decoded, and audio shorter than the audio tokenizer's STFT window needs is refused too.
Silence is valid audio. Formats: whatever libsndfile reads (wav, flac, ogg, mp3 with
libsndfile >= 1.1), then librosa/audioread as a fallback for paths.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .codec.config import real_config
from .codec.mel import min_samples
from .constants import SAMPLE_RATE
from .errors import AudioInputError, InputTooLongError
from .resample import resample

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MIN_SAMPLES = min_samples(real_config())   # 24 kHz samples the audio tokenizer's STFT needs (481)
RESAMPLERS = ("reference", "soxr")         # "reference": torchaudio's algorithm (the default)
SOXR_QUALITY = "VHQ"
WRITE_SUBTYPES = {".wav": "PCM_16", ".flac": "PCM_16"}
SNDFILE_NATIVE = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".caf"}   # no fallback for these


def _read_file(source, label: str) -> tuple[np.ndarray, int]:
    try:
        data, sr = sf.read(source, dtype="float32", always_2d=True)                       # [N, ch]
        return mean_channels(data, channel_axis=1), int(sr)
    except Exception as first:  # noqa: BLE001 - libsndfile could not parse it
        if isinstance(source, (str, Path)) and Path(source).suffix.lower() not in SNDFILE_NATIVE:
            try:
                import librosa
                with warnings.catch_warnings():            # audioread fallback is deprecated upstream
                    warnings.simplefilter("ignore")
                    data, sr = librosa.load(str(source), sr=None, mono=False)
                data = np.atleast_2d(data)                                                 # [ch, N]
                return mean_channels(data, channel_axis=0), int(sr)
            except Exception:  # noqa: BLE001
                pass
        reason = str(first).splitlines()[0] if str(first) else type(first).__name__
        raise AudioInputError(f"cannot read audio from {label}: {reason}") from None


def check_length(n_samples: int, sample_rate: int, max_seconds: float | None) -> None:
    """InputTooLongError when ``n_samples`` at ``sample_rate`` last longer than ``max_seconds``."""
    seconds = n_samples / sample_rate
    if max_seconds is not None and seconds > max_seconds:
        raise InputTooLongError(f"audio is {seconds:.1f} s long; the limit is {max_seconds:g} s")


def _check_header_length(source, max_seconds: float | None) -> None:
    """Refuse a file longer than ``max_seconds`` from its header, before decoding it.

    Only where libsndfile reads the header; anything else is checked after decoding.
    """
    if max_seconds is None:
        return
    try:
        info = sf.info(source)
    except Exception:  # noqa: BLE001 - unreadable header: _read_file reports it (or falls back)
        return
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    if info.frames > 0 and info.samplerate > 0:
        check_length(info.frames, info.samplerate, max_seconds)


def _from_source(source, max_seconds: float | None) -> tuple[np.ndarray, int, str]:
    """-> (samples: [N] from files, [N] / [N, ch] / [ch, N] from arrays; sample rate; label)."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.exists():
            raise AudioInputError(f"audio file not found: {path}")
        if not path.is_file():
            raise AudioInputError(f"not an audio file: {path}")
        _check_header_length(str(path), max_seconds)
        data, sr = _read_file(str(path), str(path))
        return data, sr, str(path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise AudioInputError("audio data is empty (0 bytes)")
        buffer = io.BytesIO(bytes(source))
        _check_header_length(buffer, max_seconds)
        data, sr = _read_file(buffer, "the uploaded bytes")
        return data, sr, "the uploaded bytes"
    if isinstance(source, tuple) and len(source) == 2:
        array, sr = source
        if isinstance(array, (int, float)) and not isinstance(sr, (int, float)):
            array, sr = sr, array                                  # gradio's (rate, array) order
        return _as_array(array), _as_rate(sr), "the given array"
    if isinstance(source, np.ndarray) or hasattr(source, "numpy"):
        return _as_array(source), SAMPLE_RATE, "the given array"
    raise AudioInputError(f"unsupported audio source of type {type(source).__name__}")


def _as_array(array) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise AudioInputError(f"audio samples must be numbers, got dtype {array.dtype}")
    if array.dtype == np.uint8:                                    # 8-bit PCM is offset-binary -> [-1, 1)
        array = (array.astype(np.float64) - 128.0) / 128.0
    elif array.dtype.kind == "u":
        raise AudioInputError(f"unsigned {array.dtype} samples are not a PCM format; "
                              "use signed integers, uint8 or floats")
    elif array.dtype.kind == "i":                                  # signed integer PCM -> [-1, 1)
        array = array.astype(np.float64) / float(2 ** (8 * array.dtype.itemsize - 1))
    if array.ndim not in (1, 2):
        raise AudioInputError(f"audio must be 1-D (mono) or 2-D (samples x channels), got shape {array.shape}")
    return array


def _as_rate(sr) -> int:
    try:
        rate = float(sr)
    except (TypeError, ValueError):
        raise AudioInputError(f"sample rate must be a number, got {sr!r}") from None
    if not np.isfinite(rate) or rate != int(rate):
        raise AudioInputError(f"sample rate must be a whole number of Hz, got {sr!r}")
    return int(rate)


def mean_channels(data: np.ndarray, channel_axis: int) -> np.ndarray:
    """Average the channels as the reference does: float32 samples, torch ``mean`` (mono included)."""
    samples = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    return samples.mean(dim=channel_axis).numpy()


def to_mono(data: np.ndarray) -> np.ndarray:
    """[N], [N, ch] or [ch, N] (the shorter axis is channels) -> float32 [N] by averaging channels."""
    if data.ndim == 1:
        return np.asarray(data, dtype=np.float32)
    return mean_channels(data, channel_axis=0 if data.shape[0] < data.shape[1] else 1)


def resample_to_model_rate(wav: np.ndarray, sample_rate: int, resampler: str = "reference") -> np.ndarray:
    """float32 mono [N] at ``sample_rate`` -> float32 [N'] at 24 kHz.

    ``"reference"`` (default): torchaudio's ``functional.resample`` defaults, in float32, as the
    reference front end (N' = ceil(24000 N / sample_rate)); the codes of an upload depend on it.
    ``"soxr"``: soxr "VHQ" (explicit opt-in only; it changes most codes against the reference).
    """
    if resampler not in RESAMPLERS:
        raise ValueError(f"resampler must be one of {RESAMPLERS}, got {resampler!r}")
    if sample_rate == SAMPLE_RATE:
        return wav
    if resampler == "soxr":
        import soxr

        return soxr.resample(wav.astype(np.float64), sample_rate, SAMPLE_RATE, quality=SOXR_QUALITY).astype(np.float32)
    with torch.inference_mode():
        return resample(torch.from_numpy(np.ascontiguousarray(wav)), sample_rate, SAMPLE_RATE).numpy()


def load_audio(source, *, max_seconds: float | None = None, resampler: str = "reference") -> np.ndarray:
    """Any supported source -> float32 mono 24 kHz samples [N]. Raises AudioInputError/InputTooLongError.

    ``resampler``: ``"reference"`` (default, exact to the reference) or ``"soxr"`` (opt-in); see
    :func:`resample_to_model_rate`.
    """
    if resampler not in RESAMPLERS:
        raise ValueError(f"resampler must be one of {RESAMPLERS}, got {resampler!r}")
    data, sr, label = _from_source(source, max_seconds)
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioInputError(f"unsupported sample rate {sr} Hz in {label} "
                              f"(expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)")
    wav = to_mono(data)
    if wav.size == 0:
        raise AudioInputError(f"{label} contains no audio samples")
    if not np.isfinite(wav).all():
        raise AudioInputError(f"{label} contains NaN or infinite samples")
    check_length(wav.size, sr, max_seconds)
    wav = resample_to_model_rate(wav, sr, resampler)
    if wav.size < MIN_SAMPLES:
        raise AudioInputError(f"{label} is too short: {1000 * wav.size / SAMPLE_RATE:.2f} ms; the audio tokenizer "
                              f"needs at least {1000 * MIN_SAMPLES / SAMPLE_RATE:.2f} ms ({MIN_SAMPLES} samples at "
                              f"{SAMPLE_RATE} Hz)")
    return np.ascontiguousarray(wav, dtype=np.float32)


def save_audio(path: str | Path, wav, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float samples as 16-bit PCM .wav or .flac (chosen by extension)."""
    path = Path(path)
    subtype = WRITE_SUBTYPES.get(path.suffix.lower())
    if subtype is None:
        raise AudioInputError(f"cannot write {path.name}: use a .wav or .flac file name")
    data = _as_array(wav).astype(np.float32)
    if data.ndim != 1:
        raise AudioInputError(f"save_audio expects mono samples [N], got shape {data.shape}")
    if not np.isfinite(data).all():
        raise AudioInputError("cannot save audio containing NaN or infinite samples")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(data, -1.0, 1.0), int(sample_rate), subtype=subtype)
    return path
