"""vLLM-Omni as a remote engine (``--engine-protocol vllm-omni``).

vLLM-Omni serves MiMo-Audio-7B-Instruct behind ``POST /v1/chat/completions`` only, so every
task becomes a chat call (shapes from its serving code and example client; see
docs/DEPLOY.md):

* audio goes in as ``audio_url`` data-URI parts; a system message's audio is the voice prompt;
* ``modalities`` ["text"] for text tasks, ["text", "audio"] for speech, ``audio.format`` "wav";
* streamed chunks carry a top-level ``"modality": "text" | "audio"``; text arrives in
  ``delta.content`` and so does audio: each audio chunk is a base64, self-contained WAV file.

TTS uses its example prompt ("Please convert this text to speech: ..."), ASR an explicit
transcription request. Every call carries the task's resolved text sampler, seed and lengths
(:func:`.sampling.omni_fields`: temperature 0 is greedy there); it has no field for the audio
sampler. What it has no field for is refused with one line: style instructions, thinking,
custom templates, and the Base tasks (continuation, few-shot speech-to-speech), which it does
not serve.
"""

from __future__ import annotations

import base64
from typing import Any, Optional

import numpy as np

from ..audio_io import load_audio
from ..errors import ModelNotConfiguredError, PromptError
from ..tasks.registry import spec_of
from ..tasks.types import (ASRRequest, ChatRequest, ContinueRequest, DialogueRequest, S2SRequest,
                           S2TRequest, StreamEvent, TTSRequest, Turn, UnderstandRequest)
from .answers import SseReader
from .sampling import omni_fields, request_settings
from .wire import Call, wav_b64

TTS_PROMPT = "Please convert this text to speech: {text}"
ASR_PROMPT = {"en": "Please transcribe this audio.", "zh": "请将这段音频转写为文字。"}


def _audio_part(audio: Any, what: str) -> dict:
    return {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{wav_b64(audio, what)}"}}


def _refuse(what: str) -> PromptError:
    return PromptError(f"{what} is not available through a vLLM-Omni engine")


def to_call(request: Any) -> Call:
    """The vLLM-Omni chat call for ``request`` (``model`` is filled in per engine)."""
    if isinstance(request, (ContinueRequest, S2SRequest)):
        raise ModelNotConfiguredError(
            f"the {spec_of(request).name!r} task needs the Base model, which vLLM-Omni does not serve; "
            "run it locally or on our own `serve` with --base-model-path")
    if getattr(request, "template", None) is not None:
        raise _refuse("a custom prompt template")
    if getattr(request, "thinking", False):
        raise _refuse("thinking")
    body: dict = {"model": None, "stream": True, **omni_fields(request_settings(request))}
    speaks = isinstance(request, (TTSRequest, DialogueRequest))
    body["modalities"] = ["text", "audio"] if speaks else ["text"]
    if speaks:
        body["audio"] = {"format": "wav"}
    messages: list[dict] = []
    voice = getattr(request, "voice_prompt", None)
    system_text = getattr(request, "system_prompt", None)
    system = ([{"type": "text", "text": system_text}] if system_text else []) + \
        ([_audio_part(voice, "voice prompt")] if voice is not None else [])
    if system:
        messages.append({"role": "system", "content": system})
    conv = getattr(request, "conversation", None)
    for n, turn in enumerate(conv.turns if conv is not None else (), 1):
        parts = [_audio_part(turn.audio, f"turn {n} audio")] if turn.audio is not None and turn.role == "user" else []
        if turn.text:
            parts.append({"type": "text", "text": turn.text})
        messages.append({"role": turn.role, "content": parts})
    messages.append({"role": "user", "content": _user_content(request)})
    body["messages"] = messages
    user_turn = None
    if spec_of(request).conversation:
        user_turn = (Turn("user", text=request.text) if isinstance(request, ChatRequest)
                     else Turn("user", audio=load_audio(request.audio)))
    return Call("/v1/chat/completions", "omni", json=body, speaks=speaks,
                extra={"conversation": conv, "user_turn": user_turn, "task": spec_of(request).name,
                       "system_prompt": system_text})


def _user_content(request: Any) -> list[dict]:
    if isinstance(request, TTSRequest):
        if request.instruct or request.natural:
            raise _refuse("a TTS style instruction")
        return [{"type": "text", "text": TTS_PROMPT.format(text=request.text)}]
    if isinstance(request, ASRRequest):
        return [_audio_part(request.audio, "audio"),
                {"type": "text", "text": ASR_PROMPT["zh" if request.language == "zh" else "en"]}]
    if isinstance(request, UnderstandRequest):
        return [_audio_part(request.audio, "audio"), {"type": "text", "text": request.question}]
    if isinstance(request, (S2TRequest, DialogueRequest)):
        return [_audio_part(request.audio, "audio")]
    if isinstance(request, ChatRequest):
        return [{"type": "text", "text": request.text}]
    raise PromptError(f"not a task request: {type(request).__name__}")


class OmniReader(SseReader):
    """vLLM-Omni's chunks: ``modality`` says whether ``delta.content`` is text or a base64 WAV."""

    def _event(self, data: dict) -> Optional[StreamEvent]:
        if data.get("usage"):
            self.usage = data["usage"]
        modality = data.get("modality", "text")
        for choice in data.get("choices", []):
            self.finish = choice.get("finish_reason") or self.finish
            content = (choice.get("delta") or {}).get("content")
            if not content:
                continue
            if modality == "audio":
                chunk = np.asarray(load_audio(base64.b64decode(content)), dtype=np.float32)
                self.chunks.append(chunk)
                return StreamEvent(audio_chunk=chunk)
            return self._text(content)
        return None
