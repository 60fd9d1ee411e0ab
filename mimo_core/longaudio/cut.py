"""Find the speech in a long recording and cut it at pauses into segments for transcription.

``cut_points(blocks)`` streams over 24 kHz blocks (:class:`.blocks.AudioBlocks`, or any
iterable of float32 arrays), classifies 30 ms frames as speech or not with webrtcvad (which
takes 16-bit PCM at 8/16/32/48 kHz: the audio is resampled 24 -> 16 kHz for the detector
only, with soxr's streaming resampler) and yields :class:`Span` s in seconds of the recording:

* a segment starts at its first speech frame and ends once ``min_pause_s`` of non-speech
  follows its last speech frame; shorter pauses stay inside it;
* a segment about to exceed ``max_segment_s`` (padding included) is cut at the middle of the
  longest pause in its last ``SEARCH_FRACTION`` (any non-speech run, however short; the latest
  of equals), or, with no pause there, hard-cut at the last frame edge that keeps it within
  ``max_segment_s``; the rest starts the next segment;
* each span is its speech padded by ``pad_s`` of context either side (at most half of
  ``min_pause_s``), clipped to the neighbouring cut points and to the recording, so spans never
  overlap; leading and trailing silence is left out;
* the end edge is refined by level, undoing the detector's ~0.1 s hangover (:class:`Segmenter`);
* a segment with under ``MIN_SPEECH_S`` of speech frames in all is dropped (a click, a breath,
  a burst of noise). A recording without speech yields no spans.

Memory and time: the detector holds one block's 16 kHz copy and the open segment's pause list
(at most one per frame of ``max_segment_s``: 1,000 frames); spans are yielded as soon as they
end, so peak memory is O(block) and time O(duration): about 0.3 s of CPU per 10 minutes of
audio here (half resampling, half the detector); the pause search of an over-long segment is
O(its pauses).

``segments_audio(path, spans)`` reads each span's 24 kHz audio back from the file (seeking to
it: only that region is decoded) for transcription.

>>> list(segment_flags([0] * 10 + [1] * 20 + [0] * 20 + [1] * 10 + [0] * 5))
[Span(start_s=0.2, end_s=1.0), Span(start_s=1.4, end_s=1.9)]
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import soxr
import webrtcvad

from ..constants import SAMPLE_RATE
from .blocks import AudioBlocks

VAD_RATE = 16_000                       # webrtcvad takes 8/16/32/48 kHz; 16 kHz covers speech
FRAME_S = 0.03                          # webrtcvad frames are 10, 20 or 30 ms
FRAME_SAMPLES = round(VAD_RATE * FRAME_S)   # 480
MAX_SEGMENT_S = 30.0                    # ~188 LM groups of ASR input: a Whisper-sized window
MIN_PAUSE_S = 0.3                       # a breath between phrases; shorter gaps are inside words
PAD_S = 0.1                             # context kept around the speech
MIN_SPEECH_S = 0.15                     # 5 frames: less is a click or a burst of noise
VAD_AGGRESSIVENESS = 2                  # 0 (keeps most) .. 3 (drops most non-speech)
SEARCH_FRACTION = 0.5                   # an over-long segment is cut in its last half
EDGE_DROP_DB = 30.0                     # trailing "speech" frames this far below the peak are hangover,
NOISE_MARGIN_DB = 1.5                   # ... and those within this of the noise floor (a noise
                                        # frame's level varies by ~0.3 dB: this is 5 of those)
NOISE_FRAMES = 100                      # the noise floor: median level of the last 3 s of non-speech
MAX_TRIM_S = 0.3                        # at most this much hangover is trimmed
PCM_SCALE = 32767.0


class Span(NamedTuple):
    """A stretch of the recording, in seconds (``end_s`` exclusive)."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _frames(seconds: float) -> int:
    return max(1, round(seconds / FRAME_S))


class Frame(NamedTuple):
    """One 30 ms frame's verdict and its level (dB re full scale, int16 PCM at 16 kHz)."""

    speech: bool
    level_db: float | None = None       # None: unknown (no edge refinement)


