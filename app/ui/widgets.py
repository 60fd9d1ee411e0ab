"""Building blocks every tab shares: audio inputs, the advanced-settings panel, the output
players, Run/Stop buttons, and the wiring of a task's UI stream and API endpoint."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import gradio as gr

from mimo_core.sampler_config import SIDES, Option
from mimo_core.tasks.registry import TASKS, TaskSpec     # task sampler defaults and lengths, to label the fields

from ..convert import input_names
from ..handler_base import AudioUpdate, TextUpdate
from ..inputs import SAMPLER_FIELDS, UI_OPTIONS

MODEL_QUEUE = "model"                      # concurrency group of every event that runs the model


def audio_input(label: str, **kwargs: Any) -> gr.Audio:
    """An audio input taking an upload or a microphone recording, passed on as a file path."""
    return gr.Audio(sources=["upload", "microphone"], type="filepath", label=label, **kwargs)


def _default_hint(spec: TaskSpec, option: Option) -> str:
    """A sampler input's label hint: the task's own value of that setting."""
    sampler = getattr(spec, option.sampler)
    if sampler.greedy:
        return "task default: greedy"
    value = getattr(sampler, option.attr)
    return "task default: off" if value is None else f"task default: {value:g}"


def _optional_number(label: str, value: Any = None, **kwargs: Any) -> gr.Textbox:
    """A number field that may stay empty (gr.Number sends 0 for an empty field, which would
    turn "random seed" into seed 0 and "task default" into temperature 0)."""
    return gr.Textbox(label=label, value="" if value is None else str(value), max_lines=1,
                      placeholder="empty", **kwargs)


def _setting(option: Option, spec: TaskSpec) -> gr.components.Component:
    """The input of one advanced setting (a checkbox, or a number field that may stay empty)."""
    if option.kind is bool:
        return gr.Checkbox(label=option.ui_label, value=False)
    label = option.ui_label if option.sampler is None else f"{option.ui_label} ({_default_hint(spec, option)})"
    return _optional_number(label, getattr(spec, option.ui_value) if option.ui_value else None)


def _setting_rows(spec: TaskSpec) -> list[tuple[list[Option], bool]]:
    """(options, shown) per row: the general settings two to a row, then one row per sampler
    (the audio sampler's only where the task speaks)."""
    general = [o for o in UI_OPTIONS if o.sampler is None]
    rows = [(general[i:i + 2], True) for i in range(0, len(general), 2)]
    rows += [([o for o in UI_OPTIONS if o.sampler == side], side == "text" or spec.speaks) for side in SIDES]
    return [(row, shown) for row, shown in rows if row]


def sampler_panel(task: str) -> dict[str, gr.components.Component]:
    """The collapsed advanced-settings panel, built from the options table: its inputs by name
    (``SAMPLER_FIELDS``)."""
    spec = TASKS[task]
    inputs = {}
    with gr.Accordion("Advanced settings (sampling, seed, length)", open=False):
        for row, shown in _setting_rows(spec):
            with gr.Row(visible=shown):
                for option in row:
                    inputs[option.ui] = _setting(option, spec)
    return inputs


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
        """The widgets in :class:`app.handler_base.AudioUpdate` order."""
        return [getattr(self, name) for name in AudioUpdate.FIELDS]


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
    shown = dict(text=text, thinking=thinking, status=gr.Markdown(elem_classes=["run-status"]))
    return [shown[name] for name in TextUpdate.FIELDS]


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


def _in_order(task: str, names: Sequence[str], inputs: Mapping[str, Any]) -> list:
    """The widgets of ``inputs`` in ``names`` order; a missing or an extra name is a ValueError
    naming the task and the names."""
    missing = [name for name in names if name not in inputs]
    extra = [name for name in inputs if name not in names]
    if missing or extra:
        raise ValueError(f"{task}: the inputs do not match the task's names (missing: "
                         f"{', '.join(missing) or 'none'}; not the task's: {', '.join(extra) or 'none'})")
    return [inputs[name] for name in names]


def wire_task(h: Any, task: str, *, run: gr.Button, stop: gr.Button, inputs: Mapping[str, Any],
              outputs: Sequence[Any], api_outputs: Sequence[Any], submit: Optional[Any] = None) -> None:
    """Run -> the streaming UI event (``/<task>_stream``); Stop -> cancel it; plus a hidden
    one-shot endpoint ``/<task>`` returning the final result, for gradio_client.

    ``inputs``: the widget of each input name, exactly the task's: its
    :func:`app.convert.input_names` (the conversation state included) and ``SAMPLER_FIELDS``."""
    names = [*input_names(task), *SAMPLER_FIELDS]
    widgets = _in_order(task, names, inputs)
    triggers = [run.click] + ([submit.submit] if submit is not None else [])
    gr.on(triggers, named(h.stream(task), names), inputs=widgets, outputs=list(outputs),
          api_name=f"{task}_stream", concurrency_id=MODEL_QUEUE, show_progress="minimal")
    stop.click(h.stop(task), inputs=None, outputs=None, queue=False, api_name=f"{task}_stop")
    api_button = gr.Button(visible=False)
    api_button.click(named(h.api(task), names), inputs=widgets, outputs=list(api_outputs),
                     api_name=task, concurrency_id=MODEL_QUEUE)


def examples(rows: list[list[Any]], inputs: Sequence[Any]) -> None:
    """Clickable example rows (audio from assets/); never run ahead of time."""
    gr.Examples(examples=rows, inputs=list(inputs), label="Examples", cache_examples=False)
