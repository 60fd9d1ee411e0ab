"""Shared machinery of the web handlers: error toasts, per-session cancellation, streaming.

:class:`HandlerBase` holds a *backend* with the ``MimoAudio`` API (``run``, ``stream``,
``status``, ``load``, ``unload``) — in production the ``MimoAudio`` facade (see
:mod:`app.backend`), in tests a fake — and never touches torch itself. It turns the backend's
``StreamEvent`` s into UI values, lets a Stop button cancel one session's run, and backs the
Model tab. User mistakes become ``gr.Error`` toasts with one readable line; the app keeps
serving.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import threading
from typing import Any, Callable, Iterator, Optional

import gradio as gr
import numpy as np

from mimo_core.errors import MimoError
from mimo_core.tasks.backend import Backend
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.types import TaskResult

from .inputs import audio_file, wav_bytes
from .updates import UiUpdate

log = logging.getLogger(__name__)

CANCELLED = "cancelled"         # TaskResult.stop_reason of a run stopped by its cancel event

def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def to_gr_error(exc: BaseException) -> gr.Error:
    """A readable one-line toast for any exception (user errors verbatim, others named)."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, MimoError):
        message = _one_line(str(exc)) or type(exc).__name__
    else:
        log.error("unexpected error in a task handler", exc_info=exc)
        message = f"internal error ({type(exc).__name__}: {_one_line(str(exc))}); see the server log"
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def user_errors(fn: Callable) -> Callable:
    """Turn any exception raised by a handler (or its generator) into :func:`to_gr_error`."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except GeneratorExit:
                raise
            except Exception as exc:  # noqa: BLE001
                raise to_gr_error(exc) from exc
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise to_gr_error(exc) from exc
    return wrapper


def session_key(request: Optional[gr.Request]) -> str:
    """The browser session a call belongs to ("" outside gradio, e.g. in tests)."""
    return getattr(request, "session_hash", None) or ""


class AudioUpdate(UiUpdate):
    """What an audio task's UI shows: the live chunk, the answer text, the reasoning, the whole
    audio file, the status line."""

    live: Any
    text: Any
    thinking: Any
    full: Any
    status: Any


class TextUpdate(UiUpdate):
    """What a text task's UI shows: the answer, the reasoning, the status line."""

    text: Any
    thinking: Any
    status: Any


class StreamState:
    """What one streaming call has produced so far (the backend's last event carries the
    result: full text and audio). ``thinking`` and ``answer`` are what people see, as the
    backend split them (no markup); the UI shows those, never ``text``."""

    def __init__(self) -> None:
        self.text = ""                    # the exact text (markup included), for the record
        self.thinking = ""
        self.answer = ""
        self.result: Optional[TaskResult] = None
        self.groups_done = 0
        self.max_groups = 0
        self.stop_requested = False

    @property
    def thinking_and_answer(self) -> tuple[str, str]:
        """(reasoning, answer) so far."""
        return self.thinking, self.answer

    @property
    def stopped(self) -> bool:
        """Stopped: Stop was pressed before the result arrived, or a "cancelled" result (or,
        defensively, none at all)."""
        return self.stop_requested or self.result is None or self.result.stop_reason == CANCELLED

    def audio_file(self) -> Optional[str]:
        """The whole output audio as a WAV file (None without audio)."""
        return None if self.result is None else audio_file(self.result.audio, self.result.sample_rate)

    def progress(self) -> str:
        if self.max_groups:
            return f"Generating... {self.groups_done}/{self.max_groups} positions"
        return "Generating..."

    def summary(self) -> str:
        """The status line once the stream has ended."""
        if self.stopped:
            return "Stopped."
        result = self.result
        parts = [f"Done: {result.new_groups} positions generated"]
        if result.audio is not None:
            parts.append(f"{result.audio.size / result.sample_rate:.2f} s of audio")
        parts.append(f"stop reason: {result.stop_reason}")
        return ", ".join(parts) + "."


