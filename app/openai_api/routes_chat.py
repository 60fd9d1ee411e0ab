"""POST /v1/chat/completions: text chat, speech-to-text dialogue, spoken dialogue and audio
understanding behind OpenAI's chat shape (the routing rules are in :mod:`.chat`).

Replies: ``message.content`` is the answer, ``message.reasoning_content`` the thinking
(vLLM's field; asked for with our extra ``"thinking": true``); a spoken reply is
``message.audio {id, data, expires_at, transcript}`` with ``content`` null, as OpenAI sends
it. Streaming: ``chat.completion.chunk`` SSE messages with ``delta.reasoning_content``,
``delta.content`` or, for speech, ``delta.audio {id, transcript, data}`` (base64 pcm16 at
24 kHz), a last chunk with ``finish_reason``, an optional usage chunk, then ``[DONE]``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from mimo_core.constants import GROUP_SIZE

from .audio import b64, encode, pcm16
from .catalog import INSTRUCT, MODEL_IDS
from .chat import build_request, read_messages
from .errors import bad_request
from .params import chat_output, flag, reject_unsupported_chat
from .streaming import DONE, sse, sse_error

FINISH_REASONS = {"stop_token": "stop", "max_new_groups": "length", "context_limit": "length",
                  "cancelled": "stop"}


def add_routes(api: FastAPI, ctx) -> None:
    @api.post("/chat/completions")
    async def chat_completions(request: Request):
        data = await ctx.json_body(request)
        ctx.require_instruct(data, "chat")
        reject_unsupported_chat(data)
        wants_audio, audio_format = chat_output(data)
        stream = flag(data, "stream")
        if stream and wants_audio and audio_format != "pcm":
            raise bad_request('streamed audio is pcm16 only: set audio.format to "pcm16"',
                              param="audio.format")
        thinking = flag(data, "thinking")
        voice = ctx.voices.prompt((data.get("audio") or {}).get("voice"), "audio.voice")
        task = build_request(read_messages(data.get("messages"), ctx.cache), wants_audio=wants_audio,
                             thinking=thinking, voice_prompt=voice,
                             options=ctx.options(data))
        reply = _Reply(MODEL_IDS[INSTRUCT], wants_audio, ctx.cache)
        if stream:
            stream_options = data.get("stream_options") or {}
            if not isinstance(stream_options, dict):
                raise bad_request("stream_options must be an object", param="stream_options")
            include_usage = flag(stream_options, "include_usage")
            events = await ctx.stream(task)
            return StreamingResponse(reply.chunks(events, include_usage),
                                     media_type="text/event-stream")
        return reply.completion(await ctx.run(task), audio_format)


class _Reply:
    """Builds one completion's response objects (one id, one creation time)."""

    def __init__(self, model: str, speaks: bool, cache):
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model, self.speaks, self.cache = model, speaks, cache
        self.audio_id = cache.new_id() if speaks else None

    def _base(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def completion(self, result, audio_format: str) -> dict:
        message = {"role": "assistant", "content": result.answer}
        if result.thinking:
            message["reasoning_content"] = result.thinking
        if self.speaks:
            entry = self.cache.put(self.audio_id, result.audio, result.answer)
            message["content"] = None
            message["audio"] = {"id": self.audio_id, "data": b64(encode(result.audio, audio_format)),
                                "expires_at": entry.expires_at, "transcript": result.answer}
        return {**self._base("chat.completion"),
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": FINISH_REASONS.get(result.stop_reason, "stop")}],
                "usage": _usage(result)}

    def _chunk(self, delta: dict, finish=None) -> str:
        return sse({**self._base("chat.completion.chunk"),
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    async def chunks(self, events, include_usage: bool) -> AsyncIterator[str]:
        yield self._chunk({"role": "assistant", "content": "" if not self.speaks else None})
        try:
            async for event in events:
                for delta in self._deltas(event.thinking_delta, event.answer_delta, event.audio_chunk):
                    yield self._chunk(delta)
                if event.result is not None:
                    yield self._final(event.result, include_usage)
        except Exception as exc:  # noqa: BLE001 - the status is sent: report in the stream
            yield sse_error(exc)
        yield DONE

    def _deltas(self, reasoning: str, content: str, chunk) -> list[dict]:
        """The chunks' deltas: the reasoning and the answer as the reader split them (no markup)."""
        out = []
        if reasoning:
            out.append({"reasoning_content": reasoning})
        if self.speaks:
            audio = {"id": self.audio_id}
            if content:
                audio["transcript"] = content
            if chunk is not None and chunk.size:
                audio["data"] = b64(pcm16(chunk))
            if len(audio) > 1:
                out.append({"audio": audio})
        elif content:
            out.append({"content": content})
        return out

    def _final(self, result, include_usage: bool) -> str:
        finish = FINISH_REASONS.get(result.stop_reason, "stop")
        delta = {}
        if self.speaks:
            entry = self.cache.put(self.audio_id, result.audio, result.answer)
            delta = {"audio": {"id": self.audio_id, "expires_at": entry.expires_at}}
        out = self._chunk(delta, finish)
        if include_usage:
            out += sse({**self._base("chat.completion.chunk"), "choices": [], "usage": _usage(result)})
        return out


def _usage(result) -> dict:
    """Counts in model positions: prompt groups and generated groups (one text token each)."""
    prompt = result.prompt_columns // GROUP_SIZE
    return {"prompt_tokens": prompt, "completion_tokens": result.new_groups,
            "total_tokens": prompt + result.new_groups}
