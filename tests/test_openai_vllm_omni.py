"""The vLLM-Omni adapter (``--engine-protocol vllm-omni``) against replayed responses.

NO vLLM-Omni RUNS HERE (it needs a CUDA GPU with flash-attn). A small local server answers
``GET /v1/models`` and replays a streamed ``/v1/chat/completions`` answer written in the
shape vLLM-Omni's serving code documents (``chat.completion.chunk`` with a top-level
``"modality"``; text in ``delta.content``; audio ALSO in ``delta.content``, one base64,
self-contained 24 kHz WAV per chunk; ``finish_reason`` on the last chunk; ``data: [DONE]``),
and records what the adapter sent.

A GPU run against a real ``vllm serve XiaomiMiMo/MiMo-Audio-7B-Instruct --omni`` must confirm:
1. its chat template turns these messages into the MiMo task prompts (TTS via "Please convert
   this text to speech: ...", ASR via the transcription question, system audio = voice prompt,
   assistant history turns as text);
2. streamed chunks look as replayed here (``modality`` field, one WAV per audio chunk);
3. the sampling fields we send (temperature, top_p, top_k, seed, max_tokens, min_tokens; see
   tests/test_remote_sampling.py and docs/DEPLOY.md) are accepted and reach stage 0, and
   temperature 0.0 gives greedy text;
4. speech sampled at the tasks' text temperatures (TTS and dialogue: 0.6) is not broken by its
   model's greedy speak/text gate (docs/DEPLOY.md, "What a remote engine is sent").
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from mimo_core.errors import ModelNotConfiguredError, PromptError
from mimo_core.remote import RemoteBackend
from mimo_core.tasks import (ASRRequest, ChatRequest, ContinueRequest, DialogueRequest, GenerationOptions,
                             TTSRequest)

from .openai_support import serving, tone, wav_bytes

SERVED = "MiMo-Audio-7B-Instruct"
CHUNKS = (tone(0.2, 220.0), tone(0.3, 330.0))
TEXT = ("Hello", " there.")


def _chunk(modality: str, content: str, finish=None) -> str:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": SERVED,
            "modality": modality,
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n"


def recorded_stream(speaks: bool) -> list[str]:
    out = [_chunk("text", t) for t in TEXT]
    if speaks:
        out += [_chunk("audio", base64.b64encode(wav_bytes(c)).decode()) for c in CHUNKS]
    out.append(_chunk("audio" if speaks else "text", "", finish="stop"))
    return out + ["data: [DONE]\n\n"]


@pytest.fixture(scope="module")
def omni():
    """(base URL, the request bodies received)."""
    received: list[dict] = []

    async def models(_request):
        return JSONResponse({"object": "list", "data": [{"id": SERVED, "object": "model"}]})

    async def chat(request):
        body = await request.json()
        received.append(body)
        speaks = "audio" in body.get("modalities", [])
        return StreamingResponse(iter(recorded_stream(speaks)), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])
    with serving(app) as url:
        yield url, received


@pytest.fixture(scope="module")
def backend(omni):
    b = RemoteBackend.from_urls(omni[0], protocol="vllm-omni")
    yield b
    b.close()


def _audio_of(part: dict) -> np.ndarray:
    url = part["audio_url"]["url"]
    assert url.startswith("data:audio/wav;base64,")
    from mimo_core.audio_io import load_audio
    return load_audio(base64.b64decode(url.split(",", 1)[1]))


def test_spoken_dialogue_request_and_chunked_wav_answer(backend, omni):
    voice = tone(0.25, 440.0)
    events = list(backend.stream(DialogueRequest(audio=tone(0.5), voice_prompt=voice, system_prompt="Be brief.",
                                                 options=GenerationOptions(seed=3, max_new_groups=50))))
    sent = omni[1][-1]
    assert sent["model"] == SERVED and sent["modalities"] == ["text", "audio"] and sent["audio"] == {"format": "wav"}
    assert (sent["seed"], sent["max_tokens"], sent["stream"]) == (3, 50, True)
    system, user = sent["messages"]
    assert system["role"] == "system" and system["content"][0] == {"type": "text", "text": "Be brief."}
    np.testing.assert_allclose(_audio_of(system["content"][1]), voice, atol=1e-6)     # float WAV: lossless
    assert user["role"] == "user" and len(_audio_of(user["content"][0])) == len(tone(0.5))
    chunks = [e.audio_chunk for e in events if e.audio_chunk is not None]
    assert len(chunks) == len(CHUNKS)
    for got, want in zip(chunks, CHUNKS):
        np.testing.assert_allclose(got, want, atol=1 / 32767 + 1e-6)                 # 16-bit WAV
    result = events[-1].result
    assert result.text == "".join(TEXT) and result.stop_reason == "stop_token"
    np.testing.assert_array_equal(result.audio, np.concatenate(chunks))
    assert [t.role for t in result.conversation.turns] == ["user", "assistant"]


def test_history_goes_back_as_messages(backend, omni):
    first = backend.run(ChatRequest(text="Hi!"))
    backend.run(ChatRequest(text="More?", conversation=first.conversation))
    assert [(m["role"], m["content"][-1]["text"]) for m in omni[1][-1]["messages"]] == \
        [("user", "Hi!"), ("assistant", "Hello there."), ("user", "More?")]
    assert omni[1][-1]["modalities"] == ["text"] and "audio" not in omni[1][-1]


def test_tts_and_asr_prompts(backend, omni):
    result = backend.run(TTSRequest(text="Good morning."))
    assert omni[1][-1]["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Please convert this text to speech: Good morning."}]}]
    assert result.audio is not None and len(result.audio) == sum(len(c) for c in CHUNKS)
    asr = backend.run(ASRRequest(audio=tone(0.4), language="en"))
    content = omni[1][-1]["messages"][-1]["content"]
    assert content[0]["type"] == "audio_url" and content[1]["text"] == "Please transcribe this audio."
    assert asr.text == "Hello there." and asr.audio is None


def test_what_vllm_omni_cannot_do_is_refused_before_any_call(backend, omni):
    before = len(omni[1])
    with pytest.raises(ModelNotConfiguredError, match="Base"):
        backend.run(ContinueRequest(audio=tone(0.3)))
    for request in (ChatRequest(text="Why?", thinking=True), TTSRequest(text="Hi", instruct="whisper")):
        with pytest.raises(PromptError, match="vLLM-Omni"):
            backend.run(request)
    assert len(omni[1]) == before


def test_status_reads_the_served_model(backend):
    status = backend.status()
    assert status["models"]["instruct"]["configured"] and not status["models"]["base"]["configured"]
