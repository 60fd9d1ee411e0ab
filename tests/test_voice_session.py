"""The conversation loop with a fake backend: a turn gets a streamed reply on the session's
conversation, barge-in cancels generation (the slot is freed) and playback, clear, errors;
and one turn on the real tiny model."""

from __future__ import annotations

import queue
import threading
import time
from typing import Optional

import numpy as np
import pytest

from app.voice.session import (BARGE_IN, ERROR, REPLY_AUDIO, REPLY_DONE, REPLY_TEXT, SPEECH_END,
                               SPEECH_START, VoiceSession)
from app.voice.turns import TurnSettings
from mimo_core.tasks.backend import EventStream
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.types import DialogueRequest, GenerationOptions, TaskRequest
from tests.browser.fake_backend import FakeMimoAudio
from tests.test_voice_turns import loud, signal

RATE = 16_000
FAST = TurnSettings(pause_s=0.3, min_speech_s=0.09)


def speak(session: VoiceSession, seconds: float = 0.6, pause: float = 0.5) -> list:
    """Feed speech then silence in 0.25 s chunks, as a browser would."""
    x = signal(("s", seconds), ("-", pause))
    out = []
    for i in range(0, len(x), RATE // 4):
        out += session.feed(x[i:i + RATE // 4], RATE)
    return out


def drain(session: VoiceSession, until_kind: str, turn: int, timeout_s: float = 30.0) -> list:
    """Outbox events up to and including the first ``until_kind`` of ``turn``."""
    got, end = [], time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            ev = session.outbox.get(timeout=0.1)
        except queue.Empty:
            continue
        got.append(ev)
        if ev.kind == until_kind and ev.turn == turn:
            return got
    raise AssertionError(f"no {until_kind} for turn {turn} in {timeout_s} s; got {[e.kind for e in got]}")


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_a_turn_gets_a_streamed_reply_on_the_conversation():
    fake = FakeMimoAudio(groups=5, step_s=0.01)
    session = VoiceSession(fake, settings=FAST, classify=loud, system_prompt="Be brief.")
    assert kinds(speak(session)) == [SPEECH_START, SPEECH_END]
    events = drain(session, REPLY_DONE, 1)
    assert kinds(events)[:2] == [SPEECH_START, SPEECH_END]
    assert REPLY_TEXT in kinds(events)
    audio = [e.audio for e in events if e.kind == REPLY_AUDIO]
    assert len(audio) == 5 and all(a.dtype == np.float32 for a in audio)
    done = events[-1]
    assert done.info["stop_reason"] == "length" and done.text.startswith("[dialogue turn 1]")
    req = fake.requests[0]
    assert isinstance(req, DialogueRequest) and req.system_prompt == "Be brief."
    audio_in, rate = req.audio
    assert rate == RATE and 0.6 <= len(audio_in) / RATE <= 0.6 + 0.3 + 0.2 + 0.05
    assert len(session.conversation.turns) == 2

    speak(session)                                # turn 2 continues the same conversation
    done = drain(session, REPLY_DONE, 2)[-1]
    assert done.text.startswith("[dialogue turn 2]")
    assert fake.requests[1].conversation is not None and len(session.conversation.turns) == 4


def test_barge_in_cancels_the_reply_frees_the_slot_and_takes_the_new_turn():
    fake = FakeMimoAudio(groups=400, step_s=0.02)            # an 8 s reply
    session = VoiceSession(fake, settings=FAST, classify=loud)
    speak(session)
    drain(session, REPLY_AUDIO, 1)                            # the reply is playing
    assert session.replying
    events = speak(session)                                   # the user talks over it
    assert kinds(events) == [SPEECH_START, BARGE_IN, SPEECH_END]
    assert events[1].turn == 1 and events[2].turn == 2
    rest = drain(session, REPLY_DONE, 1, timeout_s=5)
    assert rest[-1].info["stop_reason"] == "cancelled"
    assert len(fake.requests) == 2                            # the new turn went to the model
    assert fake.requests[1].conversation is None              # the cut reply is not history
    session.interrupt()
    drain(session, REPLY_DONE, 2, timeout_s=5)
    deadline = time.monotonic() + 5
    while fake.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.active == 0                                   # both streams left the engine
    assert session.conversation is None


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_speech_while_a_finished_reply_still_plays_is_a_barge_in():
    clock = Clock()
    fake = FakeMimoAudio(groups=10, step_s=0.0)               # 10 x 0.16 s = 1.6 s of audio
    session = VoiceSession(fake, settings=FAST, classify=loud, clock=clock)
    speak(session)
    drain(session, REPLY_DONE, 1)
    assert not session.replying and len(session.conversation.turns) == 2
    clock.now += 1.0                                          # playback is 1 s in: still playing
    assert BARGE_IN in kinds(speak(session))
    drain(session, REPLY_DONE, 2)
    clock.now += 10.0                                         # long over
    assert BARGE_IN not in kinds(speak(session))
    drain(session, REPLY_DONE, 3)
    # the finished first reply stays in the history even though its playback was cut
    assert len(session.conversation.turns) == 6


def test_quiet_microphone_sends_nothing():
    fake = FakeMimoAudio()
    session = VoiceSession(fake, settings=FAST, classify=loud)
    assert session.feed(np.zeros(RATE * 3, np.float32), RATE) == []
    assert fake.requests == [] and session.outbox.empty()


def test_clear_forgets_the_conversation_and_the_pause_can_change():
    fake = FakeMimoAudio(groups=3, step_s=0.0)
    session = VoiceSession(fake, settings=FAST, classify=loud)
    speak(session)
    drain(session, REPLY_DONE, 1)
    session.clear()
    assert session.conversation is None
    session.configure(pause_s=1.0, system_prompt="x")
    assert kinds(speak(session, pause=0.6)) == [SPEECH_START]           # 0.6 s < the new pause
    assert kinds(session.feed(np.zeros(RATE // 2, np.float32), RATE)) == [SPEECH_END]
    drain(session, REPLY_DONE, 2)
    assert fake.requests[-1].conversation is None and fake.requests[-1].system_prompt == "x"


def test_a_turn_longer_than_the_audio_limit_is_cut_there():
    fake = FakeMimoAudio(groups=2, step_s=0.0)
    session = VoiceSession(fake, settings=FAST, classify=loud, limits=Limits(max_audio_seconds=1.0))
    assert session.settings.max_turn_s == 1.0
    events = speak(session, seconds=2.5)
    ends = [e for e in events if e.kind == SPEECH_END]
    assert ends and ends[0].info["forced"]


class Failing(FakeMimoAudio):
    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> EventStream:
        from mimo_core.errors import PromptError
        raise PromptError("the system prompt is too long")


def test_a_model_error_is_one_readable_event():
    session = VoiceSession(Failing(), settings=FAST, classify=loud)
    speak(session)
    events = drain(session, REPLY_DONE, 1)
    errors = [e for e in events if e.kind == ERROR]
    assert errors and errors[0].text == "the system prompt is too long"
    assert events[-1].info["stop_reason"] == "cancelled" and session.conversation is None


@pytest.fixture(scope="module")
def tiny_model(tiny):
    from mimo_core.tasks import MimoAudio

    model = MimoAudio.from_specs("tiny", device="cpu", dtype="float32")
    yield model
    model.close()


def test_one_spoken_turn_on_the_tiny_model(tiny_model):
    from tests.test_voice_turns import _clip
    from app.voice.turns import WebRtcVad

    rate = 48_000
    speech = _clip(rate)
    x = np.concatenate([np.zeros(rate // 2, np.float32), speech, np.zeros(rate * 2, np.float32)])
    session = VoiceSession(tiny_model, classify=WebRtcVad(2), settings=TurnSettings(pause_s=0.8),
                           options=GenerationOptions(seed=1, max_new_groups=8, min_new_groups=4))
    events = []
    for i in range(0, len(x), rate // 4):
        events += session.feed(x[i:i + rate // 4], rate)
    assert kinds(events) == [SPEECH_START, SPEECH_END]
    got = drain(session, REPLY_DONE, 1, timeout_s=120)
    done = got[-1]
    assert done.info["stop_reason"] != "cancelled", got
    streamed = np.concatenate([e.audio for e in got if e.kind == REPLY_AUDIO])
    turns = session.conversation.turns
    assert [t.role for t in turns] == ["user", "assistant"]
    # the streamed chunks are the reply's audio (the streaming decoder's tolerance aside)
    assert len(streamed) == len(turns[1].audio)
    assert turns[0].audio is not None and len(turns[0].audio) > 24_000 * 2
