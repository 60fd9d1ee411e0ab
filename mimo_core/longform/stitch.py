"""Join spoken segments into one waveform with pauses between them and no clicks at the joins.

``stitch(segments, pauses_s)`` lays the float32 mono segments end to end in order, with
``pauses_s[k]`` seconds of silence after segment ``k`` (one pause fewer than segments;
:func:`pauses_for` gives ``SENTENCE_PAUSE_S`` or ``PARAGRAPH_PAUSE_S`` from the splitter's
``paragraph_end`` flags). At each join ``k`` (between segments ``k`` and ``k + 1``), with
``F = round(crossfade_s * sample_rate)``, ``P = round(pauses_s[k] * sample_rate)`` and the fade
length ``f = min(F, len_k // 2, len_{k+1} // 2)`` (so a segment's two fades never overlap):

* ``P > 0``: fade *into the silence*: the last ``f`` samples of segment ``k`` are multiplied by
  the fade-out ramp, then ``P`` zeros, then the first ``f`` samples of segment ``k + 1``
  multiplied by the fade-in ramp. Nothing overlaps; the join adds ``P`` samples.
* ``P == 0`` (a pause under half a sample): *overlap-add crossfade*: the last ``f`` samples
  of segment ``k`` (faded out) and the first ``f`` of segment ``k + 1`` (faded in) are summed
  in the same ``f`` output samples; the join removes ``f`` samples.

So ``len(audio) == sum(len_k) + sum(P) - sum(f where P == 0)``. The ramps are equal-power:
``fade_in[i] = sin(pi/2 * (i + 0.5) / f)``, ``fade_out = fade_in[::-1]`` (``fade_in**2 +
fade_out**2 == 1``: two unrelated voices crossfaded keep their loudness; into silence the
ramp starts and ends gently). The head of the first segment and the tail of the last are not
faded. Every other sample of a segment is copied bit for bit, and its placement depends only
on the lengths before it: regenerating segment ``k`` changes the output only inside its own
region and its fades, and shifts what follows (:func:`restitch`).

>>> a, b = np.ones(4, np.float32), np.full(4, 2, np.float32)
>>> audio, spans = stitch([a, b], [0.5], sample_rate=4, crossfade_s=0.25)
>>> [round(float(x), 3) for x in audio], spans
([1.0, 1.0, 1.0, 0.707, 0.0, 0.0, 1.414, 2.0, 2.0, 2.0], [AudioSpan(start_s=0.0, end_s=1.0), AudioSpan(start_s=1.5, end_s=2.5)])
>>> [round(float(x), 3) for x in stitch([a, b], [0.0], sample_rate=4, crossfade_s=0.25).audio]
[1.0, 1.0, 1.0, 2.121, 2.0, 2.0, 2.0]
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from ..constants import SAMPLE_RATE

SENTENCE_PAUSE_S = 0.25     # between segments of one paragraph: a sentence's breath
PARAGRAPH_PAUSE_S = 0.7     # after a paragraph: a listener hears the break
CROSSFADE_S = 0.01          # 10 ms: long enough to hide a step, too short to hear as a fade


class AudioSpan(NamedTuple):
    """Where a segment lies in the stitched audio, in seconds (``end_s`` exclusive)."""

    start_s: float
    end_s: float


class Placement(NamedTuple):
    """Where a segment's samples go: output ``[start, start + length)``."""

    start: int
    length: int
    fade_in: int        # head samples multiplied by the fade-in ramp
    fade_out: int       # tail samples multiplied by the fade-out ramp
    overlap: int        # head samples added onto the previous segment's tail (pause 0)


class Stitched(NamedTuple):
    audio: np.ndarray           # [N] float32
    spans: list[AudioSpan]


def pauses_for(paragraph_ends: Sequence[bool], *, sentence_pause_s: float = SENTENCE_PAUSE_S,
               paragraph_pause_s: float = PARAGRAPH_PAUSE_S) -> list[float]:
    """The pause after each segment but the last, from the segments' ``paragraph_end`` flags.

    >>> pauses_for([False, True, True])
    [0.25, 0.7]
    """
    return [paragraph_pause_s if end else sentence_pause_s for end in list(paragraph_ends)[:-1]]


