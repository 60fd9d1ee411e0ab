"""Chat messages -> one MiMo task request.

What the messages hold picks the task (the last message must be the user's):

* audio out (``modalities`` has "audio"): the user turn must be speech -> spoken dialogue;
* text out, the user turn has speech and a text question -> audio understanding (one turn);
* text out, speech only -> speech-to-text dialogue;
* text only -> text chat.

Earlier messages become the ``Conversation``'s display turns (the facade rebuilds a
multi-turn prompt from them). A system message's text is the spoken-dialogue system prompt;
an audio part in it is the voice prompt (as vLLM-Omni does). Assistant turns give their
text; one that spoke names its audio by ``audio: {"id"}``, kept in :class:`AudioCache`, or
(our extension, used by remote clients) carries it as an ``input_audio`` part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from mimo_core.tasks import (ChatRequest, Conversation, DialogueRequest, GenerationOptions,
                             S2TRequest, Turn, UnderstandRequest)

from .audio import audio_part_bytes
from .audio_cache import AudioCache
from .errors import bad_request

AUDIO_PARTS = ("input_audio", "audio_url")
SYSTEM_ROLES = ("system", "developer")


@dataclass
class Message:
    """One message's usable content."""

    role: str
    text: str = ""
    audio: Optional[Any] = None            # bytes of an uploaded clip, or a cached 24 kHz array


def read_messages(raw: object, cache: AudioCache) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages must be a non-empty list", param="messages")
    return [_message(m, n, cache) for n, m in enumerate(raw)]


def _message(raw: object, n: int, cache: AudioCache) -> Message:
    param = f"messages[{n}]"
    if not isinstance(raw, dict):
        raise bad_request(f"{param} must be an object", param=param)
    role = raw.get("role")
    if role not in ("user", "assistant", *SYSTEM_ROLES):
        raise bad_request(f"{param}.role {role!r} is not supported (user, assistant, system, developer)",
                          param=f"{param}.role")
    msg = Message(role)
    content = raw.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            where = f"{param}.content[{k}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in AUDIO_PARTS:                   # an assistant's: our extension
                if msg.audio is not None:
                    raise bad_request(f"{param} has more than one audio part; send one clip per message",
                                      param=where)
                msg.audio = audio_part_bytes(part, where)
            else:
                raise bad_request(f"{where}: unsupported content part {kind!r} for a {role} message",
                                  param=where)
    elif content is not None:
        raise bad_request(f"{param}.content must be a string or a list of parts", param=f"{param}.content")
    msg.text = "\n".join(t for t in texts if t)
    if role == "assistant" and raw.get("audio") is not None:
        ref = raw["audio"]
        audio_id = ref.get("id") if isinstance(ref, dict) else None
        entry = cache.get(audio_id) if isinstance(audio_id, str) else None
        if entry is None:
            raise bad_request(f"{param}.audio.id {audio_id!r} is unknown or expired; replies' audio "
                              f"is kept {cache.ttl_s} s", param=f"{param}.audio")
        msg.audio, msg.text = entry.audio, msg.text or entry.transcript
    return msg


def build_request(messages: list[Message], *, wants_audio: bool, thinking: bool,
                  voice_prompt: Optional[Any], options: GenerationOptions):
    """The task request for these messages (see the module docstring)."""
    system = [m for m in messages if m.role in SYSTEM_ROLES]
    dialog = [m for m in messages if m.role not in SYSTEM_ROLES]
    if not dialog or dialog[-1].role != "user":
        raise bad_request("the last message must be the user's", param="messages")
    *history, user = dialog
    system_text = "\n".join(m.text for m in system if m.text) or None
    system_voice = next((m.audio for m in system if m.audio is not None), None)
    if wants_audio:
        if user.audio is None:
            raise bad_request("audio output needs the user's message to be speech (spoken dialogue); "
                              "for text to speech use POST /v1/audio/speech", param="modalities")
        if thinking:
            raise bad_request("thinking is not available for spoken dialogue", param="thinking")
        return DialogueRequest(audio=user.audio, conversation=_conversation("dialogue", history),
                               voice_prompt=system_voice if system_voice is not None else voice_prompt,
                               system_prompt=system_text, options=options)
    if user.audio is not None and user.text.strip():
        if history:
            raise bad_request("audio understanding (speech plus a text question) is single-turn; "
                              "send only the question's message", param="messages")
        return UnderstandRequest(audio=user.audio, question=user.text, thinking=thinking, options=options)
    if user.audio is not None:
        return S2TRequest(audio=user.audio, conversation=_conversation("s2t", history),
                          thinking=thinking, options=options)
    return ChatRequest(text=user.text, conversation=_conversation("chat", history), thinking=thinking,
                       options=options)


def _conversation(task: str, history: list[Message]) -> Optional[Conversation]:
    if not history:
        return None
    turns = tuple(Turn(role=m.role, text=m.text, audio=m.audio) for m in history)
    return Conversation(task=task, turns=turns)
