"""Multi-turn tasks: spoken dialogue, speech-to-text dialogue and text chat.

The history of each browser session lives in that session's ``gr.State`` as a
:class:`mimo_core.tasks.types.Conversation` value: it comes in as an argument and goes back
out as a return value, so two sessions can never see each other's turns. The chat view is
drawn from that value (turn audio becomes small WAV files the browser can play): the past
turns once per call, the new turns appended at its end.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from mimo_core.errors import PromptError
from mimo_core.tasks.types import ChatRequest, Conversation, DialogueRequest, S2TRequest, Turn

from .handler_base import StreamState, user_errors
from .inputs import audio_file, audio_path_of, options_from, read_audio, read_text, wav_bytes


def _message(role: str, content: Any) -> dict:
    return {"role": role, "content": content}


def _audio_message(role: str, path: str) -> dict:
    return _message(role, {"path": path, "mime_type": "audio/wav"})


def _turn_messages(turn: Turn) -> tuple[list[dict], Optional[str]]:
    """Chat-view messages of one turn (its text and/or a playable audio) and its audio file."""
    messages = [_message(turn.role, turn.text)] if turn.text else []
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


def _check_conversation(conversation: Any, task: str) -> Optional[Conversation]:
    if conversation is None:
        return None
    if not isinstance(conversation, Conversation):
        raise PromptError("the conversation state is not a conversation; press Clear to start over")
    if conversation.task and conversation.task != task:
        raise PromptError(f"this conversation belongs to the {conversation.task!r} tab; press Clear")
    return conversation


def _pending_user_turn(audio_value: Any = None, text: str = "") -> list[dict]:
    """How the user's new turn looks while the model answers."""
    if text:
        return [_message("user", text)]
    path = audio_path_of(audio_value)
    return [_audio_message("user", str(path))] if isinstance(path, str) else [_message("user", "(speech)")]


class ConversationHandlers:
    """Dialogue tasks; mixed into :class:`app.handlers.Handlers` (needs its HandlerBase)."""

    # -- request builders --------------------------------------------------------------
    def dialogue_request(self, audio: Any, voice: Any, system_prompt: Any, conversation: Any,
                         *sampler: Any) -> DialogueRequest:
        return DialogueRequest(
            audio=read_audio(audio, "your spoken message", self.limits),
            conversation=_check_conversation(conversation, "dialogue"),
            voice_prompt=read_audio(voice, "the voice prompt", self.limits, required=False),
            system_prompt=read_text(system_prompt, "the system prompt", self.limits, required=False) or None,
            options=options_from(sampler))

    def s2t_request(self, audio: Any, conversation: Any, *sampler: Any) -> S2TRequest:
        return S2TRequest(audio=read_audio(audio, "your spoken message", self.limits),
                          conversation=_check_conversation(conversation, "s2t"),
                          options=options_from(sampler))

    def chat_request(self, text: Any, conversation: Any, *sampler: Any) -> ChatRequest:
        return ChatRequest(text=read_text(text, "your message", self.limits),
                           conversation=_check_conversation(conversation, "chat"),
                           options=options_from(sampler))

    # -- streaming core for conversations ----------------------------------------------
    def _turn_stream(self, request: Any, task: str, req: Any, pending: list[dict]
                     ) -> Iterator[tuple]:
        """UI values (chat messages, live chunk, full audio, status, conversation)."""
        before = req.conversation
        history = render_conversation(before)
        yield history + pending, None, None, "Waiting for the model...", gr.skip()
        state = StreamState()
        for state, chunk in self._events(request, task, req):
            live = wav_bytes(chunk) if (chunk is not None and self.stream_audio) else None
            answer = [_message("assistant", state.text or "...")]
            yield history + pending + answer, live, gr.skip(), state.progress(), gr.skip()
        status = state.summary()
        if state.stopped or state.result.conversation is None:
            # stopped: the unfinished turn is left out of the history
            yield history, None, None, status, before
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
        yield messages, None, full, status, after

    # -- UI streams ----------------------------------------------------------------------
    @user_errors
    def dialogue_stream(self, request: gr.Request, audio: Any, *values: Any) -> Iterator[tuple]:
        req = self.dialogue_request(audio, *values)
        for out in self._turn_stream(request, "dialogue", req, _pending_user_turn(audio)):
            yield *out, gr.skip()
        yield *(gr.skip(),) * 5, None                   # answered: ready for the next message

    @user_errors
    def s2t_stream(self, request: gr.Request, audio: Any, *values: Any) -> Iterator[tuple]:
        req = self.s2t_request(audio, *values)
        for messages, _live, _full, status, conv in self._turn_stream(
                request, "s2t", req, _pending_user_turn(audio)):
            yield messages, status, conv, gr.skip()
        yield gr.skip(), gr.skip(), gr.skip(), None     # answered: ready for the next message

    @user_errors
    def chat_stream(self, request: gr.Request, text: Any, *values: Any) -> Iterator[tuple]:
        req = self.chat_request(text, *values)
        for messages, _live, _full, status, conv in self._turn_stream(
                request, "chat", req, _pending_user_turn(text=req.text)):
            yield messages, status, conv, gr.skip()
        yield gr.skip(), gr.skip(), gr.skip(), ""      # answered: empty the textbox

    # -- API calls (one turn, final result; the session keeps the conversation) ----------
    @user_errors
    def dialogue_api(self, request: gr.Request, *values: Any) -> tuple:
        result = self.backend.run(self.dialogue_request(*values))
        path, text = self._audio_out(result)
        return path, text, result.conversation

    @user_errors
    def s2t_api(self, request: gr.Request, *values: Any) -> tuple:
        result = self.backend.run(self.s2t_request(*values))
        return result.text, result.conversation

    @user_errors
    def chat_api(self, request: gr.Request, *values: Any) -> tuple:
        result = self.backend.run(self.chat_request(*values))
        return result.text, result.conversation

    @staticmethod
    def clear_conversation() -> tuple:
        """Clear button: empty chat view, no history, no audio, empty status."""
        return [], None, None, ""