def layout(lengths: Sequence[int], pauses_s: Sequence[float], *, sample_rate: int = SAMPLE_RATE,
           crossfade_s: float = CROSSFADE_S) -> tuple[list[Placement], int]:
    """``(placements, total samples)`` for segments of ``lengths`` samples (see the module rules)."""
    lengths = [int(n) for n in lengths]
    _check(lengths, pauses_s, sample_rate, crossfade_s)
    crossfade = round(crossfade_s * sample_rate)
    pauses = [round(p * sample_rate) for p in pauses_s]
    fades = [min(crossfade, lengths[k] // 2, lengths[k + 1] // 2) for k in range(len(pauses))]
    placements, start = [], 0
    for k, n in enumerate(lengths):
        fade_in = fades[k - 1] if k > 0 else 0
        overlap = fade_in if k > 0 and pauses[k - 1] == 0 else 0
        fade_out = fades[k] if k < len(fades) else 0
        placements.append(Placement(start - overlap, n, fade_in, fade_out, overlap))
        start = start - overlap + n + (pauses[k] if k < len(pauses) else 0)
    return placements, start


def _check(lengths: list[int], pauses_s: Sequence[float], sample_rate: int, crossfade_s: float) -> None:
    if len(pauses_s) != max(len(lengths) - 1, 0):
        raise ValueError(f"{len(lengths)} segments need {max(len(lengths) - 1, 0)} pauses, got {len(pauses_s)}")
    if any(not math.isfinite(p) or p < 0 for p in pauses_s):
        raise ValueError(f"pauses must be finite and >= 0 seconds, got {list(pauses_s)}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}")
    if not math.isfinite(crossfade_s) or crossfade_s < 0:
        raise ValueError(f"crossfade_s must be finite and >= 0, got {crossfade_s}")


def fade_in_ramp(n: int) -> np.ndarray:
    """``[n]`` float32 equal-power fade-in, ``sin(pi/2 * (i + 0.5) / n)``; reversed it fades out."""
    return np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / max(n, 1)).astype(np.float32)


def stitch(segments_audio: Sequence[np.ndarray], pauses_s: Sequence[float], *,
           sample_rate: int = SAMPLE_RATE, crossfade_s: float = CROSSFADE_S) -> Stitched:
    """The segments joined with pauses and fades: ``(audio [N] float32, spans)``."""
    segments = [np.asarray(a, dtype=np.float32) for a in segments_audio]
    if any(a.ndim != 1 for a in segments):
        raise ValueError(f"segments must be 1-D mono arrays, got shapes {[a.shape for a in segments]}")
    placements, total = layout([len(a) for a in segments], pauses_s, sample_rate=sample_rate,
                               crossfade_s=crossfade_s)
    audio = np.zeros(total, dtype=np.float32)                                  # [N]
    for seg, pl in zip(segments, placements):
        if pl.fade_in or pl.fade_out:
            seg = seg.copy()
            seg[:pl.fade_in] *= fade_in_ramp(pl.fade_in)
            seg[pl.length - pl.fade_out:] *= fade_in_ramp(pl.fade_out)[::-1]
        audio[pl.start:pl.start + pl.overlap] += seg[:pl.overlap]            # mixed with the tail before
        audio[pl.start + pl.overlap:pl.start + pl.length] = seg[pl.overlap:]
    spans = [AudioSpan(pl.start / sample_rate, (pl.start + pl.length) / sample_rate) for pl in placements]
    return Stitched(audio, spans)


def restitch(segments_audio: Sequence[np.ndarray], pauses_s: Sequence[float],
             replace: Mapping[int, np.ndarray] | None = None, **kwargs) -> Stitched:
    """:func:`stitch` again after replacing segments (``{index: new audio}``): deterministic, so
    the result equals stitching the new list from scratch, and only segment ``index``'s region
    (with its fades) changes; what follows it moves by the change in its length.
    """
    replace = dict(replace or {})
    if any(not 0 <= k < len(segments_audio) for k in replace):
        raise ValueError(f"replace indices must be in 0..{len(segments_audio) - 1}, got {sorted(replace)}")
    return stitch([replace.get(k, a) for k, a in enumerate(segments_audio)], pauses_s, **kwargs)