class Segmenter:
    """The cutting rules over a stream of frames: ``push`` each frame's speech flag (and level, if known),
    then ``finish`` with the recording's length; both return the spans that became final.

    A segment's end edge is refined by level: webrtcvad keeps saying "speech" for ~0.1 s after
    speech stops (its hangover), so trailing speech frames (up to ``MAX_TRIM_S``) more than
    ``EDGE_DROP_DB`` below the segment's loudest frame, or within ``NOISE_MARGIN_DB`` of the
    noise floor (the median level of the latest ``NOISE_FRAMES`` non-speech frames), are taken
    for silence. Onsets need no such refinement.
    """

    def __init__(self, *, max_segment_s: float = MAX_SEGMENT_S, min_pause_s: float = MIN_PAUSE_S,
                 pad_s: float = PAD_S):
        if not (pad_s >= 0 and min_pause_s > 0 and max_segment_s >= 4 * (min_pause_s + pad_s)):
            raise ValueError(f"need pad_s >= 0, min_pause_s > 0 and max_segment_s >= 4 x (min_pause_s + pad_s), "
                             f"got {pad_s}, {min_pause_s}, {max_segment_s}")
        self.max_s, self.pad = max_segment_s, min(pad_s, min_pause_s / 2)
        self.min_pause, self.min_speech = _frames(min_pause_s), _frames(MIN_SPEECH_S)
        self.max_trim = _frames(MAX_TRIM_S)
        self.levels: deque[float | None] = deque(maxlen=self.min_pause + self.max_trim + 1)   # latest frames'
        self.quiet: deque[float] = deque(maxlen=NOISE_FRAMES)       # levels of the latest non-speech frames
        self.n = 0                          # frames seen
        self.floor = 0.0                    # seconds: the next span starts at or after this
        self._reset(None)

    def _reset(self, start: int | None, peak: float = -math.inf) -> None:
        self.start, self.last_end, self.silence = start, (start or 0) + 1, None
        self.pauses: list[tuple[int, int]] = []       # finished non-speech runs inside the segment
        self.speech = 1 if start is not None else 0
        self.peak = peak                              # the loudest speech frame's level

    def _start_s(self) -> float:
        return max(self.start * FRAME_S - self.pad, self.floor, 0.0)

    def _edge(self, end: int) -> int:
        """The speech end frame ``end`` moved back over quiet trailing frames (the hangover)."""
        oldest = self.n - len(self.levels)
        limit = max(end - self.max_trim, self.start + 1, oldest)
        floor = float(np.median(self.quiet)) + NOISE_MARGIN_DB if self.quiet else -math.inf
        threshold = max(self.peak - EDGE_DROP_DB, floor)
        while end > limit and (level := self.levels[end - 1 - oldest]) is not None and level < threshold:
            end -= 1
        return end

    def _span(self, end_s: float) -> list[Span]:
        span = Span(round(self._start_s(), 6), round(end_s, 6))
        keep = self.speech >= self.min_speech and span.end_s > span.start_s
        self.floor = max(self.floor, span.end_s)
        return [span] if keep else []

    def push(self, speech: bool, level_db: float | None = None) -> list[Span]:
        f, out = self.n, []
        self.n += 1
        self.levels.append(level_db)
        if not speech and level_db is not None:
            self.quiet.append(level_db)
        if speech:
            if self.start is None:
                self._reset(f)
            else:
                if self.silence is not None:
                    self.pauses.append((self.silence, f))
                self.silence, self.last_end = None, f + 1
                self.speech += 1
            if level_db is not None:
                self.peak = max(self.peak, level_db)
        elif self.start is not None:
            if self.silence is None:
                self.silence = f
            if self.n - self.silence >= self.min_pause:               # a real pause: the segment ends
                out = self._span(self._edge(self.last_end) * FRAME_S + self.pad)
                self.start = None
        if self.start is not None and self.n * FRAME_S + self.pad - self._start_s() > self.max_s:
            out += self._cut()
        return out

    def _cut(self) -> list[Span]:
        """Cut the over-long open segment at its best pause, or hard at the previous frame edge."""
        n = self.n
        window = self.start + int((n - self.start) * (1 - SEARCH_FRACTION))
        runs = self.pauses + ([(self.silence, n)] if self.silence is not None else [])
        runs = [r for r in runs if r[0] >= window]
        if not runs:
            out = self._span((n - 1) * FRAME_S)
            self._reset(n - 1, self.peak)
            self.floor = (n - 1) * FRAME_S
            return out
        ps, pe = max(reversed(runs), key=lambda r: r[1] - r[0])
        middle = (ps + pe) / 2 * FRAME_S
        out = self._span(min(self._edge(ps) * FRAME_S + self.pad, middle))
        self.floor = middle
        rest, silence = [r for r in self.pauses if r[0] >= pe], self.silence
        if pe == n:                                        # cut in the current (short) silence
            self.start = None
            return out
        self._reset(pe, self.peak)
        self.pauses, self.silence, self.last_end = rest, silence, (silence if silence is not None else n)
        quiet = sum(e - s for s, e in rest) + (n - silence if silence is not None else 0)
        self.speech = n - pe - quiet
        return out

    def finish(self, duration_s: float | None = None) -> list[Span]:
        """The last span, if a segment is open; ``duration_s`` clips its padding."""
        end = self.n * FRAME_S if duration_s is None else duration_s
        if self.start is None:
            return []
        out = self._span(min(self._edge(self.last_end) * FRAME_S + self.pad, end))
        self.start = None
        return out


