"""The "Voice Chat" tab: press Start, talk, pause; the reply plays by itself; talk over it to
interrupt.

Transport: gradio's streaming microphone input (``gr.Audio(streaming=True)`` + ``.stream``),
which rides the app's normal gradio connection, so it works locally, with ``--share`` and on
Spaces without a TURN server. Each browser session keeps its :class:`VoiceSession` (and so its
conversation) in a ``gr.State``. The microphone event feeds the session; when a turn ends it
bumps a hidden turn number, whose change starts the reply event that streams the reply's audio
to an autoplaying player and its text to the chat; the start of any speech bumps a hidden
number whose change pauses the player in the browser (barge-in).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from mimo_core.prompts.templates import DEFAULT_DIALOGUE_SYSTEM_PROMPT
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.types import Conversation, GenerationOptions

from ..inputs import audio_file, audio_path_of, wav_bytes, write_wav
from ..updates import UiUpdate
from .session import (BARGE_IN, ERROR, REPLY_AUDIO, REPLY_DONE, REPLY_TEXT, SPEECH_END,
                      SPEECH_START, VoiceSession)
from .turns import TurnSettings

STREAM_EVERY_S = 0.25            # microphone chunk length sent to the server
SESSION_LIMIT_S = 3600           # one Start lasts at most this long
PAUSE_RANGE_S = (0.3, 2.0)
MAX_REPLY_S = 30                 # default longest reply, seconds of speech
REPLY_IDLE_S = 120               # a reply event gives up after this long without news
POLL_S = 0.1

LISTENING = "Listening: speak, then pause."
STOP_PLAYBACK_JS = """() => { document.querySelectorAll('#voice-live audio').forEach(a => a.pause()); }"""
# Start / Stop press the microphone's own record / stop button (then run the server function)
_PRESS = """(...args) => {{ document.querySelector('#voice-mic button.{cls}')?.click(); {extra} return args; }}"""
START_JS = _PRESS.format(cls="record-button", extra="")
STOP_JS = _PRESS.format(cls="stop-button",
                        extra="document.querySelectorAll('#voice-live audio').forEach(a => a.pause());")


class VoiceUpdate(UiUpdate):
    """What the tab's events show: the session state, the hidden turn and barge-in numbers, the
    chat view, the reply player, the status line. Each event is wired to some of them (the
    ``*_SHOWS`` names below) and returns those."""

    session: Any
    turn: Any
    barge: Any
    chat: Any
    live: Any
    status: Any


START_SHOWS = ("session", "status")
CLEAR_SHOWS = ("chat", "status")
HEAR_SHOWS = ("session", "turn", "barge", "status")
REPLY_SHOWS = ("chat", "live", "status")


def _messages(conversation: Optional[Conversation]) -> list[dict]:
    """Chat-view messages: each turn's text and a playable audio."""
    out = []
    for turn in conversation.turns if conversation is not None else ():
        if turn.text:
            out.append({"role": turn.role, "content": turn.text})
        path = audio_file(turn.audio)
        if path is not None:
            out.append({"role": turn.role, "content": {"path": path, "mime_type": "audio/wav"}})
    return out


class VoiceHandlers:
    """The tab's event functions over a ``MimoAudio`` backend."""

    def __init__(self, backend: Any, limits: Any, stream_audio: bool = True):
        self.backend, self.limits, self.stream_audio = backend, limits, stream_audio

    def session(self, session: Any, pause: Any, voice: Any, system: Any, max_reply: Any) -> VoiceSession:
        if not isinstance(session, VoiceSession) or session.closed:
            session = VoiceSession(self.backend, limits=self.limits, settings=TurnSettings())
        session.configure(pause_s=float(pause), voice_prompt=audio_path_of(voice) or None,
                          system_prompt=str(system or "").strip() or None)
        session.options = GenerationOptions(max_new_groups=groups_for_seconds(float(max_reply)))
        return session

    def start(self, session: Any, *settings: Any) -> tuple:
        return VoiceUpdate(session=self.session(session, *settings), status=LISTENING).only(START_SHOWS)

    @staticmethod
    def stop(session: Any) -> str:
        if isinstance(session, VoiceSession):
            session.interrupt()
        return "Stopped. Press Start to talk again."

    @staticmethod
    def clear(session: Any) -> tuple:
        if isinstance(session, VoiceSession):
            session.clear()
        return VoiceUpdate(chat=[], status="Conversation cleared.").only(CLEAR_SHOWS)

    def hear(self, chunk: Any, session: Any, *settings: Any) -> tuple:
        """One microphone chunk: :data:`HEAR_SHOWS` (session, turn number, barge-in number, status)."""
        if chunk is None:
            return VoiceUpdate(session=session).only(HEAR_SHOWS)
        rate, samples = chunk
        session = self.session(session, *settings)
        shown: dict[str, Any] = {"session": session}
        for event in session.feed(samples, int(rate)):
            if event.kind == SPEECH_START:
                # the user talks: stop any playback (also a reply the server thinks is over)
                shown.update(barge=event.turn, status="Hearing you...")
            elif event.kind == BARGE_IN:
                shown.update(status="Interrupted: go on.")
            elif event.kind == SPEECH_END:
                shown.update(turn=event.turn, status="Thinking...")
        return VoiceUpdate(**shown).only(HEAR_SHOWS)

    def reply(self, session: Any, turn: Any) -> Iterator[tuple]:
        """Stream one turn's reply: :data:`REPLY_SHOWS` (chat, live audio chunk, status)."""
        for update in self._reply(session, turn):
            yield update.only(REPLY_SHOWS)

    def _reply(self, session: Any, turn: Any) -> Iterator[VoiceUpdate]:
        if not isinstance(session, VoiceSession) or not turn:
            return
        turn = int(turn)
        history = _messages(session.conversation)
        heard: list[dict] = []
        text = ""
        while (event := session.next_event(turn, REPLY_IDLE_S)) is not None:
            if event.kind == SPEECH_END and event.audio is not None:
                path = write_wav(event.audio, event.info["rate"])
                heard = [{"role": "user", "content": {"path": path, "mime_type": "audio/wav"}}]
                yield VoiceUpdate(chat=history + heard + [{"role": "assistant", "content": "..."}],
                                  status="Thinking...")
            elif event.kind == REPLY_TEXT:
                text += event.text
                yield VoiceUpdate(chat=history + heard + [{"role": "assistant", "content": text}])
            elif event.kind == REPLY_AUDIO and self.stream_audio:
                yield VoiceUpdate(live=wav_bytes(event.audio), status="Speaking (talk to interrupt).")
            elif event.kind == ERROR:
                yield VoiceUpdate(chat=history, status=f"Error: {event.text}")
            elif event.kind == BARGE_IN:
                yield VoiceUpdate(chat=history, status="Interrupted: go on.")
                return
            elif event.kind == REPLY_DONE:
                if event.info.get("stop_reason") == "cancelled":
                    yield VoiceUpdate(chat=history)
                else:
                    yield VoiceUpdate(chat=_messages(session.conversation), status=LISTENING)
                return


