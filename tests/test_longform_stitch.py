"""Stitching spoken segments: exact sample counts, fades, pauses, bit-identical interiors."""

import numpy as np
import pytest

from mimo_core.longform.stitch import (CROSSFADE_S, PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S,
                                       fade_in_ramp, layout, pauses_for, restitch, stitch)

SR = 24_000
F = round(CROSSFADE_S * SR)                                       # 240 samples


def segments(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.5 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


def test_constants():
    assert (SENTENCE_PAUSE_S, PARAGRAPH_PAUSE_S, CROSSFADE_S) == (0.25, 0.7, 0.01) and F == 240
    assert pauses_for([False, True, False, True]) == [0.25, 0.7, 0.25]
    assert pauses_for([True]) == [] and pauses_for([]) == []


def test_total_length_pauses_and_spans_are_exact():
    segs = segments([12_000, 30_000, 7_000, 20_000])
    pauses = [0.25, 0.7, 0.0]
    audio, spans = stitch(segs, pauses)
    p = [6_000, 16_800, 0]
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == sum(map(len, segs)) + sum(p) - F              # one overlap join
    starts = [0, 12_000 + 6_000, 18_000 + 30_000 + 16_800, 64_800 + 7_000 - F]
    assert [round(s.start_s * SR) for s in spans] == starts
    assert [round((s.end_s - s.start_s) * SR) for s in spans] == [len(a) for a in segs]
    assert spans[-1].end_s * SR == len(audio)
    # the pauses are exact runs of zeros between the fades
    assert np.all(audio[12_000:18_000] == 0) and audio[11_999] != 0 and audio[18_000] != 0
    assert np.all(audio[48_000:64_800] == 0)


def test_fades_into_silence_and_untouched_interiors():
    segs = segments([5_000, 6_000, 4_000])
    audio, spans = stitch(segs, [0.25, 0.25])
    ramp = fade_in_ramp(F)
    for k, (seg, span) in enumerate(zip(segs, spans)):
        out = audio[round(span.start_s * SR):round(span.end_s * SR)]
        head = F if k > 0 else 0
        tail = F if k < len(segs) - 1 else 0
        assert np.array_equal(out[head:len(seg) - tail], seg[head:len(seg) - tail])   # bit for bit
        assert np.array_equal(out[:head], seg[:head] * ramp[:head])
        assert np.array_equal(out[len(seg) - tail:], seg[len(seg) - tail:] * ramp[::-1][:tail])
    assert np.allclose(ramp ** 2 + ramp[::-1] ** 2, 1.0, atol=1e-6)    # equal power
    assert 0 < ramp[0] < 0.01 and 0.99 < ramp[-1] < 1


def test_overlap_add_crossfade_when_the_pause_is_zero():
    a, b = segments([3_000, 2_000])
    audio, spans = stitch([a, b], [0.0])
    assert len(audio) == 5_000 - F
    ramp = fade_in_ramp(F)
    mixed = a[-F:] * ramp[::-1] + b[:F] * ramp
    assert np.array_equal(audio[3_000 - F:3_000], mixed)
    assert np.array_equal(audio[:3_000 - F], a[:-F]) and np.array_equal(audio[3_000:], b[F:])
    assert spans[1].start_s == (3_000 - F) / SR
    # a pause under half a sample is an overlap too
    assert len(stitch([a, b], [0.5 / SR * 0.99]).audio) == 5_000 - F


def test_constant_signal_has_no_click_through_a_crossfade():
    a, b = np.full(2_000, 0.5, np.float32), np.full(2_000, 0.5, np.float32)
    audio = stitch([a, b], [0.0], crossfade_s=0.01).audio
    steps = np.abs(np.diff(audio))
    assert steps.max() < 0.01                                       # a smooth bump, no step
    into_silence = stitch([a, b], [0.25]).audio
    assert np.abs(np.diff(into_silence)).max() < 0.01               # vs 0.5 without fades


def test_fades_are_clipped_to_half_of_short_segments():
    segs = segments([100, 30, 1, 0, 500])
    placements, total = layout([len(a) for a in segs], [0.25, 0.0, 0.25, 0.0])
    assert [(p.fade_in, p.fade_out, p.overlap) for p in placements] == [
        (0, 15, 0), (15, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)]
    assert total == 631 + 2 * 6_000 - 0
    audio, spans = stitch(segs, [0.25, 0.0, 0.25, 0.0])
    assert len(audio) == total
    assert spans[3].start_s == spans[3].end_s                        # an empty segment keeps a span


def test_regenerating_one_segment_changes_only_its_region():
    segs = segments([9_000, 8_000, 10_000, 7_000])
    pauses = [0.25, 0.7, 0.25]
    before, spans0 = stitch(segs, pauses)
    new = segments([11_000], seed=7)[0]
    after, spans1 = restitch(segs, pauses, {1: new})
    assert np.array_equal(after, stitch([segs[0], new, segs[2], segs[3]], pauses).audio)
    assert np.array_equal(restitch(segs, pauses).audio, before)     # deterministic
    shift = len(new) - len(segs[1])
    s1, e1 = round(spans0[1].start_s * SR), round(spans0[1].end_s * SR)
    assert np.array_equal(after[:s1], before[:s1])                   # everything before: identical
    assert np.array_equal(after[e1 + shift:], before[e1:])           # everything after: shifted
    assert [round(s.start_s * SR) for s in spans1[2:]] == [round(s.start_s * SR) + shift for s in spans0[2:]]


def test_inputs_are_checked():
    a, b = segments([100, 100])
    assert stitch([], []).audio.shape == (0,) and stitch([], []).spans == []
    assert np.array_equal(stitch([a], []).audio, a)
    with pytest.raises(ValueError, match="2 segments need 1 pauses, got 2"):
        stitch([a, b], [0.1, 0.1])
    with pytest.raises(ValueError, match="finite and >= 0"):
        stitch([a, b], [-0.1])
    with pytest.raises(ValueError, match="1-D"):
        stitch([a, np.zeros((2, 5), np.float32)], [0.1])
    with pytest.raises(ValueError, match="replace indices"):
        restitch([a, b], [0.1], {2: a})
    assert stitch([a.astype(np.float64), b], [0.1]).audio.dtype == np.float32


def test_docstring_examples():
    import doctest

    from mimo_core.longform import stitch as module
    assert doctest.testmod(module).failed == 0
