"""The hands-free conversation loop of one user, independent of the transport.

A :class:`VoiceSession` is fed microphone samples (:meth:`VoiceSession.feed`); its
:class:`~app.voice.turns.TurnDetector` decides when a turn starts and ends. At the end of a
turn the turn's audio goes to the model as a ``DialogueRequest`` on the session's
conversation, in a worker thread that puts the reply (text deltas, 24 kHz audio chunks, a
final ``reply_done``) on :attr:`VoiceSession.outbox`. Speech that starts while a reply is
being generated or played is a barge-in: the reply's cancel event is set (the engine frees its
slot at the next step), a ``barge_in`` event tells the client to stop playback, and the new
turn is taken. Only finished replies enter the conversation; an interrupted one is dropped,
as the Stop button of the Spoken Dialogue tab does.

The gradio tab and the websocket endpoint both drive this class; tests drive it with arrays.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import MimoError
from mimo_core.tasks.backend import Backend
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.types import Conversation, DialogueRequest, GenerationOptions

from .turns import FrameClassifier, SpeechStarted, TurnDetector, TurnEnded, TurnSettings, WebRtcVad

# event kinds, in the order a turn produces them
SPEECH_START = "speech_start"         # the user started talking (turn = the turn it opens)
BARGE_IN = "barge_in"                 # ... while a reply was generating or playing: stop playback
SPEECH_END = "speech_end"             # the user's turn is over; the reply is being prepared
REPLY_TEXT = "reply_text"             # text delta of the reply
REPLY_AUDIO = "reply_audio"           # 24 kHz float32 chunk of the reply
REPLY_DONE = "reply_done"             # the reply ended (stop_reason "cancelled" when interrupted)
ERROR = "error"                       # a readable one-line problem (bad prompt, too long...)
PLAYBACK_MARGIN_S = 1.0               # a client starts and buffers playback a little late


@dataclass(frozen=True)
class VoiceEvent:
    kind: str
    turn: int
    text: str = ""
    audio: Optional[np.ndarray] = field(default=None, repr=False)
    info: dict = field(default_factory=dict)      # timings, stop reason, durations


@dataclass
class _Reply:
    turn: int
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: Optional[threading.Thread] = None
    audio_s: float = 0.0                 # seconds of reply audio sent so far
    first_audio_at: Optional[float] = None   # clock time of the first chunk (playback start)
    finished_at: Optional[float] = None

    def playing(self, now: float) -> bool:
        """Generating, or (estimated from the audio sent) still playing at the client; an
        interrupted reply is neither."""
        if self.cancel.is_set():
            return False
        if self.finished_at is None:
            return True
        return (self.first_audio_at is not None
                and now < self.first_audio_at + self.audio_s + PLAYBACK_MARGIN_S)


class VoiceSession:
    """One user's hands-free dialogue (see module docstring).

    ``backend``: the ``MimoAudio`` API (``stream(request, cancel=...)``); ``classify``: the
    per-frame speech classifier (default: :class:`WebRtcVad`); ``clock``: for tests.
    """

    def __init__(self, backend: Backend, *, limits: Optional[Limits] = None,
                 settings: TurnSettings = TurnSettings(), classify: Optional[FrameClassifier] = None,
                 voice_prompt: Any = None, system_prompt: Optional[str] = None,
                 options: GenerationOptions = GenerationOptions(),
                 clock: Callable[[], float] = time.monotonic):
        self.backend, self.limits = backend, limits or Limits()
        self.classify = classify if classify is not None else WebRtcVad()
        self.settings = self._bounded(settings)
        self.voice_prompt, self.system_prompt, self.options = voice_prompt, system_prompt, options
        self.clock = clock
        self.outbox: "queue.Queue[VoiceEvent]" = queue.Queue()
        self._lock = threading.Lock()
        self._conversation: Optional[Conversation] = None
        self._detector: Optional[TurnDetector] = None
        self._reply: Optional[_Reply] = None
        self._turn = 0                        # turns taken so far (the next turn is _turn + 1)
        self._later: list[VoiceEvent] = []    # events next_event() read for later turns
        self.closed = False

    # ------------------------------------------------------------------ state
    @property
    def conversation(self) -> Optional[Conversation]:
        with self._lock:
            return self._conversation

    @property
    def turn(self) -> int:
        return self._turn

    @property
    def replying(self) -> bool:
        """A reply is being generated now."""
        reply = self._reply
        return reply is not None and reply.finished_at is None

    def configure(self, *, pause_s: Optional[float] = None, voice_prompt: Any = None,
                  system_prompt: Optional[str] = None) -> None:
        """Change the pause length (takes effect from the next audio) and the prompts (from
        the next turn)."""
        if pause_s is not None and pause_s != self.settings.pause_s:
            self.settings = self._bounded(TurnSettings(
                pause_s=float(pause_s), min_speech_s=self.settings.min_speech_s,
                pre_roll_s=self.settings.pre_roll_s, max_turn_s=self.settings.max_turn_s))
            if self._detector is not None:
                self._detector.settings = self.settings
        self.voice_prompt, self.system_prompt = voice_prompt, system_prompt

    def _bounded(self, settings: TurnSettings) -> TurnSettings:
        """A turn never exceeds the audio-input limit the model accepts."""
        if settings.max_turn_s <= self.limits.max_audio_seconds:
            return settings
        return TurnSettings(pause_s=settings.pause_s, min_speech_s=settings.min_speech_s,
                            pre_roll_s=min(settings.pre_roll_s, self.limits.max_audio_seconds),
                            max_turn_s=self.limits.max_audio_seconds)

    # ------------------------------------------------------------------ input
    def feed(self, samples: np.ndarray, sample_rate: int) -> list[VoiceEvent]:
        """Take microphone samples; returns (and posts to the outbox) the turn events they
        caused: speech_start, barge_in, speech_end."""
        if self.closed:
            return []
        if self._detector is None or self._detector.sample_rate != sample_rate:
            self._detector = TurnDetector(self.classify, int(sample_rate), self.settings)
        out: list[VoiceEvent] = []
        for event in self._detector.push(samples):
            if isinstance(event, SpeechStarted):
                out += self._on_speech(event)
            elif isinstance(event, TurnEnded):
                out += self._on_turn_end(event)
        for event in out:
            self.outbox.put(event)
        return out

    def _on_speech(self, event: SpeechStarted) -> list[VoiceEvent]:
        out = [VoiceEvent(SPEECH_START, self._turn + 1, info={"at_s": event.at_s})]
        reply = self._reply
        if reply is not None and reply.playing(self.clock()):
            reply.cancel.set()                  # the engine frees the slot at its next step
            out.append(VoiceEvent(BARGE_IN, reply.turn, info={"at_s": event.at_s}))
        return out

    def _on_turn_end(self, event: TurnEnded) -> list[VoiceEvent]:
        self._turn += 1
        turn = self._turn
        info = {"speech_end_s": event.speech_end_s, "at_s": event.at_s, "rate": event.sample_rate,
                "seconds": round(event.duration_s, 3), "forced": event.forced}
        self._start_reply(turn, event.audio, event.sample_rate)
        return [VoiceEvent(SPEECH_END, turn, audio=event.audio, info=info)]

    # ------------------------------------------------------------------ replies
    def _start_reply(self, turn: int, audio: np.ndarray, rate: int) -> None:
        old = self._reply
        if old is not None:
            old.cancel.set()                     # a turn ended during a reply (forced cut)
        reply = _Reply(turn)
        reply.thread = threading.Thread(target=self._run_reply, args=(reply, audio, rate),
                                        name=f"voice-reply-{turn}", daemon=True)
        self._reply = reply
        reply.thread.start()

    def _request(self, audio: np.ndarray, rate: int) -> DialogueRequest:
        # the voice and system prompt shape a conversation's first turn (the task refuses them
        # on a later one): a change applies from the next new conversation (Clear)
        first = self.conversation is None
        return DialogueRequest(audio=(audio, rate), conversation=self.conversation,
                               voice_prompt=self.voice_prompt if first else None,
                               system_prompt=self.system_prompt if first else None,
                               options=self.options)

    def _run_reply(self, reply: _Reply, audio: np.ndarray, rate: int) -> None:
        turn, cancel = reply.turn, reply.cancel
        started = self.clock()
        result, stop_reason, text = None, "cancelled", ""
        try:
            events = self.backend.stream(self._request(audio, rate), cancel=cancel)
            try:
                for ev in events:
                    if cancel.is_set():
                        break
                    if ev.answer_delta:                  # what people see: no markup
                        text += ev.answer_delta
                        self.outbox.put(VoiceEvent(REPLY_TEXT, turn, text=ev.answer_delta))
                    if ev.audio_chunk is not None and ev.audio_chunk.size:
                        if reply.first_audio_at is None:
                            reply.first_audio_at = self.clock()
                        reply.audio_s += ev.audio_chunk.size / SAMPLE_RATE
                        self.outbox.put(VoiceEvent(REPLY_AUDIO, turn, audio=ev.audio_chunk))
                    if ev.result is not None:
                        result = ev.result
            finally:
                events.close()                   # leaving early cancels the engine request
        except MimoError as exc:
            self.outbox.put(VoiceEvent(ERROR, turn, text=str(exc)))
        with self._lock:
            if result is not None and not cancel.is_set() and result.stop_reason != "cancelled":
                self._conversation = result.conversation
                stop_reason, text = result.stop_reason, result.answer
        reply.finished_at = self.clock()
        self.outbox.put(VoiceEvent(REPLY_DONE, turn, text=text, info={
            "stop_reason": stop_reason, "seconds": round(self.clock() - started, 3),
            "audio_s": round(reply.audio_s, 3)}))

    def next_event(self, turn: int, timeout_s: float) -> Optional[VoiceEvent]:
        """The next outbox event of ``turn``, or None after ``timeout_s``: for a reader that
        follows one turn at a time (the gradio tab). Events of earlier turns are dropped, those
        of later turns kept for the next reader. (The websocket reads :attr:`outbox` itself.)"""
        self._later = [ev for ev in self._later if ev.turn >= turn]
        for i, ev in enumerate(self._later):
            if ev.turn == turn:
                return self._later.pop(i)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev = self.outbox.get(timeout=left)
            except queue.Empty:
                return None
            if ev.turn == turn:
                return ev
            if ev.turn > turn:
                self._later.append(ev)
        return None

    # ------------------------------------------------------------------ control
    def interrupt(self) -> None:
        """Stop the reply now (generation and, via a barge_in event, playback)."""
        reply = self._reply
        if reply is not None and reply.playing(self.clock()):
            reply.cancel.set()
            self.outbox.put(VoiceEvent(BARGE_IN, reply.turn))
        if self._detector is not None:
            self._detector.reset()

    def clear(self) -> None:
        """Forget the conversation (and stop any reply)."""
        self.interrupt()
        with self._lock:
            self._conversation = None

    def wait_reply(self, timeout_s: float = 60.0) -> bool:
        """Block until the current reply thread ends (tests, benchmarks); True if it did."""
        reply = self._reply
        if reply is None or reply.thread is None:
            return True
        reply.thread.join(timeout_s)
        return not reply.thread.is_alive()

    def close(self) -> None:
        self.closed = True
        self.interrupt()
