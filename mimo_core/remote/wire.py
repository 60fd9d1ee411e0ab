"""Task requests -> calls of our OpenAI-compatible API (``run_mimo_audio.py serve`` or the
web app's /v1), and their streamed answers -> text deltas and 24 kHz audio chunks.

Every call streams (SSE) except the /v1/mimo ones, which answer once. Audio inputs travel as
base64 32-bit float WAV (lossless); conversation turns travel as chat messages, an assistant
turn's audio as an ``input_audio`` part (our server's extension: the history needs no server
state).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import soundfile as sf

from ..audio_io import load_audio
from ..constants import SAMPLE_RATE
from ..errors import PromptError
from ..tasks.registry import spec_of
from ..tasks.types import (ASRRequest, ChatRequest, ContinueRequest, Conversation, DialogueRequest, EncodedAudio,
                           S2SRequest, S2TRequest, TTSRequest, Turn, UnderstandRequest)
from .sampling import mimo_fields, request_settings

INSTRUCT_MODEL, BASE_MODEL = "mimo-audio-instruct", "mimo-audio-base"
PCM16_SCALE = 32767.0


@dataclass
class Call:
    """One HTTP call: where, what, and how to read its answer."""

    path: str
    kind: str                                   # "speech" | "transcript" | "chat" | "once"
    json: Optional[dict] = None
    form: Optional[dict] = None                 # multipart fields (transcription)
    files: Optional[dict] = None
    speaks: bool = False
    thinking: bool = False
    extra: dict = field(default_factory=dict)   # what the result needs (user turn, conversation)


def wav_b64(audio: Any, what: str) -> str:
    """Any AudioInput -> base64 of a 24 kHz mono 32-bit float WAV (EncodedAudio: its waveform)."""
    if isinstance(audio, EncodedAudio):
        if audio.audio is None:
            raise PromptError(f"{what}: encoded audio without its waveform cannot be sent to a remote engine")
        audio = audio.audio
    wav = load_audio(audio) if not _is_24k_array(audio) else np.asarray(audio, dtype=np.float32)
    buf = io.BytesIO()
    sf.write(buf, wav, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _is_24k_array(audio: Any) -> bool:
    return isinstance(audio, np.ndarray) and audio.ndim == 1


def pcm16_to_float(data: bytes) -> np.ndarray:
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / PCM16_SCALE)


def _audio_obj(audio: Any, what: str) -> dict:
    return {"data": wav_b64(audio, what), "format": "wav"}


def _audio_part(audio: Any, what: str) -> dict:
    return {"type": "input_audio", "input_audio": _audio_obj(audio, what)}


def _no_template(request: Any) -> None:
    if getattr(request, "template", None) is not None:
        raise PromptError("custom prompt templates are not available through a remote engine")


def to_call(request: Any) -> Call:
    """The HTTP call that runs ``request`` on a remote engine, with its resolved samplers and
    lengths (:mod:`.sampling`)."""
    opts = mimo_fields(request_settings(request))
    if isinstance(request, TTSRequest):
        _no_template(request)
        body = {"model": INSTRUCT_MODEL, "input": request.text, "voice": "default",
                "response_format": "pcm", "stream_format": "sse", "natural": request.natural, **opts}
        if request.instruct:
            body["instructions"] = request.instruct
        if request.voice_prompt is not None:
            body["voice_audio"] = _audio_obj(request.voice_prompt, "voice prompt")
        return Call("/v1/audio/speech", "speech", json=body, speaks=True)
    if isinstance(request, ASRRequest):
        _no_template(request)
        form = {"model": INSTRUCT_MODEL, "stream": "true", **{k: str(v) for k, v in opts.items()}}
        if request.language:
            form["language"] = request.language
        audio = base64.b64decode(wav_b64(request.audio, "audio"))
        return Call("/v1/audio/transcriptions", "transcript", form=form,
                    files={"file": ("audio.wav", audio, "audio/wav")})
    if isinstance(request, (ContinueRequest, S2SRequest)):
        body = {"model": BASE_MODEL, "audio": _audio_obj(request.audio, "audio"), "response_format": "wav", **opts}
        if isinstance(request, ContinueRequest):
            return Call("/v1/mimo/continue", "once", json={**body, "duration_s": request.duration_s}, speaks=True)
        body["instruction"] = request.instruction
        body["examples"] = [{"input_audio": _audio_obj(ex.input_audio, "example input"),
                             "output_audio": _audio_obj(ex.output_audio, "example output"),
                             "transcript": ex.transcript} for ex in request.examples]
        return Call("/v1/mimo/s2s", "once", json=body, speaks=True)
    return _chat_call(request, opts)


def _chat_call(request: Any, opts: dict) -> Call:
    thinking = bool(getattr(request, "thinking", False))
    conv: Optional[Conversation] = getattr(request, "conversation", None)
    messages: list[dict] = []
    body: dict = {"model": INSTRUCT_MODEL, "stream": True, **opts}
    if thinking:
        body["thinking"] = True
    speaks = isinstance(request, DialogueRequest)
    system_text = None
    if speaks:
        body.update(modalities=["text", "audio"], audio={"format": "pcm16", "voice": "default"})
        system_text = (conv.system_prompt if conv is not None and conv.system_prompt is not None
                       else request.system_prompt)
        system: list[dict] = [{"type": "text", "text": system_text}] if system_text else []
        if request.voice_prompt is not None:
            system.append(_audio_part(request.voice_prompt, "voice prompt"))
        if system:
            messages.append({"role": "system", "content": system})
    for n, turn in enumerate(conv.turns if conv is not None else (), 1):
        parts = [_audio_part(turn.audio, f"turn {n} audio")] if turn.audio is not None else []
        if turn.text:
            parts.append({"type": "text", "text": turn.text})
        messages.append({"role": turn.role, "content": parts})
    if isinstance(request, ChatRequest):
        user = [{"type": "text", "text": request.text}]
    elif isinstance(request, UnderstandRequest):
        user = [_audio_part(request.audio, "audio"), {"type": "text", "text": request.question}]
    elif isinstance(request, (S2TRequest, DialogueRequest)):
        user = [_audio_part(request.audio, "audio")]
    else:
        raise PromptError(f"not a task request: {type(request).__name__}")
    messages.append({"role": "user", "content": user})
    body["messages"] = messages
    user_turn = (Turn("user", text=request.text) if isinstance(request, ChatRequest)
                 else Turn("user", audio=load_audio(request.audio)))
    task = spec_of(request).name
    return Call("/v1/chat/completions", "chat", json=body, speaks=speaks, thinking=thinking,
                extra={"conversation": conv, "user_turn": user_turn, "task": task,
                       "system_prompt": system_text})
