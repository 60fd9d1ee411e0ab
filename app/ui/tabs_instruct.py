"""Single-turn tabs of the Instruct model: text-to-speech, ASR and audio understanding."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..handlers import ASR_LANGUAGES, TTS_MODES
from ..presets import asset
from .widgets import (api_audio_text, audio_input, audio_outputs, examples, run_stop,
                      sampler_panel, wire_task)

_TTS_HELP = {
    "plain": "Reads the text aloud.",
    "style instruction": "Reads the text in the style you describe (the model thinks first).",
    "voice prompt": "Reads the text in the voice of the prompt audio (a style is optional).",
    "natural instruction": "Write the style into the text itself, e.g. "
                           "\"Say cheerfully and fast: we won the match!\"",
}


def tts_tab(h: Any) -> None:
    with gr.Row():
        with gr.Column():
            mode = gr.Radio(list(TTS_MODES), value="plain", label="Mode")
            mode_help = gr.Markdown(_TTS_HELP["plain"])
            text = gr.Textbox(label="Text to speak", lines=3, elem_id="tts-text")
            instruct = gr.Textbox(label="Style instruction", value="", lines=1, visible=False,
                                  placeholder="e.g. a calm, slow, deep male voice")
            voice = audio_input("Voice prompt", visible=False)
            sampler = sampler_panel("tts")
            run, stop = run_stop("Speak")
        with gr.Column():
            out = audio_outputs(h.stream_audio, text_label="Text (the model's thinking, if any)")

    def on_mode(m: str) -> list:
        return [gr.update(visible=m in ("style instruction", "voice prompt")),
                gr.update(visible=m == "voice prompt"), _TTS_HELP.get(m, "")]

    mode.change(on_mode, mode, [instruct, voice, mode_help], api_visibility="private", queue=False)
    examples([
        ["Hello! Welcome to MiMo-Audio Studio.", "plain", "", None],
        ["The weather is lovely today.", "style instruction", "whispering, slowly", None],
        ["Nice to meet you, I am your new assistant.", "voice prompt", "",
         asset("voice_prompt_female.flac")],
        ["Say it with great excitement: we finally won the championship!",
         "natural instruction", "", None],
    ], [text, mode, instruct, voice])
    wire_task(name="tts", run=run, stop=stop, stop_fn=h.stop("tts"),
              stream_fn=h.tts_stream, api_fn=h.tts_api,
              inputs=[text, mode, instruct, voice, *sampler],
              names=["text", "mode", "instruct", "voice_prompt"],
              outputs=[out.live, out.text, out.full, out.status], api_outputs=api_audio_text(),
              submit=text)


def _text_outputs(label: str) -> tuple[gr.Textbox, gr.Markdown]:
    return (gr.Textbox(label=label, lines=6, interactive=False, elem_classes=["out-text"]),
            gr.Markdown(elem_classes=["run-status"]))


def asr_tab(h: Any) -> None:
    with gr.Row():
        with gr.Column():
            audio = audio_input("Speech to transcribe")
            language = gr.Dropdown(list(ASR_LANGUAGES), value="auto / English", label="Language")
            sampler = sampler_panel("asr", speaks=False)
            run, stop = run_stop("Transcribe")
        with gr.Column():
            text, status = _text_outputs("Transcript")
    examples([[asset("speech_fox.flac"), "English"], [asset("speech_weather.flac"), "auto / English"],
              [asset("translate_out_1.flac"), "Chinese"]], [audio, language])
    wire_task(name="asr", run=run, stop=stop, stop_fn=h.stop("asr"),
              stream_fn=h.asr_stream, api_fn=h.asr_api, inputs=[audio, language, *sampler],
              names=["audio", "language"], outputs=[text, status],
              api_outputs=[gr.Textbox(visible=False, label="transcript")])


def understanding_tab(h: Any) -> None:
    with gr.Row():
        with gr.Column():
            audio = audio_input("Audio")
            question = gr.Textbox(label="Question about the audio", lines=2)
            thinking = gr.Checkbox(label="Let the model think first", value=False)
            sampler = sampler_panel("understand", speaks=False)
            run, stop = run_stop("Ask")
        with gr.Column():
            text, status = _text_outputs("Answer")
    examples([
        [asset("speech_weather.flac"), "What will the weather be like tomorrow evening?", False],
        [asset("question_story.flac"), "Is the speaker male or female? What do they ask for?", True],
    ], [audio, question, thinking])
    wire_task(name="understand", run=run, stop=stop, stop_fn=h.stop("understand"),
              stream_fn=h.understand_stream, api_fn=h.understand_api,
              inputs=[audio, question, thinking, *sampler], names=["audio", "question", "thinking"],
              outputs=[text, status], api_outputs=[gr.Textbox(visible=False, label="answer")],
              submit=question)
