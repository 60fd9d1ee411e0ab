"""Building blocks every tab shares: audio inputs, the advanced-settings panel, the output
players, Run/Stop buttons, and the wiring of a task's UI stream and API endpoint."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import gradio as gr

from mimo_core.tasks.registry import TASKS     # task sampler defaults and lengths, to label the fields

from ..convert import input_names
from ..inputs import SAMPLER_FIELDS

MODEL_QUEUE = "model"                      # concurrency group of every event that runs the model


def audio_input(label: str, **kwargs: Any) -> gr.Audio:
    """An audio input taking an upload or a microphone recording, passed on as a file path."""
    return gr.Audio(sources=["upload", "microphone"], type="filepath", label=label, **kwargs)


def _default_hint(task: str, side: str, field: str) -> str:
    d = TASKS[task]
    sampling = d.text if side == "text" else d.audio
    if sampling.greedy:
        return "task default: greedy"
    return f"task default: {getattr(sampling, field):g}"


def _optional_number(label: str, value: Any = None, **kwargs: Any) -> gr.Textbox:
    """A number field that may stay empty (gr.Number sends 0 for an empty field, which would
    turn "random seed" into seed 0 and "task default" into temperature 0)."""
    return gr.Textbox(label=label, value="" if value is None else str(value), max_lines=1,
                      placeholder="empty", **kwargs)


def sampler_panel(task: str) -> list[gr.components.Component]:
    """The collapsed advanced-settings panel; values in ``SAMPLER_FIELDS`` order."""
    with gr.Accordion("Advanced settings (sampling, seed, length)", open=False):
        with gr.Row():
            greedy = gr.Checkbox(label="Greedy (no sampling)", value=False)
            seed = _optional_number("Seed (empty = random)")
        with gr.Row():
            min_s = _optional_number("Minimum length, seconds (empty = task default)")
            max_s = _optional_number("Maximum length, seconds (empty = until the model stops)",
                                     TASKS[task].ui_max_seconds)
        with gr.Row():
            t_temp = _optional_number(f"Text temperature ({_default_hint(task, 'text', 'temperature')})")
            t_top_p = _optional_number(f"Text top-p ({_default_hint(task, 'text', 'top_p')})")
        with gr.Row(visible=TASKS[task].speaks):
            a_temp = _optional_number(f"Audio temperature ({_default_hint(task, 'audio', 'temperature')})")
            a_top_p = _optional_number(f"Audio top-p ({_default_hint(task, 'audio', 'top_p')})")
    fields = [greedy, seed, min_s, max_s, t_temp, t_top_p, a_temp, a_top_p]
    assert len(fields) == len(SAMPLER_FIELDS)
    return fields


def thinking_box(visible: bool = True) -> gr.Textbox:
    """The model's reasoning, apart from the answer, in a collapsed "Thinking" panel."""
    with gr.Accordion("Thinking", open=False, visible=visible, elem_classes=["thinking-panel"]):
        return gr.Textbox(show_label=False, lines=4, interactive=False, elem_classes=["out-thinking"])


@dataclass
class AudioOutputs:
    live: gr.Audio            # plays chunks while the model generates
    full: gr.Audio            # the whole result, downloadable, set at the end
    text: gr.Textbox
    thinking: gr.Textbox      # the reasoning (tasks that may think)
    status: gr.Markdown

    def updates(self) -> list:
        """In :class:`app.handler_base.AudioUpdate` order."""
        return [self.live, self.text, self.thinking, self.full, self.status]


def audio_outputs(task: str, stream_audio: bool, text_label: str = "Text") -> AudioOutputs:
    live = gr.Audio(label="Live (plays while generating)", streaming=stream_audio, autoplay=True,
                    interactive=False, visible=stream_audio, elem_classes=["live-audio"])
    full = gr.Audio(label="Full audio (download)", type="filepath", interactive=False,
                    buttons=["download"], elem_classes=["full-audio"])
    thinking = thinking_box(TASKS[task].thinks)
    text = gr.Textbox(label=text_label, lines=3, interactive=False, elem_classes=["out-text"])
    status = gr.Markdown(elem_classes=["run-status"])
    return AudioOutputs(live, full, text, thinking, status)


