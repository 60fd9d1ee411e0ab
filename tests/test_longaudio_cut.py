"""Cutting long recordings at pauses: the rules on exact frame flags, then webrtcvad on speech
(this repo's espeak-ng clips) joined by silences of known lengths under light noise."""

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mimo_core.longaudio.blocks import AudioBlocks
from mimo_core.longaudio.cut import (FRAME_S, PAD_S, Frame, Span, cut_points, segment_flags, segments_audio,
                                     speech_frames)

SR = 24_000
ASSETS = Path(__file__).resolve().parents[1] / "assets"
CLIPS = ["speech_fox.flac", "question_story.flac", "speech_weather.flac", "vc_in_1.flac", "vc_in_2.flac"]
GAPS_S = [1.0, 0.8, 1.5, 0.6, 2.0, 1.2]           # silence before each clip, and after the last
TOLERANCE_S = 0.1


def frames(*runs):
    """Flags from (value, count) runs: frames(("0", 10), ("1", 20)) ..."""
    return [v == "1" for v, n in runs for _ in range(n)]


def blocks_of(audio, seconds):
    step = round(seconds * SR)
    return [audio[i:i + step] for i in range(0, len(audio), step)]


@pytest.fixture(scope="module")
def speech():
    """(audio without noise, [(true speech start, true end)] per clip) at 24 kHz."""
    parts, truth, t = [np.zeros(round(GAPS_S[0] * SR), np.float32)], [], GAPS_S[0]
    for name, gap in zip(CLIPS, GAPS_S[1:]):
        clip, rate = sf.read(ASSETS / name, dtype="float32")
        assert rate == SR
        loud = np.nonzero(np.abs(clip) > 0.02 * np.abs(clip).max())[0]    # the true edges, clean
        truth.append((t + loud[0] / SR, t + (loud[-1] + 1) / SR))
        parts += [clip, np.zeros(round(gap * SR), np.float32)]
        t += len(clip) / SR + gap
    return np.concatenate(parts), truth


def with_noise(audio, level, seed=0):
    return audio + (level * np.random.default_rng(seed).standard_normal(len(audio))).astype(np.float32)


# ---- the rules, on exact frame flags (frame i covers [0.03 i, 0.03 (i + 1)) seconds) ----

def test_a_pause_ends_a_segment_and_spans_are_padded():
    flags = frames(("0", 10), ("1", 20), ("0", 20), ("1", 10), ("0", 5))
    assert list(segment_flags(flags)) == [Span(0.2, 1.0), Span(1.4, 1.9)]
    assert list(segment_flags(flags, duration_s=1.92)) == [Span(0.2, 1.0), Span(1.4, 1.9)]
    assert list(segment_flags(flags[:-5], duration_s=1.82)) == [Span(0.2, 1.0), Span(1.4, 1.82)]


def test_a_shorter_pause_stays_inside_and_leading_padding_is_clipped_at_zero():
    flags = frames(("1", 20), ("0", 9), ("1", 20), ("0", 20))
    assert list(segment_flags(flags)) == [Span(0.0, 1.57)]


def test_padding_never_overlaps_the_next_span():
    flags = frames(("1", 20), ("0", 10), ("1", 20))
    spans = list(segment_flags(flags, pad_s=0.5))                    # at most min_pause / 2 = 0.15
    assert spans == [Span(0.0, 0.75), Span(0.75, 1.5)]


def test_a_click_is_not_speech():
    flags = frames(("0", 10), ("1", 4), ("0", 30), ("1", 5), ("0", 20))
    assert list(segment_flags(flags)) == [Span(1.22, 1.57)]


def test_an_over_long_segment_is_cut_at_the_longest_pause_of_its_last_half():
    flags = frames(("1", 300), ("0", 8), ("1", 292), ("0", 6), ("1", 194), ("0", 4), ("1", 529))
    # pauses at 9.0 s (8 frames: first half, ignored), 18.0 s (6: the longest of the last half),
    # 24.0 s (4); the cut falls at the 18.0 s pause's middle, 18.09 s
    assert list(segment_flags(flags)) == [Span(0.0, 18.09), Span(18.09, 39.99)]


def test_speech_without_pauses_is_hard_cut_within_the_limit():
    spans = list(segment_flags([True] * 2167))                       # 65.01 s of speech
    assert spans == [Span(0.0, 29.88), Span(29.88, 59.76), Span(59.76, 65.01)]
    assert all(s.duration_s <= 30.0 for s in spans)


