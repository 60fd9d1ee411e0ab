"""The /v1 API on a real server (uvicorn, free localhost port, the tiny model on CPU) driven
by the official ``openai`` client: speech, transcription, chat (text, audio in and out,
streaming, thinking, history), the /v1/mimo endpoints and the error statuses.

The tiny model's output is noise, so the tests check shapes, formats, lengths and that the
streamed parts add up to the whole, not words.
"""

from __future__ import annotations

import base64
import json
import threading

import httpx
import numpy as np
import pytest

from .openai_support import read_audio, serving, tone, wav_b64, wav_bytes

openai = pytest.importorskip("openai", reason="the openai client is not installed (requirements-dev.txt)")

MODEL = "mimo-audio-instruct"
GROUPS = 6                       # generated groups per request: short, fast on the tiny model
SAMPLES_PER_GROUP = 4 * 960      # 4 codec frames of 40 ms at 24 kHz
SMALL = {"max_tokens": GROUPS, "seed": 1}


@pytest.fixture(scope="module")
def model(mimo):
    """The module's tiny facade (conftest), loaded as a running server has it."""
    mimo.load("tokenizer")
    mimo.load("instruct")
    return mimo


@pytest.fixture(scope="module")
def url(model):
    from app.openai_api import ApiConfig
    from app.serve import build_server_app

    with serving(build_server_app(model, ApiConfig())) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)


def audio_part(seconds=0.5, freq=220.0) -> dict:
    return {"type": "input_audio", "input_audio": {"data": wav_b64(seconds, freq), "format": "wav"}}


# ------------------------------------------------------------------------------ models, speech
def test_models_lists_configured(client):
    assert {m.id for m in client.models.list().data} == {"mimo-audio-instruct", "mimo-audio-base"}


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus"])
def test_speech_file_formats(client, fmt):
    reply = client.audio.speech.create(model=MODEL, voice="alloy", input="Hello there.",
                                       response_format=fmt, extra_body=SMALL)
    audio, rate = read_audio(reply.content)
    assert rate == 24_000 and audio.ndim == 1 and len(audio) > 0
    assert np.isfinite(audio).all()


def test_speech_pcm_is_raw_pcm16_and_same_seed_same_audio(client):
    one = client.audio.speech.create(model=MODEL, voice="alloy", input="Hi.", response_format="pcm",
                                     extra_body=SMALL).content
    two = client.audio.speech.create(model=MODEL, voice="alloy", input="Hi.", response_format="pcm",
                                     extra_body=SMALL).content
    assert len(one) % 2 == 0 and len(one) > 0 and one == two


def test_speech_voice_prompt_and_instructions_change_the_prompt(client):
    plain = client.audio.speech.create(model=MODEL, voice="alloy", input="Hi.", response_format="pcm",
                                       extra_body=SMALL).content
    styled = client.audio.speech.create(model=MODEL, voice="female", input="Hi.", response_format="pcm",
                                        instructions="whisper", extra_body=SMALL).content
    assert styled != plain


def test_speech_raw_streaming_arrives_in_chunks(client):
    with client.audio.speech.with_streaming_response.create(
            model=MODEL, voice="alloy", input="Hello there.", response_format="wav",
            extra_body={**SMALL, "max_tokens": 12}) as response:
        chunks = list(response.iter_bytes(chunk_size=None))
    assert len(chunks) > 2                              # header, then audio as it is made
    audio, rate = read_audio(b"".join(chunks))
    assert rate == 24_000 and len(audio) > 0


def test_speech_sse_deltas_add_up_to_the_one_shot_audio(client, url):
    body = {"model": MODEL, "voice": "alloy", "input": "Hello there.", "response_format": "pcm",
            "stream_format": "sse", **SMALL}
    deltas, done = [], None
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "speech.audio.delta":
                    deltas.append(base64.b64decode(event["audio"]))
                else:
                    done = event
    assert done["type"] == "speech.audio.done" and done["usage"]["output_tokens"] == GROUPS
    streamed = np.frombuffer(b"".join(deltas), "<i2").astype(np.float32)
    whole = np.frombuffer(client.audio.speech.create(
        model=MODEL, voice="alloy", input="Hello there.", response_format="pcm", extra_body=SMALL).content,
        "<i2").astype(np.float32)
    assert len(deltas) >= 1 and abs(len(streamed) - len(whole)) <= SAMPLES_PER_GROUP
    n = min(len(streamed), len(whole))
    # the streaming decoder's tolerance (codec/streaming.py): 5 % relative RMS
    assert np.sqrt(np.mean((streamed[:n] - whole[:n]) ** 2)) <= 0.05 * np.sqrt(np.mean(whole[:n] ** 2)) + 2


# ------------------------------------------------------------------------------ transcription
def _transcribe(client, **kw):
    return client.audio.transcriptions.create(model=MODEL, file=("a.wav", wav_bytes(tone(0.8))),
                                              extra_body=SMALL, **kw)


