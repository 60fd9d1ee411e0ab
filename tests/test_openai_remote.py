"""Remote engines (``--engine-url``): ``RemoteBackend`` against our own ``serve`` app started
here as a real remote (uvicorn on a free localhost port, the tiny model on CPU). Results are
compared with the same request run on the local model with the same seed; the pool's
least-busy choice and failover are tested with a dead address beside the live one."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mimo_core.errors import PromptError
from mimo_core.remote import EnginePool, RemoteBackend, RemoteError, parse_urls
from mimo_core.sampler_config import SamplerConfig
from mimo_core.tasks import (ASRRequest, ChatRequest, ContinueRequest, DialogueRequest, FewShotExample,
                             GenerationOptions, S2SRequest, S2TRequest, TTSRequest, UnderstandRequest)

from .openai_support import free_port, serving, tone

SHORT = GenerationOptions(seed=1, max_new_groups=6)
SAMPLES_PER_GROUP = 4 * 960
STREAM_REL_RMS = 0.05            # the codec streaming decoder's tolerance (codec/streaming.py)
PCM16_STEP = 1 / 32767
FINISH_OF = {"stop_token": "stop_token", "max_new_groups": "max_new_groups", "context_limit": "max_new_groups"}
PROCESS_START_S = 180            # a fresh interpreter importing the app, on a busy machine


@pytest.fixture(scope="module")
def model(mimo):
    return mimo


@pytest.fixture(scope="module")
def engine_url(model):
    from app.openai_api import ApiConfig
    from app.serve import build_server_app

    with serving(build_server_app(model, ApiConfig(api_key="k"))) as url:
        yield url


@pytest.fixture(scope="module")
def remote(engine_url):
    backend = RemoteBackend.from_urls(f"{engine_url}/v1", api_key="k")
    yield backend
    backend.close()


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    n = min(len(a), len(b))
    rms = np.sqrt(np.mean(b[:n] ** 2))
    return abs(len(a) - len(b)) <= SAMPLES_PER_GROUP and \
        np.sqrt(np.mean((a[:n] - b[:n]) ** 2)) <= STREAM_REL_RMS * rms + PCM16_STEP


def test_tts_streams_and_matches_the_local_model(remote, model):
    request = TTSRequest(text="Hello there.", options=SHORT)
    events = list(remote.stream(request))
    result = events[-1].result
    chunks = [e.audio_chunk for e in events[:-1] if e.audio_chunk is not None]
    np.testing.assert_array_equal(np.concatenate(chunks), result.audio)
    assert _close(result.audio, model.run(request).audio)


def test_asr_understand_and_thinking_text_match_the_local_model(remote, model):
    clip = tone(0.8)
    for request in (ASRRequest(audio=clip, language="en", options=SHORT),
                    UnderstandRequest(audio=clip, question="What is it?", options=SHORT),
                    ChatRequest(text="Why?", thinking=True, options=SHORT),
                    S2TRequest(audio=clip, thinking=True, options=SHORT)):
        here, there = model.run(request), remote.run(request)
        assert (there.thinking, there.answer) == (here.thinking, here.answer), type(request).__name__


# An engine whose own task defaults differ from ours (another version, another registry): the
# call carries the resolved samplers, so it still samples as the local run does.
OTHER_DEFAULTS = {"text": SamplerConfig(temperature=1.7, top_k=2, top_p=0.3), "audio": SamplerConfig(greedy=True)}
SAMPLED = {
    "tts-defaults": TTSRequest(text="Hello there.", options=GenerationOptions(seed=4, max_new_groups=16)),
    "tts-override": TTSRequest(text="Hello there.", options=GenerationOptions.from_flat(
        seed=5, max_new_groups=16, text_temperature=0.9, text_top_k=40, audio_temperature=1.2,
        audio_top_p=0.8, audio_top_k=30)),
    "chat-defaults": ChatRequest(text="Tell me more.", options=GenerationOptions(seed=3, max_new_groups=10,
                                                                                 min_new_groups=6)),
    "chat-override": ChatRequest(text="Tell me more.", options=GenerationOptions.from_flat(
        seed=5, max_new_groups=10, min_new_groups=6, text_temperature=1.3, text_top_p=0.9)),
}


def _streamed(events) -> tuple[tuple[str, str], np.ndarray, str]:
    """((answer, thinking), concatenated audio chunks, stop reason) of a stream of StreamEvents.
    The answer and the reasoning: what an engine sends (without markup), the exact token-level
    text staying with its tokens on the engine."""
    events = list(events)
    chunks = [e.audio_chunk for e in events if e.audio_chunk is not None and len(e.audio_chunk)]
    result = events[-1].result
    return ((result.answer, result.thinking), (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)),
            result.stop_reason)


@pytest.mark.parametrize("case", SAMPLED)
def test_an_engine_with_other_defaults_samples_like_the_local_run(remote, model, monkeypatch, case):
    """The same seeded request, run here and on the engine: the same text and the same audio
    (both from the codec's streaming decoder; the engine's pcm16 rounds to 1/32767), though
    the engine's registry says other samplers than ours."""
    from mimo_core.tasks import registry

    request = SAMPLED[case]
    text, audio, stop = _streamed(model.stream(request))
    call = remote._to_call(request)                       # resolved here, with our registry
    spec = registry.spec_of(request)
    monkeypatch.setitem(registry._BY_TYPE, type(request), replace(spec, **OTHER_DEFAULTS))
    other_text, other_audio, _ = _streamed(model.stream(request))
    assert other_text != text or len(other_audio) != len(audio) or not np.array_equal(other_audio, audio), \
        "the other defaults must change a local run, or this test proves nothing"
    there_text, there_audio, there_stop = _streamed(remote._events(call, threading.Event()))
    if call.kind == "speech":                 # /v1/audio/speech answers audio only
        assert np.abs(audio).max() > 0 and len(there_audio) == len(audio)      # speech, not silence
        assert np.max(np.abs(there_audio - np.clip(audio, -1, 1))) <= 0.5 * PCM16_STEP + 1e-7
    else:
        assert (there_text, there_stop) == (text, FINISH_OF[stop]) and text[0]