def test_random_flags_give_ordered_bounded_spans_covering_the_speech():
    rng = random.Random(0)
    for trial in range(150):
        flags = []
        while len(flags) < 3000:
            flags += [rng.random() < 0.6] * rng.randint(1, rng.choice([3, 12, 40, 400]))
        quiet_db, loud_db = (-70, -40), (-30, -5)
        with_levels = [Frame(f, rng.uniform(*(loud_db if f else quiet_db))) for f in flags] if trial % 2 else flags
        max_s, duration_s = rng.choice([5.0, 10.0, 30.0]), len(flags) * FRAME_S
        spans = list(segment_flags(with_levels, duration_s=duration_s, max_segment_s=max_s))
        assert all(0 <= s.start_s < s.end_s <= duration_s + 1e-6 and s.duration_s <= max_s + 1e-6 for s in spans)
        assert all(a.end_s <= b.start_s for a, b in zip(spans, spans[1:]))
        i = 0
        while i < len(flags):                                        # every speech run of 5+ frames is in a span
            j = i
            while j < len(flags) and flags[j] == flags[i]:
                j += 1
            if flags[i] and j - i >= 5:
                middle = (i + j) / 2 * FRAME_S
                assert any(s.start_s <= middle <= s.end_s for s in spans), (trial, i, j)
            i = j


def test_rules_are_checked():
    with pytest.raises(ValueError):
        list(segment_flags([True], max_segment_s=1.0))
    with pytest.raises(ValueError, match="vad_aggressiveness"):
        list(cut_points([np.zeros(SR, np.float32)], vad_aggressiveness=4))


# ---- webrtcvad on speech with known pauses ----

@pytest.mark.parametrize("noise", [0.0, 0.003, 0.01])
def test_cuts_fall_in_the_known_pauses_and_edges_are_within_0_1_s(speech, noise):
    audio, truth = speech
    spans = list(cut_points(blocks_of(with_noise(audio, noise), 5.0)))
    assert len(spans) == len(truth)
    for k, (span, (start, end)) in enumerate(zip(spans, truth)):
        assert abs(span.start_s + PAD_S - start) <= TOLERANCE_S, (k, span, start)
        assert abs(span.end_s - PAD_S - end) <= TOLERANCE_S, (k, span, end)
        assert span.start_s < start and span.end_s > end             # the padding covers the speech
        if k + 1 < len(truth):
            assert end < span.end_s <= spans[k + 1].start_s < truth[k + 1][0]   # the cut is in the pause


def test_block_size_does_not_change_the_cuts(speech):
    audio = with_noise(speech[0], 0.003)
    assert list(cut_points(blocks_of(audio, 0.37))) == list(cut_points([audio]))


def test_65_s_of_speech_like_sound_without_pauses_is_cut_into_30_s_pieces():
    t = np.arange(65 * SR) / SR
    cycles = np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.5 * t)) / SR               # a gliding voice, 100-140 Hz
    period = 2 * np.pi * np.arange(4096) / 4096
    table = sum(np.sin(k * period) / k for k in range(1, 30))                        # 29 harmonics, one period
    buzz = table[(cycles * 4096).astype(np.int64) % 4096] * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    audio = (0.2 * buzz / np.abs(buzz).max()).astype(np.float32)                  # syllable-rate swell
    assert np.mean([f.speech for f in speech_frames([audio])]) > 0.99
    spans = list(cut_points(blocks_of(audio, 30.0)))
    assert len(spans) == 3 and all(s.duration_s <= 30.0 for s in spans)
    assert spans[0].start_s == 0.0 and spans[-1].end_s > 64.9
    assert all(a.end_s == b.start_s for a, b in zip(spans, spans[1:]))   # hard cuts: contiguous


def test_silence_and_noise_yield_no_spans():
    silence = np.zeros(20 * SR, np.float32)
    assert list(cut_points([silence])) == []
    assert list(cut_points(blocks_of(with_noise(silence, 0.003), 7.0))) == []
    click = silence.copy()
    click[5 * SR:5 * SR + 240] = 0.5
    assert list(cut_points([click])) == []
    assert list(cut_points([])) == []


def test_segments_audio_reads_each_span_back(tmp_path, speech):
    path = tmp_path / "talk.wav"
    audio = with_noise(speech[0], 0.003)
    sf.write(path, audio, SR, subtype="FLOAT")
    recording = AudioBlocks(path, block_s=4.0)
    spans = list(cut_points(recording))
    assert len(spans) == len(CLIPS)
    pieces = list(segments_audio(path, spans))
    for span, piece in zip(spans, pieces):
        a, b = round(span.start_s * SR), round(span.end_s * SR)
        assert np.array_equal(piece, audio[a:b])
    assert [len(p) for p in segments_audio(recording, spans[:2])] == [len(p) for p in pieces[:2]]


def test_docstring_examples():
    import doctest

    from mimo_core.longaudio import blocks, cut
    for module in (blocks, cut):
        assert doctest.testmod(module).failed == 0, module.__name__
