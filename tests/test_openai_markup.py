"""What an OpenAI client reads carries no markup (issue 27): a model whose text is full of
special tokens (``<|sosp|>``, ``<|eosp|>``, ``<|sostm|>``, ``<|im_start|>``...) answers
transcriptions and chats, streamed or not, without any, while the result's exact text keeps
them. The tiny facade runs as a real server; its LM's scheduler is replaced by a script that
"generates" chosen text ids, so every layer above the engine is the real one."""

from __future__ import annotations

import json

import httpx
import pytest
import torch

from mimo_core.constants import GROUP_SIZE
from mimo_core.engine.types import GenerationResult, GroupEvent, StopReason
from mimo_core.tasks import ASRRequest, ChatRequest
from mimo_core.text.special_ids import markup_ids

from .openai_support import serving, tone, wav_b64, wav_bytes

MODEL = "mimo-audio-instruct"

# The script's pieces: strings (ordinary tokens) or "|field" (a SpecialIds id: markup).
SCRIPTS = {
    "plain": (["|sosp", "Hi", "|eosp", " you", "|im_start", "|sostm", "|im_end"], "", "Hi you"),
    "thinking": (["Let", "|sostm", " me think", "|eosp", "</think>\n\n", "|sosp", "Paris", "|im_end"],
                 "Let me think", "Paris"),
}


class ScriptedHandle:
    """The scheduler-handle protocol over a fixed list of text ids (text groups only)."""

    def __init__(self, req, text_ids: list[int], empty_ids, stop_id: int):
        self.req, self.text_ids, self.stop_id = req, text_ids, stop_id
        self.codes = torch.tensor(empty_ids).expand(GROUP_SIZE, len(empty_ids))     # (P, C) a text group

    def cancel(self) -> None:
        pass

    def __iter__(self):
        groups = []
        for index, text_id in enumerate(self.text_ids):
            group = torch.cat([torch.full((1, GROUP_SIZE), text_id), self.codes.T], dim=0)   # (K, P)
            groups.append(group)
            yield GroupEvent(index, text_id, self.codes)
        prompt = self.req.prompt_ids.to(torch.long)
        yield GenerationResult(torch.cat([prompt, *groups], dim=1), len(groups), StopReason.STOP_TOKEN,
                               self.stop_id, 0, prompt.shape[1])


@pytest.fixture(scope="module")
def server(mimo):
    from app.openai_api import ApiConfig
    from app.serve import build_server_app

    mimo.load("tokenizer")
    mimo.load("instruct")
    with serving(build_server_app(mimo, ApiConfig())) as base:
        yield mimo, base


@pytest.fixture(params=sorted(SCRIPTS))
def scripted(request, server, monkeypatch):
    """The server, its LM "generating" one script; yields (url, expected thinking, expected answer)."""
    mimo, base = server
    lm = mimo.models.lm("instruct")
    pieces, thinking, answer = SCRIPTS[request.param]
    ids = []
    for piece in pieces:
        ids += ([getattr(lm.special_ids, piece[1:])] if piece.startswith("|")
                else lm.tokenizer(piece, add_special_tokens=False)["input_ids"])

    class Scripted:
        def submit(self, req):
            return ScriptedHandle(req, ids, lm.empty_ids, lm.special_ids.im_end)

    monkeypatch.setattr(lm, "scheduler", Scripted())
    markup = [lm.tokenizer.convert_ids_to_tokens(i) for i in markup_ids(lm.tokenizer, lm.special_ids)]
    yield mimo, base, thinking, answer, markup


def _clean(texts, markup) -> bool:
    return not [m for m in markup for t in texts if m in (t or "")]


def test_the_facade_keeps_the_exact_text_and_shows_none(scripted):
    mimo, _, thinking, answer, markup = scripted
    result = mimo.run(ChatRequest(text="hi", thinking=bool(thinking)))
    assert (result.thinking, result.answer) == (thinking, answer)
    assert "<|sosp|>" in result.text and "<|eosp|>" in result.text          # the exact text keeps them
    events = list(mimo.stream(ChatRequest(text="hi", thinking=bool(thinking))))
    assert _clean([e.thinking_delta + e.answer_delta for e in events], markup)
    assert "".join(e.answer_delta for e in events) == answer
    assert "".join(e.text_delta for e in events) == result.text


@pytest.mark.parametrize("scripted", ["plain"], indirect=True)          # ASR does not think
def test_transcription_shows_no_markup(scripted):
    mimo, base, thinking, answer, markup = scripted
    assert "<|" in mimo.run(ASRRequest(audio=tone(0.5))).text
    files = {"file": ("a.wav", wav_bytes(tone(0.5)), "audio/wav")}
    body = httpx.post(f"{base}/v1/audio/transcriptions", data={"model": MODEL}, files=files, timeout=60).json()
    assert body["text"] == answer
    text = httpx.post(f"{base}/v1/audio/transcriptions", data={"model": MODEL, "response_format": "text"},
                      files=files, timeout=60).text
    assert text == answer
    events = _sse(httpx.stream("POST", f"{base}/v1/audio/transcriptions",
                               data={"model": MODEL, "stream": "true"}, files=files, timeout=60))
    deltas = [e["delta"] for e in events if e["type"] == "transcript.text.delta"]
    assert _clean(deltas, markup) and "".join(deltas) == answer
    assert events[-1]["type"] == "transcript.text.done" and events[-1]["text"] == answer


def test_chat_shows_no_markup_streamed_or_not(scripted):
    _, base, thinking, answer, markup = scripted
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "thinking": bool(thinking)}
    message = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60).json()["choices"][0]["message"]
    assert message["content"] == answer and message.get("reasoning_content", "") == thinking
    chunks = _sse(httpx.stream("POST", f"{base}/v1/chat/completions", json={**body, "stream": True}, timeout=60))
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    content = [d.get("content") or "" for d in deltas]
    reasoning = [d.get("reasoning_content") or "" for d in deltas]
    assert _clean(content + reasoning, markup)
    assert ("".join(reasoning), "".join(content)) == (thinking, answer)


@pytest.mark.parametrize("scripted", ["plain"], indirect=True)          # spoken dialogue does not think
def test_spoken_reply_transcript_shows_no_markup(scripted):
    _, base, thinking, answer, markup = scripted
    audio = {"type": "input_audio", "input_audio": {"data": wav_b64(0.5), "format": "wav"}}
    body = {"model": MODEL, "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"},
            "messages": [{"role": "user", "content": [audio]}]}
    message = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60).json()["choices"][0]["message"]
    assert message["audio"]["transcript"] == answer


def _sse(stream) -> list[dict]:
    with stream as response:
        assert response.status_code == 200, response.read()
        return [json.loads(line[6:]) for line in response.iter_lines()
                if line.startswith("data: ") and line != "data: [DONE]"]
