"""Single-turn tabs of the Instruct model: text-to-speech, ASR and audio understanding."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..convert import ASR_LANGUAGES, TTS_MODES
from ..presets import asset
from .widgets import (api_outputs, audio_input, audio_outputs, examples, run_stop, sampler_panel,
                      text_outputs, wire_task)

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
            out = audio_outputs("tts", h.stream_audio, text_label="Text")

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
    wire_task(h, "tts", run=run, stop=stop,
              inputs=dict(text=text, mode=mode, instruct=instruct, voice_prompt=voice, **sampler),
              outputs=out.updates(), api_outputs=api_outputs("tts"), submit=text)


def asr_tab(h: Any) -> None:
    with gr.Row():
        with gr.Column():
            audio = audio_input("Speech to transcribe")
            language = gr.Dropdown(list(ASR_LANGUAGES), value="auto / English", label="Language")
            sampler = sampler_panel("asr")
            run, stop = run_stop("Transcribe")
        with gr.Column():
            outputs = text_outputs("asr", "Transcript")
    examples([[asset("speech_fox.flac"), "English"], [asset("speech_weather.flac"), "auto / English"],
              [asset("translate_out_1.flac"), "Chinese"]], [audio, language])
    wire_task(h, "asr", run=run, stop=stop, inputs=dict(audio=audio, language=language, **sampler), outputs=outputs,
              api_outputs=api_outputs("asr"))


def understanding_tab(h: Any) -> None:
    with gr.Row():
        with gr.Column():
            audio = audio_input("Audio")
            question = gr.Textbox(label="Question about the audio", lines=2)
            thinking = gr.Checkbox(label="Let the model think first", value=False)
            sampler = sampler_panel("understand")
            run, stop = run_stop("Ask")
        with gr.Column():
            outputs = text_outputs("understand", "Answer")
    examples([
        [asset("speech_weather.flac"), "What will the weather be like tomorrow evening?", False],
        [asset("question_story.flac"), "Is the speaker male or female? What do they ask for?", True],
    ], [audio, question, thinking])
    wire_task(h, "understand", run=run, stop=stop,
              inputs=dict(audio=audio, question=question, thinking=thinking, **sampler),
              outputs=outputs, api_outputs=api_outputs("understand"), submit=question)