def test_transcription_formats(client):
    as_json = _transcribe(client)
    assert isinstance(as_json.text, str)
    as_text = _transcribe(client, response_format="text")
    assert isinstance(as_text, str) and as_text.strip() == as_json.text
    verbose = _transcribe(client, response_format="verbose_json", language="zh")
    assert verbose.language == "chinese" and verbose.duration == pytest.approx(0.8, abs=0.01)


def test_transcription_streaming_deltas_add_up_to_done(client):
    events = list(_transcribe(client, stream=True))
    assert events[-1].type == "transcript.text.done"
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas.strip() == events[-1].text


# ------------------------------------------------------------------------------ chat
def test_chat_text_only(client):
    reply = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}], **_sampling())
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens == GROUPS or choice.finish_reason == "stop"


def _sampling(**extra):
    return {"max_tokens": GROUPS, "seed": 1, **({"extra_body": extra} if extra else {})}


def test_chat_text_history_and_streaming_equal_one_shot(client):
    messages = [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "And then?"}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, **_sampling())
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                                 stream_options={"include_usage": True}, **_sampling()))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_chat_thinking_returns_reasoning_separately(client):
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Why?"}],
                                           **_sampling(thinking=True))
    message = reply.choices[0].message
    # the tiny model never closes its think block within 6 groups: all of it is reasoning
    assert message.content == "" and (message.model_extra or {}).get("reasoning_content")
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Why?"}],
                                                 stream=True, **_sampling(thinking=True)))
    streamed = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                       for c in chunks if c.choices)
    assert streamed == message.model_extra["reasoning_content"]


def test_chat_audio_in_text_out_and_understanding(client):
    s2t = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [audio_part()]}],
                                         **_sampling())
    assert isinstance(s2t.choices[0].message.content, str)
    understand = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
        audio_part(), {"type": "text", "text": "What sound is this?"}]}], **_sampling())
    assert isinstance(understand.choices[0].message.content, str)


def test_chat_audio_out_then_history_by_audio_id(client):
    first = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": [audio_part()]}], **_sampling())
    audio = first.choices[0].message.audio
    assert first.choices[0].message.content is None and audio.id.startswith("audio_")
    wav, rate = read_audio(base64.b64decode(audio.data))
    assert rate == 24_000 and len(wav) > 0 and audio.expires_at > 0
    follow = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "female", "format": "mp3"},
        messages=[{"role": "user", "content": [audio_part()]}, {"role": "assistant", "audio": {"id": audio.id}},
                  {"role": "user", "content": [audio_part(freq=330.0)]}], **_sampling())
    assert read_audio(base64.b64decode(follow.choices[0].message.audio.data))[1] == 24_000


def test_chat_audio_streaming_delta_audio(client):
    chunks = list(client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": [audio_part()]}], stream=True,
        max_tokens=12, seed=1))
    audios = [delta_audio(c.choices[0].delta) for c in chunks if c.choices]
    audios = [a for a in audios if a]
    ids = {a["id"] for a in audios}
    pcm = b"".join(base64.b64decode(a["data"]) for a in audios if a.get("data"))
    assert len(ids) == 1 and len(pcm) > 0 and len(pcm) % 2 == 0
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert any(a.get("expires_at") for a in audios)


def delta_audio(delta) -> dict:
    """``delta.audio`` as a dict: typed by newer openai clients, in ``model_extra`` before."""
    audio = getattr(delta, "audio", None) or (delta.model_extra or {}).get("audio")
    if audio is None:
        return {}
    return audio if isinstance(audio, dict) else audio.model_dump(exclude_none=True)


# ------------------------------------------------------------------------------ mimo extras
def test_mimo_continue_and_s2s(url):
    pair = {"data": wav_b64(0.4), "format": "wav"}
    cont = httpx.post(f"{url}/v1/mimo/continue", json={"model": "mimo-audio-base", "audio": pair,
                                                       "duration_s": 1, "seed": 1}, timeout=120)
    assert cont.status_code == 200, cont.text
    assert read_audio(base64.b64decode(cont.json()["audio"]["data"]))[1] == 24_000
    s2s = httpx.post(f"{url}/v1/mimo/s2s", timeout=120, json={
        "model": "mimo-audio-base", "instruction": "Convert the voice.", "audio": pair, **SMALL,
        "examples": [{"input_audio": pair, "output_audio": pair, "transcript": "hello"}]})
    assert s2s.status_code == 200, s2s.text
    assert s2s.json()["audio"]["format"] == "wav"


# ------------------------------------------------------------------------------ errors
def _error(call) -> tuple[int, dict]:
    with pytest.raises(openai.APIStatusError) as err:
        call()
    return err.value.status_code, err.value.body


