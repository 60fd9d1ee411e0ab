"""The UI factory: ``build_app(handlers) -> gr.Blocks``.

``handlers`` is an :class:`app.handlers.Handlers` (or any object with the same functions and
attributes: ``banner``, ``stream_audio``, ``presets``); the factory only lays out widgets and
wires them to those functions, so tests can pass fakes and the model is never touched here.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from mimo_core.tasks.registry import TASKS

from .tabs_base import continuation_tab, few_shot_tab
from .tabs_chat import chat_tab, dialogue_tab, model_tab, s2t_tab
from .tabs_instruct import asr_tab, tts_tab, understanding_tab
from ..voice.tab import voice_tab

TITLE = "MiMo-Audio Studio"


def _task_tab(task: str, build: Any) -> tuple[str, str, Any]:
    """A task's tab: its title from the registry, elem id ``tab-<task>``."""
    return TASKS[task].title, f"tab-{task}", build


# (tab label, elem id, builder); the order is the order on screen
TABS = (
    _task_tab("continue", continuation_tab),
    _task_tab("s2s", few_shot_tab),
    _task_tab("tts", tts_tab),
    _task_tab("asr", asr_tab),
    _task_tab("understand", understanding_tab),
    _task_tab("dialogue", dialogue_tab),
    ("Voice Chat", "tab-voice", voice_tab),
    _task_tab("s2t", s2t_tab),
    _task_tab("chat", chat_tab),
    ("Model", "tab-model", model_tab),
)

CSS = """
#tiny-banner { background: #b91c1c; color: #fff; padding: 14px 18px; border-radius: 8px;
               font-size: 1.05rem; }
#tiny-banner a, #tiny-banner code { color: #fff; }
.tab-wrapper button { padding-left: 10px; padding-right: 10px; }     /* ten tabs fit 1280 px */
"""


def banner_html(text: str) -> str:
    return f'<div id="tiny-banner" role="alert">{html.escape(text).replace(chr(10), "<br>")}</div>'


def build_app(handlers: Any) -> gr.Blocks:
    """Lay out every tab and wire it to ``handlers``; returns the (unlaunched) Blocks."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nXiaomi MiMo-Audio: speech continuation, few-shot speech-to-speech, "
                    "TTS, ASR, audio understanding and dialogue.")
        if getattr(handlers, "banner", None):
            gr.HTML(banner_html(handlers.banner))
        backend = getattr(handlers, "backend", None)
        if not getattr(backend, "batching", True):          # ZeroGPU: one request per GPU call
            gr.Markdown(getattr(backend, "notice", "Requests of different users are not batched here."),
                        elem_id="no-batching-notice")
        model_status = None
        with gr.Tabs():
            for label, elem_id, build in TABS:
                with gr.Tab(label, id=elem_id, elem_id=elem_id):
                    made = build(handlers)
                    if build is model_tab:
                        model_status = made
        if model_status is not None:
            demo.load(handlers.model_status, None, model_status, api_visibility="private",
                      queue=False)
    return demo             # gradio 6 takes css at launch(): launch.py passes CSS
