"""Turn-taking: when has the user started and finished speaking?

:class:`TurnDetector` is pure logic over arrays: it takes microphone samples (any rate, any
chunk size), asks a per-frame speech classifier about each 30 ms frame, and reports
:class:`SpeechStarted` once speech has lasted ``min_speech_s`` and :class:`TurnEnded` (with the
turn's audio at the input rate) once a pause of ``pause_s`` follows it. The classifier is
injected: :class:`WebRtcVad` (Google's WebRTC voice-activity detector, the ``webrtcvad`` C
extension) in the app, anything ``frame -> bool`` in tests.

Worked example (pause_s=0.09, min_speech_s=0.06, 30 ms frames; S speech, . silence)::

    frames  . . S S S S . S . . . .
    events      ^start(frame 2)   ^end: 3 silent frames after the last S (frame 7)
    audio   from frame 2 - pre_roll to the end of frame 7 + tail
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np

from mimo_core.errors import PromptError

VAD_RATE = 16_000                     # Hz: what webrtcvad classifies (it takes 8/16/32/48 kHz)
FRAME_S = 0.03                        # seconds per classified frame (webrtcvad: 10, 20 or 30 ms)
FRAME_SAMPLES = round(VAD_RATE * FRAME_S)     # 480
TAIL_S = 0.2                          # silence kept after the last speech frame of a turn
MIN_RMS = 10 ** (-50 / 20)            # -50 dBFS: quieter frames are silence whatever the VAD says
PCM16_SCALE = 32767.0

FrameClassifier = Callable[[np.ndarray], bool]   # (FRAME_SAMPLES,) float32 at VAD_RATE -> speech?


@dataclass(frozen=True)
class TurnSettings:
    """How turns are cut. ``pause_s``: silence that ends a turn; ``min_speech_s``: speech that
    starts one (shorter blips are ignored); ``pre_roll_s``: audio kept before the detected
    start; ``max_turn_s``: a turn is cut there even without a pause."""

    pause_s: float = 0.8
    min_speech_s: float = 0.2
    pre_roll_s: float = 0.3
    max_turn_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("pause_s", "min_speech_s", "max_turn_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= FRAME_S):
                raise PromptError(f"{name.replace('_s', '')} must be at least {FRAME_S:g} s, got {value!r}")
        if not 0 <= self.pre_roll_s <= self.max_turn_s:
            raise PromptError(f"pre-roll must be between 0 and {self.max_turn_s:g} s, got {self.pre_roll_s!r}")

    def frames(self, seconds: float) -> int:
        return max(1, round(seconds / FRAME_S))


@dataclass(frozen=True)
class SpeechStarted:
    at_s: float                       # stream time of the turn's first speech frame


@dataclass(frozen=True)
class TurnEnded:
    audio: np.ndarray = field(repr=False)   # float32 mono, at ``sample_rate``: the user's turn
    sample_rate: int
    speech_end_s: float               # stream time the last speech frame ended
    at_s: float                       # stream time the turn was declared over
    forced: bool = False              # cut at max_turn_s, not by a pause

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


TurnEvent = Union[SpeechStarted, TurnEnded]


class WebRtcVad:
    """The WebRTC VAD as a :data:`FrameClassifier`; ``aggressiveness`` 0 (keeps most) .. 3
    (filters most non-speech)."""

    def __init__(self, aggressiveness: int = 2):
        import webrtcvad                 # the webrtcvad-wheels package

        if aggressiveness not in (0, 1, 2, 3):
            raise PromptError(f"VAD aggressiveness must be 0, 1, 2 or 3, got {aggressiveness!r}")
        self._vad = webrtcvad.Vad(aggressiveness)

    def __call__(self, frame: np.ndarray) -> bool:
        pcm = (np.clip(frame, -1.0, 1.0) * PCM16_SCALE).astype("<i2")
        return bool(self._vad.is_speech(pcm.tobytes(), VAD_RATE))


class _Resampler:
    """Chunk-by-chunk resampling to VAD_RATE (soxr's streaming resampler: no seams)."""

    def __init__(self, rate: int):
        self.rate = rate
        self._stream = None
        if rate != VAD_RATE:
            import soxr
            self._stream = soxr.ResampleStream(rate, VAD_RATE, 1, dtype="float32")

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples)