def _close(session: Any) -> None:
    if isinstance(session, VoiceSession):
        session.close()


def voice_tab(h: Any) -> None:
    """Build the tab; ``h``: the app's Handlers (``backend``, ``limits``, ``stream_audio``)."""
    v = VoiceHandlers(h.backend, h.limits, h.stream_audio)
    session = gr.State(None, delete_callback=_close)
    turn = gr.Number(0, visible="hidden", elem_id="voice-turn", precision=0)
    barge = gr.Number(0, visible="hidden", elem_id="voice-barge", precision=0)
    with gr.Row():
        with gr.Column(scale=3):
            chat = gr.Chatbot(label="Conversation", height=380, elem_id="voice-chat",
                              feedback_options=None)
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="voice-start")
                stop = gr.Button("Stop", variant="stop", elem_id="voice-stop")
                clear = gr.Button("Clear conversation", elem_id="voice-clear")
            status = gr.Markdown("Press Start, allow the microphone, and talk. Pause to let the "
                                 "model answer; talk over the answer to interrupt it.",
                                 elem_id="voice-status")
        with gr.Column(scale=2):
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy",
                           label="Microphone", elem_id="voice-mic")
            live = gr.Audio(label="Reply", streaming=h.stream_audio, autoplay=True,
                            interactive=False, elem_id="voice-live")
            pause = gr.Slider(*PAUSE_RANGE_S, value=TurnSettings().pause_s, step=0.1,
                              label="Pause that ends your turn (seconds)", elem_id="voice-pause")
            max_reply = gr.Slider(2, 60, value=MAX_REPLY_S, step=1,
                                  label="Longest reply (seconds)", elem_id="voice-max-reply")
            with gr.Accordion("Voice and system prompt", open=False):
                voice = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                 label="Voice prompt (optional: the voice to answer in)")
                system = gr.Textbox(label="System prompt", value=DEFAULT_DIALOGUE_SYSTEM_PROMPT,
                                    lines=2)
    settings = [pause, voice, system, max_reply]
    widgets = dict(session=session, turn=turn, barge=barge, chat=chat, live=live, status=status)

    def shows(names: tuple[str, ...]) -> list:
        return [widgets[name] for name in names]

    start.click(v.start, [session, *settings], shows(START_SHOWS), js=START_JS, queue=False,
                show_progress="hidden", api_visibility="private")
    stop.click(v.stop, [session], [status], js=STOP_JS, queue=False, show_progress="hidden",
               api_visibility="private")
    clear.click(v.clear, [session], shows(CLEAR_SHOWS), api_visibility="private", queue=False)
    mic.stream(v.hear, [mic, session, *settings], shows(HEAR_SHOWS),
               stream_every=STREAM_EVERY_S, time_limit=SESSION_LIMIT_S, concurrency_limit=None,
               concurrency_id="voice-mic", show_progress="hidden", show_progress_on=[turn],
               api_visibility="private")
    # the reply event only waits on the session (the engine does the work and batches it);
    # progress timers go to the hidden turn number, not over the status line
    turn.change(v.reply, [session, turn], shows(REPLY_SHOWS), concurrency_limit=None,
                concurrency_id="voice-reply", show_progress="hidden", show_progress_on=[turn],
                trigger_mode="always_last",
                api_visibility="private")
    barge.change(None, None, None, js=STOP_PLAYBACK_JS)
