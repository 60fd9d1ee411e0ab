"""Building blocks every tab shares: audio inputs, the advanced-settings panel, the output
players, Run/Stop buttons, and the wiring of a task's UI stream and API endpoint."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import gradio as gr

from mimo_core.tasks.registry import TASKS     # task sampler defaults and lengths, to label the fields

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


def sampler_panel(task: str, *, speaks: bool = True) -> list[gr.components.Component]:
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
        with gr.Row(visible=speaks):
            a_temp = _optional_number(f"Audio temperature ({_default_hint(task, 'audio', 'temperature')})")
            a_top_p = _optional_number(f"Audio top-p ({_default_hint(task, 'audio', 'top_p')})")
    fields = [greedy, seed, min_s, max_s, t_temp, t_top_p, a_temp, a_top_p]
    assert len(fields) == len(SAMPLER_FIELDS)
    return fields


@dataclass
class AudioOutputs:
    live: gr.Audio            # plays chunks while the model generates
    full: gr.Audio            # the whole result, downloadable, set at the end
    text: gr.Textbox
    status: gr.Markdown


def audio_outputs(stream_audio: bool, text_label: str = "Text") -> AudioOutputs:
    live = gr.Audio(label="Live (plays while generating)", streaming=stream_audio, autoplay=True,
                    interactive=False, visible=stream_audio, elem_classes=["live-audio"])
    full = gr.Audio(label="Full audio (download)", type="filepath", interactive=False,
                    buttons=["download"], elem_classes=["full-audio"])
    text = gr.Textbox(label=text_label, lines=3, interactive=False, elem_classes=["out-text"])
    status = gr.Markdown(elem_classes=["run-status"])
    return AudioOutputs(live, full, text, status)


def run_stop(run_label: str = "Run") -> tuple[gr.Button, gr.Button]:
    with gr.Row():
        run = gr.Button(run_label, variant="primary", elem_classes=["run-btn"])
        stop = gr.Button("Stop", variant="stop", elem_classes=["stop-btn"])
    return run, stop


def named(fn: Callable, names: Sequence[str]) -> Callable:
    """``fn(request, *values)`` with a signature naming each value, so the HTTP API and
    gradio_client show (and accept) ``text=``, ``seed=``... instead of ``param_3``."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            yield from fn(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("request", kind, annotation=gr.Request)]
    params += [inspect.Parameter(name, kind) for name in names]
    call.__signature__ = inspect.Signature(params)
    call.__annotations__ = {"request": gr.Request}
    del call.__wrapped__            # gradio must see the signature above, not fn's
    return call


def wire_task(*, name: str, run: gr.Button, stop: gr.Button, stop_fn: Callable,
              stream_fn: Callable, api_fn: Callable, inputs: Sequence[Any], names: Sequence[str],
              outputs: Sequence[Any], api_outputs: Sequence[Any],
              submit: Optional[Any] = None) -> None:
    """Run -> the streaming UI event (``/<name>_stream``); Stop -> cancel it; plus a hidden
    one-shot endpoint ``/<name>`` returning the final result, for gradio_client.

    ``names``: one parameter name per input (the sampler fields are added here)."""
    names = [*names, *SAMPLER_FIELDS]
    if len(names) != len(inputs):
        raise ValueError(f"{name}: {len(inputs)} inputs but {len(names)} names")
    triggers = [run.click] + ([submit.submit] if submit is not None else [])
    gr.on(triggers, named(stream_fn, names), inputs=list(inputs), outputs=list(outputs),
          api_name=f"{name}_stream", concurrency_id=MODEL_QUEUE, show_progress="minimal")
    stop.click(stop_fn, inputs=None, outputs=None, queue=False, api_name=f"{name}_stop")
    api_button = gr.Button(visible=False)
    api_button.click(named(api_fn, names), inputs=list(inputs), outputs=list(api_outputs),
                     api_name=name, concurrency_id=MODEL_QUEUE)


def api_audio_text() -> tuple[gr.Audio, gr.Textbox]:
    """Hidden outputs of a one-shot audio endpoint: (audio file, text)."""
    return gr.Audio(visible=False, type="filepath", label="audio"), gr.Textbox(visible=False, label="text")


def examples(rows: list[list[Any]], inputs: Sequence[Any]) -> None:
    """Clickable example rows (audio from assets/); never run ahead of time."""
    gr.Examples(examples=rows, inputs=list(inputs), label="Examples", cache_examples=False)
