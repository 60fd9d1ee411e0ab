"""The voice websocket on a served app (launch() with the voice routes), driven by a real
websocket client: the documented example, barge-in, control messages and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

websockets = pytest.importorskip("websockets", reason="the websockets client is not installed")
from websockets.sync.client import connect  # noqa: E402

from tests.browser.fake_backend import FakeMimoAudio  # noqa: E402
from tests.conftest import launched  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets" / "question_capital.flac"
REPLY_GROUPS = 150                       # the fake's reply: 150 x 0.16 s of audio
STEP_S = 0.01


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from app import Handlers, build_app
    from app.voice import voice_routes

    fake = FakeMimoAudio(groups=REPLY_GROUPS, step_s=STEP_S)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIMO_APP_TMP", str(tmp_path_factory.mktemp("voice_out")))
        handlers = Handlers(fake, presets={})
        routes = voice_routes(handlers.backend, handlers.limits)
        with launched(build_app(handlers), max_queue=8, routes=routes) as url:
            yield url.replace("http://", "ws://") + "/voice/ws", fake


def example_talk():
    """The client example of docs/VOICE_CHAT.md, as written there."""
    doc = (ROOT / "docs" / "VOICE_CHAT.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    namespace = {"__name__": "voice_client_example"}
    exec(compile(code, "VOICE_CHAT.md", "exec"), namespace)
    return namespace["talk"]


def test_the_documented_client_gets_a_spoken_reply(served):
    url, fake = served
    before = len(fake.requests)
    text, audio = example_talk()(url, str(CLIP))
    assert text.startswith("[dialogue turn 1]")
    assert audio.dtype == np.dtype("<i2") and len(audio) == REPLY_GROUPS * 3840
    req = fake.requests[before]
    heard, rate = req.audio
    assert rate == 24_000 and 2.5 <= len(heard) / rate <= 4.5     # the question, not the silence


def _events(ws, until: str, turn: int) -> tuple[list[dict], int]:
    """JSON events up to ``until`` of ``turn``, and the bytes of reply audio seen meanwhile."""
    events, audio = [], 0
    while True:
        message = ws.recv(timeout=60)
        if isinstance(message, bytes):
            audio += len(message)
            continue
        events.append(json.loads(message))
        if events[-1]["type"] == until and events[-1]["turn"] == turn:
            return events, audio


def _pcm(rate: int, *, silence_s: float) -> list[bytes]:
    wav, clip_rate = sf.read(CLIP, dtype="float32")
    import soxr
    speech = (soxr.resample(wav, clip_rate, rate) * 32767).astype("<i2")
    x = np.concatenate([speech, np.zeros(int(silence_s * rate), "<i2")])
    step = rate // 10
    return [x[i:i + step].tobytes() for i in range(0, len(x), step)]


def test_barge_in_over_the_socket(served):
    url, fake = served
    with connect(f"{url}?rate=16000") as ws:
        assert json.loads(ws.recv())["type"] == "ready"
        ws.send(json.dumps({"type": "config", "system_prompt": "Be brief.", "pause_s": 0.5}))
        for frame in _pcm(16_000, silence_s=1.0):
            ws.send(frame)
        events, _ = _events(ws, "speech_end", 1)
        assert [e["type"] for e in events] == ["speech_start", "speech_end"]
        while not isinstance(ws.recv(timeout=60), bytes):            # the reply is playing
            pass
        for frame in _pcm(16_000, silence_s=1.0):                    # talk over it
            ws.send(frame)
        events, audio_after_cut = [], 0
        while not (events and events[-1]["type"] == "reply_done" and events[-1]["turn"] == 2):
            message = ws.recv(timeout=60)
            if isinstance(message, bytes):
                if any(e["type"] == "barge_in" for e in events) and not any(
                        e["type"] == "speech_end" and e["turn"] == 2 for e in events):
                    audio_after_cut += len(message)
                continue
            events.append(json.loads(message))
        kinds = [(e["type"], e["turn"]) for e in events]
        assert ("barge_in", 1) in kinds and ("speech_end", 2) in kinds
        done1 = next(e for e in events if e["type"] == "reply_done" and e["turn"] == 1)
        assert done1["stop_reason"] == "cancelled"
        assert kinds.index(("barge_in", 1)) < kinds.index(("speech_end", 2))
        assert audio_after_cut == 0                    # nothing of the cut reply after barge_in
        assert events[-1]["stop_reason"] == "length"
    assert fake.requests[-1].system_prompt == "Be brief."
    assert fake.requests[-1].conversation is None      # the cut reply did not enter the history


def test_clear_and_interrupt_and_bad_messages(served):
    url, fake = served
    with connect(url) as ws:
        ready = json.loads(ws.recv())
        assert ready["rate_in"] == 24_000 and ready["rate_out"] == 24_000
        ws.send("not json")
        assert json.loads(ws.recv())["message"] == "control messages must be JSON objects"
        ws.send(json.dumps({"type": "dance"}))
        assert "unknown message type 'dance'" in json.loads(ws.recv())["message"]
        ws.send(json.dumps({"type": "config", "pause_s": 0}))
        assert json.loads(ws.recv())["type"] == "error"
        ws.send(json.dumps({"type": "config", "voice_prompt": "%%%"}))
        assert "base64" in json.loads(ws.recv())["message"]
        ws.send(json.dumps({"type": "config", "max_reply_s": 1}))
        for frame in _pcm(24_000, silence_s=1.0):
            ws.send(frame)
        events, audio = _events(ws, "reply_done", 1)
        assert audio == 7 * 3840 * 2                # 1 s = 7 positions of 3840 samples, PCM16
        ws.send(json.dumps({"type": "clear"}))
        ws.send(json.dumps({"type": "interrupt"}))
        for frame in _pcm(24_000, silence_s=1.0):
            ws.send(frame)
        _events(ws, "reply_done", 2)
        assert fake.requests[-1].conversation is None           # cleared before turn 2


def test_a_bad_rate_is_refused_with_a_reason(served):
    url, _ = served
    with connect(f"{url}?rate=12") as ws:
        event = json.loads(ws.recv())
        assert event["type"] == "error" and event["message"] == "rate must be 8000..96000 Hz, got 12"
