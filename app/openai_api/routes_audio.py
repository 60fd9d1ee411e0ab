"""POST /v1/audio/speech and POST /v1/audio/transcriptions.

Speech: the body streams as the model speaks for ``pcm`` and ``wav`` (a WAV header with
"unknown" sizes, then pcm16); mp3, flac and opus need the whole waveform and come when it
is done. ``stream_format: "sse"`` sends ``speech.audio.delta`` events with base64 pcm16
chunks (``response_format`` must be ``pcm``), then ``speech.audio.done``.
Transcription: ``json`` / ``text`` / ``verbose_json``; ``stream=true`` sends
``transcript.text.delta`` events, then ``transcript.text.done``.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import soundfile as sf

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from mimo_core.constants import GROUP_SIZE
from mimo_core.tasks import ASRRequest, TTSRequest

from .admission import read_body, replay
from .audio import audio_part_bytes, b64, encode, media_type, pcm16, streaming_wav_header
from .errors import bad_request
from .params import (SPEECH_STREAM_FORMATS, TRANSCRIPTION_FORMATS, check_speed, choice, flag,
                     language_code, speech_format, text_field)
from .streaming import sse, sse_error

STREAMED_FORMATS = ("pcm", "wav")
LANGUAGE_NAMES = {"zh": "chinese", "en": "english"}
SSE_MEDIA_TYPE = "text/event-stream"


def add_routes(api: FastAPI, ctx) -> None:
    @api.post("/audio/speech")
    async def speech(request: Request):
        data = await ctx.json_body(request)
        ctx.require_instruct(data, "text to speech")
        text = text_field(data, "input", required=True)
        fmt = speech_format(data)
        check_speed(data)
        stream_format = choice(data, "stream_format", SPEECH_STREAM_FORMATS, "audio")
        if stream_format == "sse" and fmt != "pcm":
            raise bad_request('stream_format "sse" sends base64 pcm16 chunks: set response_format '
                              'to "pcm"', param="response_format")
        voice = ctx.voices.prompt(data.get("voice"))
        if data.get("voice_audio") is not None:           # our extra: a clip to clone
            voice = audio_part_bytes({"type": "input_audio", "input_audio": data["voice_audio"]},
                                     "voice_audio")
        task = TTSRequest(text=text, instruct=text_field(data, "instructions") or None,
                          voice_prompt=voice, natural=flag(data, "natural"), options=ctx.options(data))
        if stream_format == "sse":
            return StreamingResponse(_speech_sse(await ctx.stream(task)), media_type=SSE_MEDIA_TYPE)
        if fmt in STREAMED_FORMATS:
            events = await ctx.stream(task)
            return StreamingResponse(_speech_raw(events, fmt == "wav"), media_type=media_type(fmt))
        result = await ctx.run(task)
        return Response(encode(result.audio, fmt), media_type=media_type(fmt))

    @api.post("/audio/transcriptions")
    async def transcriptions(request: Request):
        ctx.ready.check()
        body = await read_body(request, ctx.upload_cap)
        try:
            form = await replay(request, body).form(max_part_size=ctx.upload_cap)
        except Exception as exc:  # noqa: BLE001 - a malformed multipart body
            raise bad_request(f"the body must be multipart/form-data with a file ({exc})") from None
        fields = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        upload = form.get("file")
        ctx.require_instruct(fields, "transcription")
        if not isinstance(upload, UploadFile):
            raise bad_request("file is required (multipart upload)", param="file")
        fmt = choice(fields, "response_format", TRANSCRIPTION_FORMATS, "json")
        language = language_code(fields.get("language"))
        audio = await upload.read()
        task = ASRRequest(audio=audio, language=language, options=ctx.options(fields))
        if flag(fields, "stream"):
            return StreamingResponse(_transcript_sse(await ctx.stream(task)), media_type=SSE_MEDIA_TYPE)
        result = await ctx.run(task)
        text = result.answer                 # the transcript people read: no markup
        if fmt == "text":
            return PlainTextResponse(text)
        body = {"text": text, "usage": _usage(result)}
        if fmt == "verbose_json":
            body = {"task": "transcribe", "language": LANGUAGE_NAMES[language or "en"],
                    "duration": _seconds(audio), "text": text, "segments": []}
        return JSONResponse(body)


def _usage(result) -> dict:
    """Token counts in model positions: prompt groups in, generated groups out."""
    prompt = result.prompt_columns // GROUP_SIZE
    return {"type": "tokens", "input_tokens": prompt, "output_tokens": result.new_groups,
            "total_tokens": prompt + result.new_groups}


def _seconds(audio: bytes) -> float:
    """The uploaded file's length in seconds (0.0 when libsndfile cannot tell)."""
    try:
        return round(float(sf.info(io.BytesIO(audio)).duration), 3)
    except Exception:  # noqa: BLE001 - a format only the fallback decoder reads
        return 0.0


async def _speech_raw(events, wav: bool) -> AsyncIterator[bytes]:
    if wav:
        yield streaming_wav_header()
    async for event in events:
        if event.audio_chunk is not None and event.audio_chunk.size:
            yield pcm16(event.audio_chunk)


async def _speech_sse(events) -> AsyncIterator[str]:
    try:
        async for event in events:
            if event.audio_chunk is not None and event.audio_chunk.size:
                yield sse({"type": "speech.audio.delta", "audio": b64(pcm16(event.audio_chunk))},
                          event="speech.audio.delta")
            if event.result is not None:
                usage = _usage(event.result)
                yield sse({"type": "speech.audio.done", "usage": {
                    "input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"],
                    "total_tokens": usage["total_tokens"]}}, event="speech.audio.done")
    except Exception as exc:  # noqa: BLE001 - the status is sent: report in the stream
        yield sse_error(exc)


async def _transcript_sse(events) -> AsyncIterator[str]:
    try:
        async for event in events:
            if event.answer_delta:
                yield sse({"type": "transcript.text.delta", "delta": event.answer_delta},
                          event="transcript.text.delta")
            if event.result is not None:
                yield sse({"type": "transcript.text.done", "text": event.result.answer,
                           "usage": _usage(event.result)}, event="transcript.text.done")
    except Exception as exc:  # noqa: BLE001
        yield sse_error(exc)