def segment_flags(frames: Iterable, *, duration_s: float | None = None, **rules) -> Iterator[Span]:
    """:class:`Span` s from per-frame speech flags or :class:`Frame` s (frame ``i`` covers
    ``[0.03 i, 0.03 (i + 1))`` seconds).
    """
    segmenter = Segmenter(**rules)
    for frame in frames:
        yield from segmenter.push(*frame) if isinstance(frame, tuple) else segmenter.push(bool(frame))
    yield from segmenter.finish(duration_s)


def speech_frames(blocks: Iterable[np.ndarray], *, aggressiveness: int = VAD_AGGRESSIVENESS) -> Iterator[Frame]:
    """webrtcvad's verdict and the level of each whole 30 ms frame of 24 kHz float32 blocks."""
    vad = webrtcvad.Vad(int(aggressiveness))
    stream = soxr.ResampleStream(SAMPLE_RATE, VAD_RATE, 1, dtype="float32", quality="HQ")

    def frames(audio16: np.ndarray, carry: np.ndarray) -> tuple[list[Frame], np.ndarray]:
        pcm = np.concatenate([carry, np.clip(np.round(audio16 * PCM_SCALE), -32768, 32767).astype(np.int16)])
        whole = len(pcm) // FRAME_SAMPLES * FRAME_SAMPLES
        grid = pcm[:whole].reshape(-1, FRAME_SAMPLES)                          # [frames, 480]
        power = (grid.astype(np.float64) ** 2).mean(axis=1) / 32768.0 ** 2    # [frames]
        levels = 10 * np.log10(power + 1e-12)
        return ([Frame(vad.is_speech(row.tobytes(), VAD_RATE), float(db)) for row, db in zip(grid, levels)],
                pcm[whole:])

    carry = np.zeros(0, np.int16)
    for block in blocks:
        out, carry = frames(stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32)), carry)
        yield from out
    out, _ = frames(stream.resample_chunk(np.zeros(0, np.float32), last=True), carry)
    yield from out


def cut_points(blocks: Iterable[np.ndarray], *, max_segment_s: float = MAX_SEGMENT_S,
               min_pause_s: float = MIN_PAUSE_S, vad_aggressiveness: int = VAD_AGGRESSIVENESS,
               pad_s: float = PAD_S) -> Iterator[Span]:
    """Speech segments of a stream of 24 kHz blocks, cut at pauses (see the module rules)."""
    if vad_aggressiveness not in (0, 1, 2, 3):
        raise ValueError(f"vad_aggressiveness must be 0, 1, 2 or 3, got {vad_aggressiveness}")
    segmenter = Segmenter(max_segment_s=max_segment_s, min_pause_s=min_pause_s, pad_s=pad_s)
    samples = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal samples
        for block in blocks:
            samples += len(block)
            yield block

    for frame in speech_frames(counted(), aggressiveness=vad_aggressiveness):
        yield from segmenter.push(*frame)
    yield from segmenter.finish(samples / SAMPLE_RATE)


def segments_audio(source, spans: Iterable[Span]) -> Iterator[np.ndarray]:
    """Each span's 24 kHz float32 audio, read from the file (a path or an open :class:`AudioBlocks`)."""
    audio = source if isinstance(source, AudioBlocks) else AudioBlocks(source)
    for span in spans:
        yield audio.read_region(span.start_s, span.end_s)