def test_chat_conversation_continues_through_display_turns(remote):
    first = remote.run(ChatRequest(text="Hi!", options=SHORT))
    assert [t.role for t in first.conversation.turns] == ["user", "assistant"]
    second = remote.run(ChatRequest(text="And then?", conversation=first.conversation, options=SHORT))
    assert [t.text for t in second.conversation.turns[:3]] == ["Hi!", first.text, "And then?"]


def test_spoken_dialogue_history_carries_the_reply_audio(remote):
    first = remote.run(DialogueRequest(audio=tone(0.5), system_prompt="Be brief.", options=SHORT))
    assert first.audio is not None and first.conversation.system_prompt == "Be brief."
    reply = first.conversation.turns[1]
    assert reply.role == "assistant" and reply.audio is not None and len(reply.audio) > 0
    second = remote.run(DialogueRequest(audio=tone(0.5, 330.0), conversation=first.conversation,
                                        options=SHORT))
    assert len(second.conversation.turns) == 4 and second.audio is not None


def test_base_tasks_continue_and_s2s(remote):
    cont = remote.run(ContinueRequest(audio=tone(0.4), duration_s=1.0, options=GenerationOptions(seed=1)))
    assert cont.audio is not None and cont.task == "continue"
    pair = FewShotExample(input_audio=tone(0.3), output_audio=tone(0.3, 330.0), transcript="hi")
    s2s = remote.run(S2SRequest(audio=tone(0.3), instruction="Convert.", examples=(pair,), options=SHORT))
    assert s2s.audio is not None and s2s.task == "s2s"


def test_bad_input_is_the_servers_one_line_error(remote):
    with pytest.raises(PromptError, match="empty"):
        remote.run(TTSRequest(text="   ", options=SHORT))
    with pytest.raises(PromptError, match="remote"):
        remote.run(ASRRequest(audio=tone(0.3), template="custom {x}"))


def test_cancel_stops_the_remote_stream(remote):
    cancel = threading.Event()
    events = remote.stream(TTSRequest(text="Hello there.", options=GenerationOptions(seed=1, max_new_groups=2000)),
                           cancel)
    next(events)
    cancel.set()
    final = [e for e in events if e.result is not None][-1].result
    assert final.stop_reason == "cancelled"


def test_wrong_key_says_so(engine_url):
    backend = RemoteBackend.from_urls(engine_url, api_key="wrong")
    with pytest.raises(RemoteError, match="API key"):
        backend.run(ChatRequest(text="hi", options=SHORT))


def test_failover_to_the_live_engine_and_status(engine_url):
    dead = f"http://127.0.0.1:{free_port()}"
    backend = RemoteBackend.from_urls(f"{dead},{engine_url}", api_key="k")
    for _ in range(2):                       # the dead one is tried at most once, then skipped
        assert backend.run(ChatRequest(text="hi", options=SHORT)).text is not None
    status = backend.status()
    engines = {e["url"]: e for e in status["remote"]}
    assert not engines[dead]["up"] and engines[dead]["last_error"]
    assert engines[engine_url]["up"] and status["models"]["instruct"]["configured"]
    only_dead = RemoteBackend.from_urls(dead)
    with pytest.raises(RemoteError, match="failed"):
        only_dead.run(ChatRequest(text="hi", options=SHORT))


def test_pool_picks_the_least_busy_and_parses_urls():
    pool = EnginePool(["http://a", "http://b"])
    first = pool.acquire(set())
    second = pool.acquire(set())
    assert {first.url, second.url} == {"http://a", "http://b"}
    pool.release(first)
    assert pool.acquire(set()).url == first.url
    assert parse_urls("http://a:1/v1/, https://b") == ["http://a:1", "https://b"]
    with pytest.raises(RemoteError):
        parse_urls("a:1")


def test_a_serve_in_front_of_remote_engines(remote):
    """The gateway: our API served over a RemoteBackend (the openai client -> app -> engine)."""
    openai = pytest.importorskip("openai")
    from app.openai_api import ApiConfig
    from app.serve import build_server_app

    with serving(build_server_app(remote, ApiConfig())) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)
        reply = client.audio.speech.create(model="mimo-audio-instruct", voice="alloy", input="Hi.",
                                           response_format="wav", extra_body={"max_tokens": 4, "seed": 1})
    assert reply.content[:4] == b"RIFF"


def test_serve_command_with_engine_url_runs_as_a_gateway(engine_url):
    """``run_mimo_audio.py serve --engine-url`` as a real process in front of the engine."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(repo / "run_mimo_audio.py"), "serve", "--port", str(port),
                             "--engine-url", engine_url, "--engine-api-key", "k", "--api-key", "front"],
                            cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url, deadline = f"http://127.0.0.1:{port}/v1", time.monotonic() + PROCESS_START_S
        while True:
            try:
                models = httpx.get(f"{url}/models", headers={"Authorization": "Bearer front"}, timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert "mimo-audio-instruct" in {m["id"] for m in models.json()["data"]}
        reply = httpx.post(f"{url}/chat/completions", headers={"Authorization": "Bearer front"}, timeout=120,
                           json={"model": "mimo-audio-instruct", "max_tokens": 4, "seed": 1,
                                 "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200 and reply.json()["object"] == "chat.completion"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