def test_errors_have_openai_shape_and_status(client, url):
    status, body = _error(lambda: client.audio.speech.create(model=MODEL, voice="alloy", input="x",
                                                             response_format="aac"))
    assert status == 400 and body["param"] == "response_format" and body["type"] == "invalid_request_error"
    status, body = _error(lambda: client.audio.speech.create(model="tts-1", voice="alloy", input="x"))
    assert status == 404 and body["code"] == "model_not_found"
    status, body = _error(lambda: client.audio.speech.create(model=MODEL, voice="bob", input="x"))
    assert status == 400 and "female" in body["message"]
    status, body = _error(lambda: client.audio.speech.create(model=MODEL, voice="alloy", input="x", speed=2))
    assert status == 400 and body["param"] == "speed"
    status, body = _error(lambda: client.audio.transcriptions.create(model=MODEL, file=("a.wav", b"junk!")))
    assert status == 400 and "cannot read audio" in body["message"]
    status, body = _error(lambda: client.chat.completions.create(
        model="mimo-audio-base", messages=[{"role": "user", "content": "hi"}]))
    assert status == 400 and body["param"] == "model"
    raw = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", timeout=30)
    assert raw.status_code == 400 and set(raw.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.get(f"{url}/v1/nothing", timeout=30).json()["error"]["message"] == "no such endpoint"


@pytest.fixture(scope="module")
def strict_url(model):
    """A second server: API key, 1 request in flight, 64 KB bodies."""
    from app.openai_api import ApiConfig
    from app.serve import build_server_app

    config = ApiConfig(api_key="sesame", max_in_flight=1, max_upload_bytes=64 * 1024)
    with serving(build_server_app(model, config)) as base:
        yield base


def test_api_key_required(strict_url):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sesame"}):
        response = httpx.get(f"{strict_url}/v1/models", headers=headers, timeout=30)
        assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
    good = openai.OpenAI(base_url=f"{strict_url}/v1", api_key="sesame", max_retries=0)
    assert [m.id for m in good.models.list().data] == ["mimo-audio-instruct", "mimo-audio-base"]
    bad = openai.OpenAI(base_url=f"{strict_url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_too_large_body_413(strict_url):
    client = openai.OpenAI(base_url=f"{strict_url}/v1", api_key="sesame", max_retries=0)
    status, body = _error(lambda: client.audio.transcriptions.create(
        model=MODEL, file=("a.wav", wav_bytes(tone(2.0)))))          # 96 KB > 64 KB
    assert status == 413 and body["code"] == "request_too_large"


def test_queue_full_429_while_a_stream_holds_the_only_slot(strict_url):
    client = openai.OpenAI(base_url=f"{strict_url}/v1", api_key="sesame", max_retries=0, timeout=120)
    headers = {"Authorization": "Bearer sesame"}
    body = {"model": MODEL, "voice": "alloy", "input": "Hello there.", "response_format": "pcm",
            "max_tokens": 2000, "min_tokens": 2000}              # cannot stop early
    with httpx.stream("POST", f"{strict_url}/v1/audio/speech", json=body, headers=headers,
                      timeout=120) as held:
        assert held.status_code == 200
        raw = held.iter_raw()                            # kept: dropping it closes the stream
        next(raw)                                        # generation is under way
        status, payload = _error(lambda: client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2))
        assert status == 429 and payload["type"] == "rate_limit_error"
    # the slot comes back when the stream is closed (client gone -> cancelled)
    for _ in range(50):
        try:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=2)
            break
        except openai.RateLimitError:
            threading.Event().wait(0.1)
    else:
        pytest.fail("the in-flight slot was not released after the client left")


def test_503_while_loading_then_ready(model):
    from app.openai_api import ApiConfig
    from app.openai_api.admission import ReadyGate
    from app.serve import build_server_app

    release = threading.Event()
    gate = ReadyGate(lambda: release.wait(60)).start()
    with serving(build_server_app(model, ApiConfig(), gate)) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)
        call = lambda: client.audio.speech.create(model=MODEL, voice="alloy", input="x",  # noqa: E731
                                                  response_format="pcm", extra_body=SMALL)
        status, body = _error(call)
        assert status == 503 and body["code"] == "model_loading"
        release.set()
        assert gate.wait(10)
        assert len(call().content) > 0


def test_cors_off_by_default_and_on_for_named_origins(model, url):
    from app.openai_api import ApiConfig
    from app.serve import build_server_app

    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    off = httpx.options(f"{url}/v1/chat/completions", headers=preflight, timeout=30)
    assert "access-control-allow-origin" not in off.headers
    with serving(build_server_app(model, ApiConfig(cors_origins=("http://app.example",)))) as base:
        on = httpx.options(f"{base}/v1/chat/completions", headers=preflight, timeout=30)
        other = httpx.options(f"{base}/v1/chat/completions", timeout=30,
                              headers={**preflight, "Origin": "http://evil.example"})
    assert on.headers.get("access-control-allow-origin") == "http://app.example"
    assert "access-control-allow-origin" not in other.headers