def as_float_mono(samples: np.ndarray) -> np.ndarray:
    """Microphone samples (int16 or float, mono or (N, channels)) as float32 mono in [-1, 1]."""
    x = np.asarray(samples)
    if x.dtype.kind in "iu":
        x = x.astype(np.float32) / (float(np.iinfo(x.dtype).max) + 1.0)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:                                   # (N, channels) -> (N,)
        x = x.mean(axis=1)
    return np.nan_to_num(x.reshape(-1))


class TurnDetector:
    """Speech start / end-of-turn detection over one microphone stream at ``sample_rate``."""

    def __init__(self, classify: FrameClassifier, sample_rate: int,
                 settings: TurnSettings = TurnSettings()):
        if not (isinstance(sample_rate, int) and 1_000 <= sample_rate <= 384_000):
            raise PromptError(f"microphone sample rate must be 1000..384000 Hz, got {sample_rate!r}")
        self.classify, self.sample_rate, self.settings = classify, sample_rate, settings
        self._resample = _Resampler(sample_rate)
        self._pending = np.zeros(0, np.float32)      # VAD-rate samples not yet a whole frame
        self._raw = np.zeros(0, np.float32)          # input-rate samples kept for the turn
        self._raw_start = 0                          # stream index of _raw[0]
        self._frame = 0                              # index of the next frame to classify
        self._run = 0                                # consecutive speech frames (outside a turn)
        self._silence = 0                            # consecutive silent frames (inside a turn)
        self._turn_start: Optional[int] = None       # first speech frame of the current turn
        self._last_speech = 0

    @property
    def in_turn(self) -> bool:
        return self._turn_start is not None

    def time_of(self, frame: int) -> float:
        return frame * FRAME_S

    def push(self, samples: np.ndarray) -> list[TurnEvent]:
        """Take the next microphone samples; return what they decided (in order)."""
        x = as_float_mono(samples)
        self._raw = np.concatenate([self._raw, x])
        self._pending = np.concatenate([self._pending, self._resample(x)])
        events: list[TurnEvent] = []
        n = len(self._pending) // FRAME_SAMPLES
        frames = self._pending[:n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES)   # (n, FRAME_SAMPLES)
        self._pending = self._pending[n * FRAME_SAMPLES:]
        for frame in frames:
            speech = float(np.sqrt(np.mean(frame * frame))) >= MIN_RMS and self.classify(frame)
            event = self._step(speech)
            if event is not None:
                events.append(event)
            self._frame += 1
        if not self.in_turn:
            self._trim()
        return events

    def reset(self) -> None:
        """Forget any turn in progress (the stream clock keeps running)."""
        self._turn_start, self._run, self._silence = None, 0, 0
        self._trim()

    # ------------------------------------------------------------------ internals
    def _step(self, speech: bool) -> Optional[TurnEvent]:
        s, i = self.settings, self._frame
        if not self.in_turn:
            self._run = self._run + 1 if speech else 0
            if self._run < s.frames(s.min_speech_s):
                return None
            self._turn_start, self._last_speech, self._silence = i - self._run + 1, i, 0
            return SpeechStarted(at_s=self.time_of(self._turn_start))
        if speech:
            self._last_speech, self._silence = i, 0
        else:
            self._silence += 1
        if self._silence >= s.frames(s.pause_s):
            return self._end(forced=False)
        if i + 1 - self._turn_start >= s.frames(s.max_turn_s):
            return self._end(forced=True)
        return None

    def _end(self, forced: bool) -> TurnEnded:
        s = self.settings
        speech_end = self.time_of(self._last_speech + 1)
        begin = max(0.0, self.time_of(self._turn_start) - s.pre_roll_s)
        stop = min(speech_end + min(TAIL_S, s.pause_s), self.time_of(self._frame + 1))
        a = max(0, round(begin * self.sample_rate) - self._raw_start)
        b = max(a, round(stop * self.sample_rate) - self._raw_start)
        event = TurnEnded(audio=self._raw[a:b].copy(), sample_rate=self.sample_rate,
                          speech_end_s=speech_end, at_s=self.time_of(self._frame + 1), forced=forced)
        self._turn_start, self._run, self._silence = None, 0, 0
        return event

    def _trim(self) -> None:
        """Outside a turn, keep only what a turn starting now could reach back to."""
        s = self.settings
        keep = round((s.pre_roll_s + s.min_speech_s + 2 * FRAME_S) * self.sample_rate)
        extra = len(self._raw) - keep
        if extra > 0:
            self._raw = self._raw[extra:]
            self._raw_start += extra
