"""Reading engines' answers: a streamed (SSE) answer -> StreamEvents, the last one with the
TaskResult; a one-shot /v1/mimo answer -> one final event.

An engine sends what people see: the reasoning and the answer apart, already without markup
(its output reader split them once). They become ``thinking_delta`` / ``answer_delta`` and the
result's ``thinking`` / ``answer`` as they are; the exact token-level text stays on the engine
with the tokens, so a remote result's ``text`` (and ``text_delta``) is its answer."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Optional

import httpx
import numpy as np

from ..constants import STREAMS
from ..errors import PromptError
from ..tasks.types import Conversation, StreamEvent, TaskResult, Turn
from .wire import Call, pcm16_to_float

FINISH_TO_STOP = {"stop": "stop_token", "length": "max_new_groups"}


def empty_tokens() -> np.ndarray:
    return np.zeros((STREAMS, 0), dtype=np.int64)          # [9, 0]: tokens stay on the engine


def once_result(call: Call, body: bytes) -> StreamEvent:
    from ..audio_io import load_audio

    data = json.loads(body)
    audio = load_audio(base64.b64decode(data["audio"]["data"]))
    text = data.get("text", "")
    result = TaskResult(text=text, answer=text, audio=audio, tokens=empty_tokens(), new_groups=0,
                        stop_reason=data.get("stop_reason", "stop_token"), seed=data.get("seed"),
                        task="continue" if call.path.endswith("continue") else "s2s")
    return StreamEvent(audio_chunk=audio, result=result)


class SseReader:
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
            reasoning = delta.get("reasoning_content") or ""
            self.reasoning += reasoning
            audio = delta.get("audio") or {}
            text = delta.get("content") or audio.get("transcript") or ""
            chunk = self._audio(audio["data"]).audio_chunk if audio.get("data") else None
            if text or reasoning or chunk is not None:
                self.text += text
                return StreamEvent(text_delta=text, answer_delta=text, thinking_delta=reasoning, audio_chunk=chunk)
        return None

    def _audio(self, b64: str) -> StreamEvent:
        chunk = pcm16_to_float(base64.b64decode(b64))
        self.chunks.append(chunk)
        return StreamEvent(audio_chunk=chunk)

    def _text(self, delta: str) -> StreamEvent:
        self.text += delta
        return StreamEvent(text_delta=delta, answer_delta=delta)

    def _result(self) -> TaskResult:
        call = self.call
        audio = np.concatenate(self.chunks) if self.chunks else None
        if call.speaks and audio is None:
            audio = np.zeros(0, dtype=np.float32)
        new = int(self.usage.get("completion_tokens", self.usage.get("output_tokens", 0)))
        task = call.extra.get("task") or {"speech": "tts", "transcript": "asr"}[call.kind]
        conversation = None
        if task in ("dialogue", "s2t", "chat"):
            before = replace(call.extra.get("conversation") or Conversation(), task=task)
            reply = Turn("assistant", text=self.text, audio=audio, thinking=self.reasoning)
            conversation = before.after_turn(call.extra["user_turn"], reply,
                                             system_prompt=call.extra.get("system_prompt"))
        return TaskResult(text=self.text, answer=self.text, thinking=self.reasoning, audio=audio,
                          tokens=empty_tokens(), new_groups=new,
                          stop_reason=FINISH_TO_STOP.get(self.finish, self.finish), task=task,
                          conversation=conversation, opened_thinking=call.thinking)
