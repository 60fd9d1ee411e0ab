"""``RemoteBackend``: the ``MimoAudio`` API (run / stream / status / load / unload / limits)
served by remote MiMo-Audio engines (our ``serve`` or web app's /v1) instead of local weights.

    backend = RemoteBackend.from_urls("http://gpu1:8000,http://gpu2:8000", api_key="...")
    for event in backend.stream(TTSRequest(text="Hello")): ...

Results carry text and audio (``tokens`` is empty: the token matrix stays on the engine);
dialogue results carry a ``Conversation`` of display turns, which the next request sends as
history. A call that fails before any output is retried on another engine.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any, Optional

import httpx
import numpy as np

from ..constants import STREAMS
from ..errors import InputTooLongError, ModelNotConfiguredError, PromptError
from ..tasks.limits import Limits
from ..thinking import THINK_CLOSE
from ..tasks.types import Conversation, StreamEvent, TaskResult, Turn
from .pool import EnginePool, RemoteError, parse_urls
from .wire import Call, pcm16_to_float, to_call

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0
RETRY_STATUSES = (429, 500, 502, 503, 504)
FINISH_TO_STOP = {"stop": "stop_token", "length": "max_new_groups"}


class _Retry(Exception):
    """This engine failed before producing output: try another."""


class RemoteBackend:
    def __init__(self, pool: EnginePool, api_key: Optional[str] = None, limits: Optional[Limits] = None):
        self.pool = pool
        self.limits = limits or Limits()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))

    @classmethod
    def from_urls(cls, urls: str, api_key: Optional[str] = None, **kwargs) -> "RemoteBackend":
        return cls(EnginePool(parse_urls(urls)), api_key, **kwargs)

    # ------------------------------------------------------------------ the facade's API
    def run(self, request: Any, cancel: Optional[threading.Event] = None, progress=None) -> TaskResult:
        result = None
        for event in self.stream(request, cancel):
            result = event.result if event.result is not None else result
        assert result is not None
        return result

    def stream(self, request: Any, cancel: Optional[threading.Event] = None) -> Iterator[StreamEvent]:
        call = to_call(request)                 # bad input raises here, before any network
        return self._events(call, cancel or threading.Event())

    def status(self) -> dict:
        models: dict[str, dict] = {"instruct": {"configured": False}, "base": {"configured": False},
                                   "tokenizer": {"configured": True}}
        for engine in self.pool.engines:
            try:
                listed = self._http.get(f"{engine.url}/v1/models", timeout=CONNECT_TIMEOUT_S).json()
            except (httpx.HTTPError, ValueError):
                continue
            for item in listed.get("data", []):
                role = item.get("id", "").rsplit("-", 1)[-1]
                if role in ("instruct", "base"):
                    models[role] = {"configured": True, "loaded": True, "spec": f"remote: {item['id']}"}
        return {"device": "remote", "dtype": "remote", "tiny": False, "models": models,
                "remote": self.pool.status()}

    def load(self, role: str) -> None:
        """Models are loaded on the engines; nothing to do here."""

    def unload(self, role: str) -> None:
        raise RemoteError("models run on the remote engines; unload them there")

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ calling engines
    def _events(self, call: Call, cancel: threading.Event) -> Iterator[StreamEvent]:
        tried: set[str] = set()
        while True:
            engine = self.pool.acquire(tried)
            tried.add(engine.url)
            started, error = False, None
            try:
                for event in self._call(engine.url, call, cancel):
                    started = True
                    yield event
                return
            except _Retry as exc:
                error = str(exc)
                if started or len(tried) >= len(self.pool.engines):
                    raise RemoteError(f"remote engine {engine.url} failed: {error}") from None
            finally:
                self.pool.release(engine, error)

    def _call(self, url: str, call: Call, cancel: threading.Event) -> Iterator[StreamEvent]:
        kwargs = ({"json": call.json} if call.json is not None
                  else {"data": call.form, "files": call.files})
        try:
            with self._http.stream("POST", url + call.path, **kwargs) as response:
                if response.status_code != 200:
                    response.read()
                    _raise_for(response)
                if call.kind == "once":
                    yield _once_result(call, response.read())
                    return
                yield from _Reader(call).read(response, cancel)
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None


def _raise_for(response: httpx.Response) -> None:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or f"HTTP {response.status_code}"
    status = response.status_code
    if status in RETRY_STATUSES:
        raise _Retry(f"HTTP {status}: {message}")
    if status == 413:
        raise InputTooLongError(message)
    if status == 404:
        raise ModelNotConfiguredError(f"the remote engine: {message}")
    if status == 401:
        raise RemoteError(f"the remote engine refused the API key: {message}")
    raise PromptError(message)


def _empty_tokens() -> np.ndarray:
    return np.zeros((STREAMS, 0), dtype=np.int64)          # [9, 0]: tokens stay on the engine


def _once_result(call: Call, body: bytes) -> StreamEvent:
    from ..audio_io import load_audio

    data = json.loads(body)
    audio = load_audio(base64.b64decode(data["audio"]["data"]))
    result = TaskResult(text=data.get("text", ""), audio=audio, tokens=_empty_tokens(), new_groups=0,
                        stop_reason=data.get("stop_reason", "stop_token"), seed=data.get("seed"),
                        task="continue" if call.path.endswith("continue") else "s2s")
    return StreamEvent(audio_chunk=audio, result=result)


class _Reader:
    """One streamed answer (SSE) -> StreamEvents, the last with the TaskResult."""

    def __init__(self, call: Call):
        self.call = call
        self.text, self.reasoning, self.chunks = "", "", []
        self.usage: dict = {}
        self.finish = "stop"

    def read(self, response: httpx.Response, cancel: threading.Event) -> Iterator[StreamEvent]:
        for line in response.iter_lines():
            if cancel.is_set():
                self.finish = "cancelled"
                break                       # leaving closes the connection: the engine cancels
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[len("data: "):])
            if "error" in data:
                raise PromptError(data["error"].get("message", "the remote engine failed"))
            event = self._event(data)
            if event is not None:
                yield event
        yield StreamEvent(result=self._result())

    def _event(self, data: dict) -> Optional[StreamEvent]:
        kind = data.get("type", "")
        if kind == "speech.audio.delta":
            return self._audio(data["audio"])
        if kind == "transcript.text.delta":
            return self._text(data["delta"])
        if kind in ("speech.audio.done", "transcript.text.done"):
            self.usage = data.get("usage") or {}
            if kind == "transcript.text.done":
                self.text = data.get("text", self.text)
            return None
        if data.get("usage"):
            self.usage = data["usage"]
        for choice in data.get("choices", []):
            self.finish = choice.get("finish_reason") or self.finish
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self.reasoning += delta["reasoning_content"]
            audio = delta.get("audio") or {}
            text = delta.get("content") or audio.get("transcript") or ""
            chunk = self._audio(audio["data"]).audio_chunk if audio.get("data") else None
            if text or chunk is not None:
                self.text += text
                return StreamEvent(text_delta=text, audio_chunk=chunk)
        return None

    def _audio(self, b64: str) -> StreamEvent:
        chunk = pcm16_to_float(base64.b64decode(b64))
        self.chunks.append(chunk)
        return StreamEvent(audio_chunk=chunk)

    def _text(self, delta: str) -> StreamEvent:
        self.text += delta
        return StreamEvent(text_delta=delta)

    def _result(self) -> TaskResult:
        call = self.call
        audio = np.concatenate(self.chunks) if self.chunks else None
        if call.speaks and audio is None:
            audio = np.zeros(0, dtype=np.float32)
        text = self.text
        if call.thinking:                    # rebuilt so that result.thinking / .answer split it
            text = f"{self.reasoning}{THINK_CLOSE}\n{self.text}" if self.text else self.reasoning
        new = int(self.usage.get("completion_tokens", self.usage.get("output_tokens", 0)))
        task = call.extra.get("task") or {"speech": "tts", "transcript": "asr"}[call.kind]
        conversation = None
        if task in ("dialogue", "s2t", "chat"):
            before: Optional[Conversation] = call.extra.get("conversation")
            turns = (before.turns if before is not None else ()) + (
                call.extra["user_turn"], Turn("assistant", text=self.text, audio=audio))
            conversation = Conversation(task=task, turns=turns, system_prompt=call.extra.get("system_prompt"))
        return TaskResult(text=text, audio=audio, tokens=_empty_tokens(), new_groups=new,
                          stop_reason=FINISH_TO_STOP.get(self.finish, self.finish), task=task,
                          conversation=conversation, opened_thinking=call.thinking)
