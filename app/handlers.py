"""The web app's task functions: widget values by name in, typed requests to the model, named
UI values out.

:class:`Handlers` is what ``build_app`` receives. For every task of the registry
(``mimo_core.tasks.registry.TASKS``) it offers

* ``stream(task)``: a generator function for the UI that yields as the model generates
  (:class:`~app.handler_base.AudioUpdate`, :class:`~app.handler_base.TextUpdate` or, for
  conversations, :class:`~app.conversation.TurnUpdate`), the full audio file at the end;
* ``api(task)``: one call, the final result (the named HTTP endpoint ``/<task>``).

Both take the ``gr.Request`` first (gradio fills it; tests pass None) and then the inputs by
name (``app.convert.input_names(task)`` plus the advanced settings ``SAMPLER_FIELDS``), e.g.
``h.api("tts")(None, text="Hello", mode="plain")``. Omitted inputs take their defaults.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import gradio as gr

from mimo_core.errors import PromptError
from mimo_core.tasks.backend import Backend
from mimo_core.tasks.registry import task_spec

from .conversation import ConversationHandlers
from .convert import MAX_EXAMPLE_ROWS, to_request
from .handler_base import HandlerBase, user_errors
from .inputs import audio_file
from .presets import Preset, load_presets

__all__ = ["Handlers", "MAX_EXAMPLE_ROWS"]


class Handlers(ConversationHandlers, HandlerBase):
    """Task functions for the UI and the HTTP API, over one model backend.

    ``backend``: an object with the ``MimoAudio`` API (see :mod:`app.backend`);
    ``banner``: a warning shown on top of the UI (the tiny model's); ``stream_audio``: False
    when the live player cannot work (no ffmpeg); ``presets``: few-shot presets by key.
    """

    def __init__(self, backend: Backend, *, banner: Optional[str] = None, stream_audio: bool = True,
                 presets: Optional[dict[str, Preset]] = None):
        super().__init__(backend, banner=banner, stream_audio=stream_audio)
        self.presets = load_presets() if presets is None else presets

    def request(self, task: str, values: dict) -> Any:
        """The typed request for ``task`` from widget values by name."""
        return to_request(task, values)

    # -- the UI stream and the one-shot API call of every task ---------------------------
    def stream(self, task: str) -> Callable[..., Iterator[tuple]]:
        spec = task_spec(task)
        if spec.conversation:
            return self.turn_stream(task)

        @user_errors
        def stream(request: Optional[gr.Request] = None, **values: Any) -> Iterator[tuple]:
            req = self.request(task, values)
            run = self._audio_stream if spec.speaks else self._text_stream
            yield from run(request, task, req)
        stream.__name__ = f"{task}_stream"
        return stream

    def api(self, task: str) -> Callable[..., Any]:
        spec = task_spec(task)
        if spec.conversation:
            return self.turn_api(task)

        @user_errors
        def api(request: Optional[gr.Request] = None, **values: Any) -> Any:
            result = self.backend.run(self.request(task, values))
            text = (result.answer, result.thinking) if spec.thinks else (result.answer,)
            out = (audio_file(result.audio, result.sample_rate), *text) if spec.speaks else text
            return out if len(out) > 1 else out[0]
        api.__name__ = task
        return api

    # -- few-shot presets ---------------------------------------------------------------
    @user_errors
    def preset_values(self, key: Any) -> list:
        """Widget values for a preset: instruction, advice, shown rows, MAX_EXAMPLE_ROWS x (in,
        out, transcript), query audio."""
        preset = self.presets.get(key)
        if preset is None:
            raise PromptError(f"unknown preset {key!r}")
        cells: list = []
        for i in range(MAX_EXAMPLE_ROWS):
            cells.extend(preset.examples[i] if i < len(preset.examples) else (None, None, ""))
        return [preset.instruction, preset.guidance, len(preset.examples), *cells, preset.query]
