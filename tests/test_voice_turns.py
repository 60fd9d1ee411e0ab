"""The turn detector: speech start, end of turn after the configured pause, blips and short
gaps, forced cuts, chunking independence, and the real WebRTC VAD on an espeak clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.voice.turns import (FRAME_S, SpeechStarted, TurnDetector, TurnEnded, TurnSettings,
                             WebRtcVad, as_float_mono)
from mimo_core.errors import PromptError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
RATE = 16_000
LOUD = 0.3


def loud(frame: np.ndarray) -> bool:
    """A stand-in VAD: any frame with energy is speech."""
    return float(np.sqrt(np.mean(frame * frame))) > 0.05


def signal(*parts: tuple[str, float], rate: int = RATE) -> np.ndarray:
    """("s", seconds) noise bursts and ("-", seconds) digital silence, concatenated."""
    rng = np.random.default_rng(0)
    out = [LOUD * rng.uniform(-1, 1, round(sec * rate)) if kind == "s" else np.zeros(round(sec * rate))
           for kind, sec in parts]
    return np.concatenate(out).astype(np.float32)


def run(x: np.ndarray, settings: TurnSettings, chunk: int = 4000, rate: int = RATE,
        classify=loud) -> list:
    det = TurnDetector(classify, rate, settings)
    events = []
    for i in range(0, len(x), chunk):
        events += det.push(x[i:i + chunk])
    return events


def test_one_turn_starts_and_ends_after_the_pause():
    s = TurnSettings(pause_s=0.6, min_speech_s=0.15, pre_roll_s=0.3)
    events = run(signal(("-", 0.6), ("s", 1.2), ("-", 1.5)), s)
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    start, end = events
    assert start.at_s == pytest.approx(0.6, abs=FRAME_S)
    assert end.speech_end_s == pytest.approx(1.8, abs=FRAME_S)
    assert end.at_s - end.speech_end_s == pytest.approx(s.pause_s, abs=FRAME_S)   # the VAD wait
    # pre-roll + speech + tail (0.2 s)
    assert end.duration_s == pytest.approx(0.3 + 1.2 + 0.2, abs=2 * FRAME_S)
    assert not end.forced and end.sample_rate == RATE
    assert np.abs(end.audio).max() > 0.1


def test_the_pause_length_is_what_is_waited():
    x = signal(("-", 0.3), ("s", 0.6), ("-", 2.0))
    for pause in (0.3, 0.8, 1.5):
        end = run(x, TurnSettings(pause_s=pause))[-1]
        assert isinstance(end, TurnEnded)
        assert end.at_s - end.speech_end_s == pytest.approx(pause, abs=FRAME_S)


def test_a_gap_shorter_than_the_pause_keeps_one_turn():
    s = TurnSettings(pause_s=0.8)
    events = run(signal(("s", 0.8), ("-", 0.5), ("s", 0.8), ("-", 1.2)), s)
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    assert events[1].speech_end_s == pytest.approx(2.1, abs=FRAME_S)


def test_a_longer_gap_makes_two_turns():
    events = run(signal(("s", 0.8), ("-", 1.0), ("s", 0.8), ("-", 1.0)), TurnSettings(pause_s=0.5))
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded, SpeechStarted, TurnEnded]


def test_blips_shorter_than_min_speech_are_ignored():
    events = run(signal(("-", 0.3), ("s", 0.09), ("-", 0.5), ("s", 0.06), ("-", 1.0)),
                 TurnSettings(min_speech_s=0.2))
    assert events == []


def test_a_turn_is_cut_at_max_turn_length():
    events = run(signal(("s", 3.0), ("-", 0.1)), TurnSettings(max_turn_s=1.0, pre_roll_s=0.0))
    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert ended and ended[0].forced
    assert ended[0].duration_s <= 1.0 + 0.2 + FRAME_S


def test_chunk_size_does_not_change_the_events():
    x = signal(("-", 0.4), ("s", 0.7), ("-", 0.9), ("s", 0.5), ("-", 1.0))
    s = TurnSettings(pause_s=0.5)

    def summary(events):
        return [(type(e).__name__, round(e.at_s, 3), e.duration_s if isinstance(e, TurnEnded) else 0)
                for e in events]

    whole = summary(run(x, s, chunk=len(x)))
    assert len(whole) == 4
    for chunk in (160, 333, 4000, 12345):
        assert summary(run(x, s, chunk=chunk)) == whole


def test_int16_and_stereo_input():
    x = signal(("-", 0.3), ("s", 0.6), ("-", 1.0))
    pcm = (x * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)                  # (N, 2) as a browser may send
    assert as_float_mono(stereo) == pytest.approx(as_float_mono(pcm))
    assert [type(e) for e in run(stereo, TurnSettings())] == [SpeechStarted, TurnEnded]


@pytest.mark.parametrize("bad", [dict(pause_s=0), dict(min_speech_s=-1), dict(max_turn_s=float("nan")),
                                 dict(pre_roll_s=-0.1)])
def test_bad_settings_are_one_readable_line(bad):
    with pytest.raises(PromptError) as err:
        TurnSettings(**bad)
    assert "\n" not in str(err.value)


def _clip(rate: int) -> np.ndarray:
    wav, clip_rate = sf.read(ASSETS / "question_capital.flac", dtype="float32")
    import soxr
    return soxr.resample(wav, clip_rate, rate).astype(np.float32)


@pytest.mark.parametrize("rate", [48_000, 16_000])
def test_webrtc_vad_finds_one_turn_in_a_spoken_question(rate):
    speech = _clip(rate)
    pad = np.zeros(rate, np.float32)
    x = np.concatenate([pad, speech, pad, pad])
    events = run(x, TurnSettings(pause_s=0.8), chunk=rate // 4, rate=rate, classify=WebRtcVad(2))
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    start, end = events
    voiced = np.flatnonzero(np.abs(speech) > 0.02)          # where the clip is audible
    first, last = voiced[0] / rate, voiced[-1] / rate
    assert start.at_s == pytest.approx(1.0 + first, abs=0.15)
    assert end.speech_end_s == pytest.approx(1.0 + last, abs=0.15)
    assert end.duration_s == pytest.approx(last - first + 0.3 + 0.2, abs=0.3)   # + pre-roll, tail


def test_webrtc_vad_hears_no_turn_in_silence_or_hum():
    t = np.arange(3 * RATE) / RATE
    quiet = (0.001 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)    # -60 dBFS mains hum
    assert run(quiet, TurnSettings(), classify=WebRtcVad(2)) == []
    assert run(np.zeros(3 * RATE, np.float32), TurnSettings(), classify=WebRtcVad(2)) == []