def text_outputs(task: str, label: str) -> list:
    """Answer, reasoning and status of a text task, in :class:`app.handler_base.TextUpdate` order."""
    thinking = thinking_box(TASKS[task].thinks)
    text = gr.Textbox(label=label, lines=6, interactive=False, elem_classes=["out-text"])
    return [text, thinking, gr.Markdown(elem_classes=["run-status"])]


def api_outputs(task: str) -> list:
    """Hidden outputs of the one-shot endpoint ``/<task>``: (audio,) text, (reasoning,)
    (conversation state is added by the caller)."""
    spec = TASKS[task]
    out = [gr.Audio(visible=False, type="filepath", label="audio")] if spec.speaks else []
    out.append(gr.Textbox(visible=False, label="text"))
    if spec.thinks:
        out.append(gr.Textbox(visible=False, label="thinking"))
    return out


def run_stop(run_label: str = "Run") -> tuple[gr.Button, gr.Button]:
    with gr.Row():
        run = gr.Button(run_label, variant="primary", elem_classes=["run-btn"])
        stop = gr.Button("Stop", variant="stop", elem_classes=["stop-btn"])
    return run, stop


def named(fn: Callable, names: Sequence[str]) -> Callable:
    """``fn(request, **values)`` as gradio calls it, ``call(request, *values)``, with a signature
    naming each value, so the HTTP API and gradio_client show (and accept) ``text=``,
    ``seed=``... instead of ``param_3``."""
    names = list(names)
    if inspect.isgeneratorfunction(fn) or inspect.isgeneratorfunction(getattr(fn, "__wrapped__", None)):
        def call(request: Any = None, *values: Any) -> Any:
            yield from fn(request, **dict(zip(names, values)))
    else:
        def call(request: Any = None, *values: Any) -> Any:
            return fn(request, **dict(zip(names, values)))
    call.__name__ = getattr(fn, "__name__", "call")
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("request", kind, annotation=gr.Request)]
    params += [inspect.Parameter(name, kind) for name in names]
    call.__signature__ = inspect.Signature(params)
    call.__annotations__ = {"request": gr.Request}
    return call


def wire_task(h: Any, task: str, *, run: gr.Button, stop: gr.Button, inputs: Sequence[Any],
              outputs: Sequence[Any], api_outputs: Sequence[Any], submit: Optional[Any] = None) -> None:
    """Run -> the streaming UI event (``/<task>_stream``); Stop -> cancel it; plus a hidden
    one-shot endpoint ``/<task>`` returning the final result, for gradio_client.

    ``inputs``: one widget per name of :func:`app.convert.input_names` (the conversation state
    included), then the sampler fields."""
    names = [*input_names(task), *SAMPLER_FIELDS]
    if len(names) != len(inputs):
        raise ValueError(f"{task}: {len(inputs)} inputs but {len(names)} names")
    triggers = [run.click] + ([submit.submit] if submit is not None else [])
    gr.on(triggers, named(h.stream(task), names), inputs=list(inputs), outputs=list(outputs),
          api_name=f"{task}_stream", concurrency_id=MODEL_QUEUE, show_progress="minimal")
    stop.click(h.stop(task), inputs=None, outputs=None, queue=False, api_name=f"{task}_stop")
    api_button = gr.Button(visible=False)
    api_button.click(named(h.api(task), names), inputs=list(inputs), outputs=list(api_outputs),
                     api_name=task, concurrency_id=MODEL_QUEUE)


def examples(rows: list[list[Any]], inputs: Sequence[Any]) -> None:
    """Clickable example rows (audio from assets/); never run ahead of time."""
    gr.Examples(examples=rows, inputs=list(inputs), label="Examples", cache_examples=False)
