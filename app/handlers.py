"""The web app's task functions: widget values in, typed requests to the model, UI values out.

:class:`Handlers` is what ``build_app`` receives. Each task has two functions:

* ``<task>_stream(request, ...)``: a generator for the UI that yields as the model generates
  (audio chunks for the streaming player, the text so far, a status line) and, at the end,
  the full audio as a downloadable file;
* ``<task>_api(request, ...)``: one call, the final result (the named HTTP endpoint).

The first parameter is the ``gr.Request`` (gradio fills it; tests may pass None); the widget
values follow in the order the UI lists them, the advanced sampler settings last
(:data:`app.inputs.SAMPLER_FIELDS`). Dialogue tasks live in :mod:`app.conversation`.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from mimo_core.errors import PromptError
from mimo_core.tasks.limits import Limits, check_duration
from mimo_core.tasks.types import (ASRRequest, ContinueRequest, FewShotExample, S2SRequest,
                                   TTSRequest, UnderstandRequest)

from .conversation import ConversationHandlers
from .handler_base import HandlerBase, user_errors
from .inputs import options_from, read_audio, read_text
from .presets import Preset, load_presets

MAX_EXAMPLE_ROWS = 4          # few-shot example pairs the UI can show
TTS_MODES = ("plain", "style instruction", "voice prompt", "natural instruction")
ASR_LANGUAGES = {"auto / English": None, "English": "en", "Chinese": "zh"}


class Handlers(ConversationHandlers, HandlerBase):
    """Task functions for the UI and the HTTP API, over one model backend.

    ``backend``: an object with the ``MimoAudio`` API (see :mod:`app.backend`);
    ``banner``: a warning shown on top of the UI (the tiny model's); ``stream_audio``: False
    when the live player cannot work (no ffmpeg); ``presets``: few-shot presets by key.
    """

    def __init__(self, backend: Any, *, limits: Optional[Limits] = None,
                 banner: Optional[str] = None, stream_audio: bool = True,
                 presets: Optional[dict[str, Preset]] = None):
        super().__init__(backend, limits=limits, banner=banner, stream_audio=stream_audio)
        self.presets = load_presets() if presets is None else presets

    # -- request builders (shared by the stream and API functions) ---------------------
    def continue_request(self, audio: Any, duration: Any, *sampler: Any) -> ContinueRequest:
        return ContinueRequest(audio=read_audio(audio, "the audio to continue", self.limits),
                               duration_s=check_duration(duration, self.limits),
                               options=options_from(sampler))

    def s2s_request(self, audio: Any, instruction: Any, n_examples: Any, *rest: Any) -> S2SRequest:
        """``rest``: MAX_EXAMPLE_ROWS x (input audio, output audio, transcript), then sampler."""
        cells, sampler = rest[:3 * MAX_EXAMPLE_ROWS], rest[3 * MAX_EXAMPLE_ROWS:]
        try:
            shown = int(n_examples)
        except (TypeError, ValueError):
            raise PromptError(f"number of examples must be a whole number, got {n_examples!r}") from None
        if not 1 <= shown <= MAX_EXAMPLE_ROWS:
            raise PromptError(f"use between 1 and {MAX_EXAMPLE_ROWS} example pairs, got {shown}")
        examples = []
        for i in range(shown):
            src, dst, transcript = cells[3 * i: 3 * i + 3]
            name = f"example {i + 1}"
            examples.append(FewShotExample(
                input_audio=read_audio(src, f"{name}'s input audio", self.limits),
                output_audio=read_audio(dst, f"{name}'s output audio", self.limits),
                transcript=read_text(transcript, f"{name}'s transcript", self.limits)))
        return S2SRequest(audio=read_audio(audio, "the input audio", self.limits),
                          instruction=read_text(instruction, "the instruction", self.limits),
                          examples=tuple(examples), options=options_from(sampler))

    def tts_request(self, text: Any, mode: Any, instruct: Any, voice: Any, *sampler: Any) -> TTSRequest:
        if mode not in TTS_MODES:
            raise PromptError(f"unknown TTS mode {mode!r}; choose one of: {', '.join(TTS_MODES)}")
        what = "the text (with its style written in it)" if mode == "natural instruction" else "the text"
        body = read_text(text, what, self.limits)
        style = None
        if mode in ("style instruction", "voice prompt"):
            style = read_text(instruct, "the style instruction", self.limits,
                              required=(mode == "style instruction")) or None
        prompt = (read_audio(voice, "the voice prompt", self.limits) if mode == "voice prompt" else None)
        return TTSRequest(text=body, instruct=style, voice_prompt=prompt,
                          natural=(mode == "natural instruction"), options=options_from(sampler))

    def asr_request(self, audio: Any, language: Any, *sampler: Any) -> ASRRequest:
        if language not in ASR_LANGUAGES:
            raise PromptError(f"unknown language {language!r}; choose one of: {', '.join(ASR_LANGUAGES)}")
        return ASRRequest(audio=read_audio(audio, "the audio to transcribe", self.limits),
                          language=ASR_LANGUAGES[language], options=options_from(sampler))

    def understand_request(self, audio: Any, question: Any, thinking: Any, *sampler: Any
                           ) -> UnderstandRequest:
        return UnderstandRequest(audio=read_audio(audio, "the audio", self.limits),
                                 question=read_text(question, "the question", self.limits),
                                 thinking=bool(thinking), options=options_from(sampler))

    # -- single-turn tasks: UI streams and API calls ------------------------------------
    @user_errors
    def continue_stream(self, request: gr.Request, *values: Any) -> Iterator[tuple]:
        yield from self._audio_stream(request, "continue", self.continue_request(*values))

    @user_errors
    def continue_api(self, request: gr.Request, *values: Any) -> tuple:
        return self._audio_out(self.backend.run(self.continue_request(*values)))

    @user_errors
    def s2s_stream(self, request: gr.Request, *values: Any) -> Iterator[tuple]:
        yield from self._audio_stream(request, "s2s", self.s2s_request(*values))

    @user_errors
    def s2s_api(self, request: gr.Request, *values: Any) -> tuple:
        return self._audio_out(self.backend.run(self.s2s_request(*values)))

    @user_errors
    def tts_stream(self, request: gr.Request, *values: Any) -> Iterator[tuple]:
        yield from self._audio_stream(request, "tts", self.tts_request(*values))

    @user_errors
    def tts_api(self, request: gr.Request, *values: Any) -> tuple:
        return self._audio_out(self.backend.run(self.tts_request(*values)))

    @user_errors
    def asr_stream(self, request: gr.Request, *values: Any) -> Iterator[tuple]:
        yield from self._text_stream(request, "asr", self.asr_request(*values))

    @user_errors
    def asr_api(self, request: gr.Request, *values: Any) -> str:
        return self.backend.run(self.asr_request(*values)).text

    @user_errors
    def understand_stream(self, request: gr.Request, *values: Any) -> Iterator[tuple]:
        yield from self._text_stream(request, "understand", self.understand_request(*values))

    @user_errors
    def understand_api(self, request: gr.Request, *values: Any) -> str:
        return self.backend.run(self.understand_request(*values)).text

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