class HandlerBase:
    """Cancellation, streaming and the Model tab, over one model backend."""

    def __init__(self, backend: Backend, *, banner: Optional[str] = None, stream_audio: bool = True):
        self.backend = backend
        self.banner = banner                  # shown on top of the UI (the tiny-model warning)
        self.stream_audio = stream_audio      # False when ffmpeg is missing: no live player
        self._cancels: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()

    @property
    def limits(self) -> Limits:
        """What the backend accepts (it checks every request; the UI only converts)."""
        return self.backend.limits

    # -- cancellation ------------------------------------------------------------------
    def _new_cancel(self, request: Optional[gr.Request], task: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            old = self._cancels.get((session_key(request), task))
            if old is not None:
                old.set()                     # a new run in the same tab replaces the old one
            self._cancels[(session_key(request), task)] = event
        return event

    def stop(self, task: str) -> Callable:
        """The Stop button's function for ``task``: cancels this session's run of it."""
        def stop_task(request: gr.Request) -> None:
            with self._lock:
                event = self._cancels.get((session_key(request), task))
            if event is not None:
                event.set()
        stop_task.__name__ = f"stop_{task}"
        return stop_task

    # -- streaming core ----------------------------------------------------------------
    def _events(self, request: Optional[gr.Request], task: str, req: Any
                ) -> Iterator[tuple[StreamState, Optional[np.ndarray]]]:
        """Drive ``backend.stream``; yield (state so far, new audio chunk or None)."""
        cancel = self._new_cancel(request, task)
        state = StreamState()
        try:
            for event in self.backend.stream(req, cancel=cancel):
                state.text += event.text_delta
                state.thinking += event.thinking_delta
                state.answer += event.answer_delta
                state.groups_done, state.max_groups = event.groups_done, event.max_groups
                chunk = event.audio_chunk
                if chunk is not None and not np.size(chunk):
                    chunk = None
                if event.result is not None:
                    state.result = result = event.result
                    state.text, state.thinking, state.answer = result.text, result.thinking, result.answer
                    # Stop pressed while the reply was still on its way (the model may have
                    # finished it already): the user stopped it
                    state.stop_requested = cancel.is_set()
                yield state, chunk          # after a Stop the backend ends at its next step
        finally:
            with self._lock:
                if self._cancels.get((session_key(request), task)) is cancel:
                    del self._cancels[(session_key(request), task)]

    def _audio_stream(self, request: Optional[gr.Request], task: str, req: Any) -> Iterator[AudioUpdate]:
        """UI values while an audio task runs (see :class:`AudioUpdate`)."""
        yield AudioUpdate(live=None, text="", thinking="", full=None, status="Waiting for the model...")
        state = StreamState()
        for state, chunk in self._events(request, task, req):
            live = wav_bytes(chunk) if (chunk is not None and self.stream_audio) else None
            thinking, answer = state.thinking_and_answer
            yield AudioUpdate(live=live, text=answer, thinking=thinking, status=state.progress())
        thinking, answer = state.thinking_and_answer
        yield AudioUpdate(live=None, text=answer, thinking=thinking, full=state.audio_file(),
                          status=state.summary())

    def _text_stream(self, request: Optional[gr.Request], task: str, req: Any) -> Iterator[TextUpdate]:
        """UI values while a text task runs (see :class:`TextUpdate`)."""
        yield TextUpdate(text="", thinking="", status="Waiting for the model...")
        state = StreamState()
        for state, _ in self._events(request, task, req):
            thinking, answer = state.thinking_and_answer
            yield TextUpdate(text=answer, thinking=thinking, status=state.progress())
        thinking, answer = state.thinking_and_answer
        yield TextUpdate(text=answer, thinking=thinking, status=state.summary())

    # -- the Model tab -------------------------------------------------------------------
    @user_errors
    def model_status(self, request: gr.Request) -> str:
        return status_markdown(self.backend.status())

    def model_action(self, action: str, role: str) -> Callable:
        """A button function that loads or unloads ``role`` and returns the new status."""
        @user_errors
        def act(request: gr.Request) -> str:
            getattr(self.backend, action)(role)
            return status_markdown(self.backend.status())
        act.__name__ = f"{action}_{role}"
        return act


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    return html.escape(str(value)).replace("|", "\\|")


def _flatten(info: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in info.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name} / ")
        else:
            yield name, value


def status_markdown(info: dict) -> str:
    """The backend's status dict as a two-column table (nested dicts become "a / b" rows)."""
    rows = ["| what | value |", "|---|---|"]
    rows += [f"| {html.escape(name)} | {_cell(value)} |" for name, value in _flatten(info)]
    return "\n".join(rows)
