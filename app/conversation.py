"""Multi-turn tasks: spoken dialogue, speech-to-text dialogue and text chat.

The history of each browser session lives in that session's ``gr.State`` as a
:class:`mimo_core.tasks.types.Conversation` value: it comes in as an argument and goes back
out as a return value, so two sessions can never see each other's turns. The chat view is
drawn from that value (turn audio becomes small WAV files the browser can play; a turn's
reasoning a collapsed "Thinking" message): the past turns once per call, the new turns
appended at its end.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import gradio as gr

from mimo_core.tasks.registry import task_spec
from mimo_core.tasks.types import Conversation, Turn

from .handler_base import StreamState, user_errors
from .inputs import audio_file, audio_path_of, wav_bytes
from .updates import UiUpdate

THINKING_TITLE = "Thinking"
VOICE_LOCKED = "Voice prompt (fixed after the first turn: Clear conversation to change it)"
VOICE_OPEN = "Voice prompt (optional: the voice to answer in)"


class TurnUpdate(UiUpdate):
    """What a conversation tab shows while a turn runs. ``message``: the input widget (emptied
    when answered); ``voice``/``system``: the first-turn-only controls (locked once the
    conversation has started). A tab wires the fields :func:`turn_fields` names for it."""

    chat: Any
    live: Any
    full: Any
    status: Any
    conversation: Any
    message: Any
    voice: Any
    system: Any


def turn_fields(task: str) -> tuple[str, ...]:
    """The :class:`TurnUpdate` fields a conversation task's tab shows, in wiring order."""
    spec = task_spec(task)
    names = ["chat"] + (["live", "full"] if spec.speaks else []) + ["status", "conversation", "message"]
    if "voice_prompt" in spec.input_names:
        names += ["voice", "system"]
    return tuple(names)


def cleared_fields(task: str) -> tuple[str, ...]:
    """The :func:`turn_fields` the Clear button resets (all but the live player and the message)."""
    return tuple(name for name in turn_fields(task) if name not in ("live", "message"))


def _message(role: str, content: Any, **extra: Any) -> dict:
    return {"role": role, "content": content, **extra}


def _audio_message(role: str, path: str) -> dict:
    return _message(role, {"path": path, "mime_type": "audio/wav"})


def _thinking_message(text: str, done: bool = True) -> dict:
    return _message("assistant", text, metadata={"title": THINKING_TITLE, "status": "done" if done else "pending"})


def _turn_messages(turn: Turn) -> tuple[list[dict], Optional[str]]:
    """Chat-view messages of one turn (reasoning, text and/or a playable audio) and its audio file."""
    messages = [_thinking_message(turn.thinking)] if turn.thinking else []
    if turn.text:
        messages.append(_message(turn.role, turn.text))
    path = audio_file(turn.audio)
    if path is not None:
        messages.append(_audio_message(turn.role, path))
    if not messages:
        messages.append(_message(turn.role, "(empty)"))
    return messages, path


def render_conversation(conversation: Optional[Conversation]) -> list[dict]:
    """Chat-view messages for a conversation: per turn, its text and/or a playable audio."""
    return [m for turn in (conversation.turns if conversation is not None else ())
            for m in _turn_messages(turn)[0]]


def _pending_user_turn(req: Any) -> list[dict]:
    """How the user's new turn looks while the model answers."""
    text = getattr(req, "text", None)
    if text:
        return [_message("user", text)]
    path = audio_path_of(getattr(req, "audio", None))
    return [_audio_message("user", str(path))] if isinstance(path, str) else [_message("user", "(speech)")]


def _answer_messages(state: StreamState) -> list[dict]:
    thinking, answer = state.thinking_and_answer
    shown = [_thinking_message(thinking, done=bool(answer))] if thinking else []
    return shown + [_message("assistant", answer or "...")]


def _locks(started: bool) -> dict[str, Any]:
    """Voice and system prompt controls (:class:`TurnUpdate` fields): open before the first
    turn, locked after it."""
    if started:
        return dict(voice=gr.update(value=None, interactive=False, label=VOICE_LOCKED),
                    system=gr.update(interactive=False))
    return dict(voice=gr.update(interactive=True, label=VOICE_OPEN), system=gr.update(interactive=True))


class ConversationHandlers:
    """Dialogue tasks; mixed into :class:`app.handlers.Handlers` (needs its HandlerBase)."""

    def _turn_stream(self, request: Any, task: str, req: Any) -> Iterator[TurnUpdate]:
        before = req.conversation
        history = render_conversation(before)
        pending = _pending_user_turn(req)
        yield TurnUpdate(chat=history + pending, live=None, full=None, status="Waiting for the model...")
        state = StreamState()
        for state, chunk in self._events(request, task, req):
            live = wav_bytes(chunk) if (chunk is not None and self.stream_audio) else None
            yield TurnUpdate(chat=history + pending + _answer_messages(state), live=live, status=state.progress())
        status = state.summary()
        if state.stopped or state.result.conversation is None:
            # stopped: the unfinished turn is left out of the history
            yield TurnUpdate(chat=history, live=None, full=None, status=status, conversation=before,
                             **_locks(before is not None))
            return
        after = state.result.conversation
        old = before.turns if before is not None else ()
        # turns are append-only (after.turns = before.turns + new): only the new ones are drawn
        assert [(t.role, t.text) for t in after.turns[:len(old)]] == [(t.role, t.text) for t in old]
        messages, full = list(history), None
        for turn in after.turns[len(old):]:
            drawn, path = _turn_messages(turn)
            messages += drawn
            if turn.role == "assistant":
                full = path                         # the reply's audio, already written
        yield TurnUpdate(chat=messages, live=None, full=full, status=status, conversation=after, **_locks(True))
        # answered: the message box is emptied (the audio widget) or cleared (the textbox)
        yield TurnUpdate(message="" if hasattr(req, "text") else None)

    def turn_stream(self, task: str) -> Callable[..., Iterator[tuple]]:
        """The UI stream of a conversation task: :class:`TurnUpdate` s projected on
        :func:`turn_fields` (what the tab shows)."""
        fields = turn_fields(task)

        @user_errors
        def stream(request: Optional[gr.Request] = None, **values: Any) -> Iterator[tuple]:
            req = self.request(task, values)
            for update in self._turn_stream(request, task, req):
                yield update.only(fields)
        stream.__name__ = f"{task}_stream"
        return stream

    def turn_api(self, task: str) -> Callable[..., tuple]:
        """One turn, final result: (audio,) text, (reasoning,) conversation; the session keeps
        the conversation."""
        spec = task_spec(task)

        @user_errors
        def api(request: Optional[gr.Request] = None, **values: Any) -> tuple:
            result = self.backend.run(self.request(task, values))
            text = (result.answer, result.thinking) if spec.thinks else (result.answer,)
            audio = (audio_file(result.audio, result.sample_rate),) if spec.speaks else ()
            return (*audio, *text, result.conversation)
        api.__name__ = task
        return api

    @staticmethod
    def clear_conversation(task: str) -> tuple:
        """Clear button: empty chat view, no history, no audio, empty status (and the
        first-turn controls open again)."""
        update = TurnUpdate(chat=[], full=None, status="", conversation=None, **_locks(False))
        return update.only(cleared_fields(task))

