"""Stream a long recording as fixed blocks of 24 kHz float32 mono, never decoding it whole.

``AudioBlocks(path)`` reads the header only (libsndfile via soundfile): a recording longer
than ``max_seconds`` is refused there, before any decoding, with one line ("recording is
3:00:00 long; the limit is 2:00:00"). Iterating it yields blocks of exactly ``block_samples``
24 kHz samples (the last one shorter): block ``k`` starts at sample ``k * block_samples``.
Channels are averaged (in float32).

Memory and time: the file is read in ``READ_S`` pieces; each piece is averaged, resampled and
appended to at most one pending block, so peak memory is O(block): about ``block_s`` seconds at
the source rate and channel count plus one 24 kHz block (30 s of 48 kHz stereo: 11.5 MB + 2.9
MB), plus the resampler's fixed state, whatever the file's length (measured: streaming a
10-minute 44.1 kHz stereo FLAC raised peak RSS by 12 MB; decoded whole it is 212 MB). Time is
O(duration): one pass of decoding and of resampling (that file: 2.2 s of CPU here).

Resampling: other rates go through soxr's streaming resampler (``soxr.ResampleStream``,
``SOXR_QUALITY``), whose output over consecutive pieces is bit-identical to soxr resampling the
whole file at once, so blocks have no seams; the stream yields ``round(frames * 24000 / rate)``
samples in all (:attr:`AudioBlocks.n_samples`). This trades the app's one-shot path (a
torchaudio-identical resampler, :mod:`mimo_core.resample`, kept for parity of codes with the
reference) for bounded memory: the samples differ from the one-shot path's by resampler
design, not by seams. 24 kHz files are passed through untouched.

Errors, each one line (:class:`AudioInputError`): a missing or unreadable file, a format this
libsndfile cannot stream (mp3 needs libsndfile >= 1.1; m4a/aac/opus-in-mp4 are not read at all:
convert them to FLAC first; there is deliberately no fallback that decodes the whole file),
and a corrupt or truncated stretch mid-file: "cannot read the recording at 12:30: ...", raised
when iteration reaches it, after every block before it was yielded.

:meth:`AudioBlocks.read_region` reads one stretch back (seeking, not decoding from the start),
resampled with enough context around it that its samples match the streamed ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from ..constants import SAMPLE_RATE
from ..errors import AudioInputError, InputTooLongError

BLOCK_S = 30.0                  # seconds per yielded block
MAX_SECONDS = 7200.0            # 2 hours
READ_S = 1.0                    # seconds per read: a corrupt stretch is located to this
MIN_SAMPLE_RATE = 1_000         # as mimo_core.audio_io
MAX_SAMPLE_RATE = 384_000
SOXR_QUALITY = "VHQ"            # as mimo_core.audio_io's soxr option
REGION_CONTEXT_S = 0.05         # read around a region so that resampler edges fall outside it


def clock(seconds: float, *, round_up: bool = False) -> str:
    """``H:MM:SS`` from one hour, else ``M:SS``; whole seconds, rounded down (or up).

    >>> clock(750.9), clock(10800), clock(7200.2, round_up=True)
    ('12:30', '3:00:00', '2:00:01')
    """
    whole = math.ceil(seconds - 1e-9) if round_up else math.floor(seconds + 1e-9)
    h, rest = divmod(max(whole, 0), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.removeprefix("Error : ").strip()


class AudioBlocks:
    """A recording opened for streaming: iterate it for ``[block_samples]`` float32 blocks."""

    def __init__(self, path, *, block_s: float = BLOCK_S, max_seconds: float | None = MAX_SECONDS):
        if not (math.isfinite(block_s) and block_s * SAMPLE_RATE >= 1):
            raise ValueError(f"block_s must be a positive number of seconds, got {block_s}")
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise AudioInputError(f"audio file not found: {self.path}")
        if not self.path.is_file():
            raise AudioInputError(f"not an audio file: {self.path}")
        try:
            info = sf.info(str(self.path))
        except Exception as exc:  # noqa: BLE001 - libsndfile cannot parse it
            raise AudioInputError(
                f"cannot stream {self.path.name}: {_reason(exc)} (libsndfile {sf.__libsndfile_version__}; "
                f"convert it to FLAC or WAV first, e.g. ffmpeg -i IN OUT.flac)") from None
        self.sample_rate, self.channels, self.frames = int(info.samplerate), int(info.channels), int(info.frames)
        if not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise AudioInputError(f"{self.path.name} has an unusable sample rate of {self.sample_rate} Hz")
        if self.frames <= 0:
            raise AudioInputError(f"{self.path.name} has no audio (0 samples in its header)")
        self.duration_s = self.frames / self.sample_rate          # from the header
        if max_seconds is not None and self.duration_s > max_seconds:
            raise InputTooLongError(f"recording is {clock(self.duration_s, round_up=True)} long; "
                                    f"the limit is {clock(max_seconds)}")
        self.block_samples = round(block_s * SAMPLE_RATE)

    @property
    def n_samples(self) -> int:
        """24 kHz samples the blocks hold in all: ``round(frames * 24000 / rate)``, halves up."""
        return (2 * self.frames * SAMPLE_RATE + self.sample_rate) // (2 * self.sample_rate)

    def __iter__(self) -> Iterator[np.ndarray]:
        stream = None
        if self.sample_rate != SAMPLE_RATE:
            stream = soxr.ResampleStream(self.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality=SOXR_QUALITY)
        pending: list[np.ndarray] = []                                # 24 kHz pieces of the next block
        size = 0
        with self._open() as f:
            done, piece = 0, max(1, round(READ_S * self.sample_rate))
            while done < self.frames:
                data = self._read(f, done, min(piece, self.frames - done))          # [n] at the source rate
                done += len(data)
                out = stream.resample_chunk(data, last=done >= self.frames) if stream else data
                pending.append(out)
                size += len(out)
                while size >= self.block_samples:
                    joined = np.concatenate(pending)                               # [size] 24 kHz
                    yield joined[:self.block_samples]
                    pending, size = [joined[self.block_samples:]], size - self.block_samples
        if size:
            yield np.concatenate(pending)

    def _open(self) -> sf.SoundFile:
        try:
            return sf.SoundFile(str(self.path))
        except Exception as exc:  # noqa: BLE001
            raise AudioInputError(f"cannot read the recording {self.path.name}: {_reason(exc)}") from None

    def _read(self, f: sf.SoundFile, at: int, frames: int) -> np.ndarray:
        """``frames`` mono float32 samples from source frame ``at`` (the file's current position)."""
        try:
            data = f.read(frames, dtype="float32", always_2d=True)                # [n, ch]
        except Exception as exc:  # noqa: BLE001 - a corrupt stretch mid-file
            raise AudioInputError(f"cannot read the recording at {clock(at / self.sample_rate)}: "
                                  f"{_reason(exc)}") from None
        if len(data) < frames:
            raise AudioInputError(f"cannot read the recording at {clock((at + len(data)) / self.sample_rate)}: "
                                  f"the file ends before the {clock(self.duration_s)} its header says")
        mono = data[:, 0] if self.channels == 1 else data.mean(axis=1, dtype=np.float32)      # [n]
        if not np.isfinite(mono).all():
            bad = at + int(np.argmin(np.isfinite(mono)))
            raise AudioInputError(f"the recording has non-finite samples at {clock(bad / self.sample_rate)}")
        return np.ascontiguousarray(mono)

    def read_region(self, start_s: float, end_s: float) -> np.ndarray:
        """24 kHz samples ``[round(start_s * 24000), round(end_s * 24000))``, clipped to the file.

        Reads only the region plus ``REGION_CONTEXT_S`` either side. At 24 kHz the samples are
        the streamed blocks' own; at other rates they match them to float rounding away from
        the file's ends (the region is resampled on the same 24 kHz grid).
        """
        start = min(max(round(start_s * SAMPLE_RATE), 0), self.n_samples)
        end = min(max(round(end_s * SAMPLE_RATE), start), self.n_samples)
        if self.sample_rate == SAMPLE_RATE:
            return self._read_source(start, end - start)
        g = math.gcd(self.sample_rate, SAMPLE_RATE)
        orig, new = self.sample_rate // g, SAMPLE_RATE // g           # orig source frames = new samples
        margin = round(REGION_CONTEXT_S * SAMPLE_RATE)
        first = max(start - margin, 0) // new                         # in units of new samples
        src_start = first * orig
        src_end = min(self.frames, math.ceil((end + margin) * orig / new))
        data = self._read_source(src_start, src_end - src_start)                  # [n] source rate
        out = soxr.resample(data, self.sample_rate, SAMPLE_RATE, quality=SOXR_QUALITY)   # [m] 24 kHz
        offset = start - first * new
        return np.ascontiguousarray(out[offset:offset + end - start], dtype=np.float32)

    def _read_source(self, at: int, frames: int) -> np.ndarray:
        with self._open() as f:
            try:
                f.seek(at)
            except Exception as exc:  # noqa: BLE001
                raise AudioInputError(f"cannot read the recording at {clock(at / self.sample_rate)}: "
                                      f"{_reason(exc)}") from None
            return self._read(f, at, frames) if frames else np.zeros(0, np.float32)
