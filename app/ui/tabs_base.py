"""Tabs of the Base model: speech continuation and few-shot speech-to-speech."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..convert import MAX_EXAMPLE_ROWS, example_names
from ..presets import asset
from .widgets import (api_outputs, audio_input, audio_outputs, examples, run_stop, sampler_panel,
                      wire_task)


def continuation_tab(h: Any) -> None:
    gr.Markdown("Continue a speech recording in the same voice and style (Base model).")
    with gr.Row():
        with gr.Column():
            audio = audio_input("Speech to continue", elem_id="continue-audio")
            duration = gr.Slider(1, 60, value=10, step=1, label="Continue for (seconds)")
            sampler = sampler_panel("continue")
            run, stop = run_stop("Continue")
        with gr.Column():
            out = audio_outputs("continue", h.stream_audio, text_label="Text stream (mostly empty for speech)")
    examples([[asset("speech_fox.flac"), 8], [asset("speech_weather.flac"), 12]], [audio, duration])
    wire_task(h, "continue", run=run, stop=stop, inputs=dict(audio=audio, duration_s=duration, **sampler),
              outputs=out.updates(), api_outputs=api_outputs("continue"))


def few_shot_tab(h: Any) -> None:
    gr.Markdown("Show the model a few input -> output pairs and it does the same to your audio "
                "(Base model). Pick a preset or bring your own pairs.")
    presets = h.presets
    choices = [(p.label, key) for key, p in presets.items()]
    first = next(iter(presets.values()), None)
    with gr.Row():
        preset = gr.Dropdown(choices=choices, value=first.key if first else None,
                             label="Preset", interactive=True)
        count = gr.Slider(1, MAX_EXAMPLE_ROWS, step=1, value=len(first.examples) if first else 1,
                          label="Example pairs in use")
        add = gr.Button("Add example", size="sm")
        remove = gr.Button("Remove example", size="sm")
    instruction = gr.Textbox(label="Instruction", value=first.instruction if first else "",
                             lines=1)
    guidance = gr.Markdown(first.guidance if first else "")
    rows, cells = [], {}                      # cells by input name (app.convert.example_names)
    for i in range(MAX_EXAMPLE_ROWS):
        ex = first.examples[i] if first and i < len(first.examples) else (None, None, "")
        with gr.Row(visible=bool(first) and i < len(first.examples) or (not first and i == 0)) as row:
            src, dst, transcript = example_names(i)
            cells[src] = audio_input(f"Example {i + 1}: input", value=ex[0])
            cells[dst] = audio_input(f"Example {i + 1}: output", value=ex[1])
            cells[transcript] = gr.Textbox(label=f"Example {i + 1}: transcript of the output",
                                           value=ex[2], lines=2)
        rows.append(row)
    with gr.Row():
        with gr.Column():
            query = audio_input("Your input audio", value=first.query if first else None)
            sampler = sampler_panel("s2s")
            run, stop = run_stop("Convert")
        with gr.Column():
            out = audio_outputs("s2s", h.stream_audio, text_label="Transcript of the output")

    def show_rows(n: Any) -> list:
        n = int(n or 1)
        return [gr.update(visible=i < n) for i in range(MAX_EXAMPLE_ROWS)]

    count.change(show_rows, count, rows, api_visibility="private", queue=False)
    add.click(lambda n: min(int(n or 1) + 1, MAX_EXAMPLE_ROWS), count, count,
              api_visibility="private", queue=False)
    remove.click(lambda n: max(int(n or 1) - 1, 1), count, count,
                 api_visibility="private", queue=False)
    preset.change(h.preset_values, preset, [instruction, guidance, count, *cells.values(), query],
                  api_name="s2s_preset", queue=False)
    wire_task(h, "s2s", run=run, stop=stop,
              inputs=dict(audio=query, instruction=instruction, n_examples=count, **cells, **sampler),
              outputs=out.updates(), api_outputs=api_outputs("s2s"))
