"""The voice conversation loop for programs: a websocket at :data:`WS_PATH` on the app's server.

Protocol (one :class:`~app.voice.session.VoiceSession` per connection):

* client -> server, binary: microphone audio, 16-bit little-endian mono PCM at the declared
  rate (``?rate=16000`` in the URL or a ``config`` message; default 24000 Hz), any chunk size;
* client -> server, text: JSON control messages
  ``{"type": "config", "rate": 16000, "pause_s": 0.8, "system_prompt": "...",
  "voice_prompt": "<base64 audio file>", "max_reply_s": 30}``, ``{"type": "interrupt"}``,
  ``{"type": "clear"}``;
* server -> client, text: JSON events ``{"type": "ready"}``, ``speech_start``, ``barge_in``
  (stop playing), ``speech_end``, ``reply_text`` (``text``: the delta), ``reply_done``
  (``text``, ``stop_reason``), ``error`` (``message``), each with its ``turn`` number;
* server -> client, binary: the reply's audio, 16-bit little-endian mono PCM at 24 kHz, sent
  between the turn's ``speech_end`` and ``reply_done``; none of a turn is sent after its
  ``barge_in``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import queue
from typing import Any, Optional

import numpy as np
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import MimoError, PromptError
from mimo_core.tasks.backend import Backend
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.types import GenerationOptions

from .session import BARGE_IN, ERROR, REPLY_AUDIO, REPLY_DONE, REPLY_TEXT, VoiceEvent, VoiceSession

WS_PATH = "/voice/ws"
OUT_RATE = SAMPLE_RATE                 # reply audio: 24 kHz PCM16
POLL_S = 0.01                          # how often the sender looks at the session's outbox
PCM16_SCALE = 32767.0
MIN_RATE, MAX_RATE = 8_000, 96_000


def pcm16(wav: np.ndarray) -> bytes:
    return (np.clip(wav, -1.0, 1.0) * PCM16_SCALE).astype("<i2").tobytes()


def event_json(event: VoiceEvent) -> dict:
    """The JSON form of a session event (binary audio is sent separately)."""
    out: dict[str, Any] = {"type": event.kind, "turn": event.turn, **event.info}
    if event.kind == ERROR:
        out["message"] = event.text
    elif event.text or event.kind in (REPLY_TEXT, REPLY_DONE):
        out["text"] = event.text
    return out


def _rate(value: Any) -> int:
    try:
        rate = int(value)
    except (TypeError, ValueError):
        raise PromptError(f"rate must be a whole number of Hz, got {value!r}") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise PromptError(f"rate must be {MIN_RATE}..{MAX_RATE} Hz, got {rate}")
    return rate


class _Connection:
    """One websocket: its session, declared input rate, and what must not be sent any more."""

    def __init__(self, ws: WebSocket, backend: Backend, limits: Limits):
        self.ws, self.rate = ws, _rate(ws.query_params.get("rate", SAMPLE_RATE))
        self.session = VoiceSession(backend, limits=limits)
        self.cut: set[int] = set()               # turns interrupted: their audio is dropped
        self.lock = asyncio.Lock()

    async def send(self, *, text: Optional[dict] = None, data: Optional[bytes] = None) -> None:
        async with self.lock:
            if text is not None:
                await self.ws.send_text(json.dumps(text))
            if data is not None:
                await self.ws.send_bytes(data)

    def control(self, message: dict) -> None:
        kind = message.get("type")
        s = self.session
        if kind == "config":
            if "rate" in message:
                self.rate = _rate(message["rate"])
            voice = message.get("voice_prompt", s.voice_prompt)
            if isinstance(voice, str):
                try:
                    voice = base64.b64decode(voice, validate=True)
                except (binascii.Error, ValueError):
                    raise PromptError("voice_prompt must be a base64-encoded audio file") from None
            s.configure(pause_s=message.get("pause_s"), voice_prompt=voice,
                        system_prompt=message.get("system_prompt", s.system_prompt))
            if message.get("max_reply_s") is not None:
                s.options = GenerationOptions(max_new_groups=groups_for_seconds(float(message["max_reply_s"])))
        elif kind == "interrupt":
            s.interrupt()
        elif kind == "clear":
            s.clear()
        else:
            raise PromptError(f"unknown message type {kind!r}: use config, interrupt or clear")

    async def pump(self) -> None:
        """Send the session's events (JSON) and reply audio (binary) as they come."""
        while True:
            try:
                event = self.session.outbox.get_nowait()
            except queue.Empty:
                await asyncio.sleep(POLL_S)
                continue
            if event.kind == BARGE_IN:
                self.cut.add(event.turn)
            if event.turn in self.cut and event.kind in (REPLY_AUDIO, REPLY_TEXT):
                continue
            if event.kind == REPLY_AUDIO:
                await self.send(data=pcm16(event.audio))
            else:
                await self.send(text=event_json(event))


async def voice_socket(ws: WebSocket, backend: Backend, limits: Limits) -> None:
    await ws.accept()
    try:
        conn = _Connection(ws, backend, limits)
    except MimoError as exc:
        await ws.send_text(json.dumps({"type": ERROR, "turn": 0, "message": str(exc)}))
        await ws.close(code=1003)
        return
    await conn.send(text={"type": "ready", "turn": 0, "rate_in": conn.rate, "rate_out": OUT_RATE})
    pump = asyncio.create_task(conn.pump())
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                if message.get("bytes") is not None:
                    samples = np.frombuffer(message["bytes"], dtype="<i2")
                    conn.session.feed(samples, conn.rate)     # events reach the client via pump
                elif message.get("text") is not None:
                    try:
                        control = json.loads(message["text"])
                    except json.JSONDecodeError:
                        raise PromptError("control messages must be JSON objects") from None
                    if not isinstance(control, dict):
                        raise PromptError("control messages must be JSON objects")
                    conn.control(control)
            except (MimoError, ValueError) as exc:
                await conn.send(text={"type": ERROR, "turn": conn.session.turn, "message": str(exc)})
    except WebSocketDisconnect:
        pass
    finally:
        conn.session.close()
        pump.cancel()


def voice_routes(backend: Backend, limits: Optional[Limits] = None) -> list[WebSocketRoute]:
    """The routes to add to the app's server (``app_kwargs={"routes": ...}`` at launch)."""
    limits = limits or backend.limits

    async def endpoint(ws: WebSocket) -> None:
        await voice_socket(ws, backend, limits)

    return [WebSocketRoute(WS_PATH, endpoint, name="voice_ws")]
