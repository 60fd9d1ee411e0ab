"""Multi-turn tabs (spoken dialogue, speech-to-text dialogue, text chat) and the Model tab.

Each chat tab keeps its history in its own ``gr.State`` (one per browser session).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from mimo_core.prompts.templates import DEFAULT_DIALOGUE_SYSTEM_PROMPT

from ..conversation import VOICE_OPEN, cleared_fields, turn_fields
from ..presets import asset
from .widgets import MODEL_QUEUE, api_outputs, audio_input, examples, run_stop, sampler_panel, wire_task


def _chat_view(elem_id: str) -> gr.Chatbot:
    return gr.Chatbot(label="Conversation", height=380, elem_id=elem_id, feedback_options=None)


def _wire_conversation(h: Any, task: str, run, stop, *, inputs: dict, widgets: dict, submit=None) -> None:
    """Wire a conversation tab: the stream updates the widgets :func:`turn_fields` names; the
    one-shot endpoint returns (audio,) text, (reasoning,) and the conversation state; Clear
    empties the view and the state (``/<task>_clear``)."""
    conversation = widgets["conversation"]
    wire_task(h, task, run=run, stop=stop, inputs=inputs,
              outputs=[widgets[name] for name in turn_fields(task)],
              api_outputs=[*api_outputs(task), conversation], submit=submit)
    cleared = [widgets[name] for name in cleared_fields(task)]
    widgets["clear"].click(lambda: h.clear_conversation(task), None, cleared,
                           api_name=f"{task}_clear", queue=False)
    widgets["chat"].clear(lambda: None, None, conversation, api_visibility="private", queue=False)


def dialogue_tab(h: Any) -> None:
    conversation = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            chat = _chat_view("dialogue-chat")
            audio = audio_input("Your spoken message")
            run, stop = run_stop("Send")
            clear = gr.Button("Clear conversation", elem_classes=["clear-btn"])
        with gr.Column(scale=2):
            live = gr.Audio(label="Live reply", streaming=h.stream_audio, autoplay=True,
                            interactive=False, visible=h.stream_audio, elem_classes=["live-audio"])
            full = gr.Audio(label="Last reply (download)", type="filepath", interactive=False,
                            buttons=["download"], elem_classes=["full-audio"])
            status = gr.Markdown(elem_classes=["run-status"])
            with gr.Accordion("Voice and system prompt (set on the first turn)", open=False):
                voice = audio_input(VOICE_OPEN, elem_id="dialogue-voice")
                system = gr.Textbox(label="System prompt", value=DEFAULT_DIALOGUE_SYSTEM_PROMPT,
                                    lines=2, elem_id="dialogue-system")
            sampler = sampler_panel("dialogue")
    examples([[asset("question_capital.flac")], [asset("question_story.flac")]], [audio])
    _wire_conversation(h, "dialogue", run, stop,
                       inputs=dict(audio=audio, conversation=conversation, voice_prompt=voice,
                                   system_prompt=system, **sampler),
                       widgets=dict(chat=chat, live=live, full=full, status=status, conversation=conversation,
                                    message=audio, voice=voice, system=system, clear=clear))


def s2t_tab(h: Any) -> None:
    conversation = gr.State(None)
    chat = _chat_view("s2t-chat")
    with gr.Row():
        with gr.Column(scale=3):
            audio = audio_input("Your spoken message")
        with gr.Column(scale=2):
            thinking = gr.Checkbox(label="Let the model think first", value=False)
            run, stop = run_stop("Send")
            clear = gr.Button("Clear conversation", elem_classes=["clear-btn"])
            status = gr.Markdown(elem_classes=["run-status"])
    sampler = sampler_panel("s2t")
    examples([[asset("question_capital.flac")], [asset("question_story.flac")]], [audio])
    _wire_conversation(h, "s2t", run, stop,
                       inputs=dict(audio=audio, conversation=conversation, thinking=thinking, **sampler),
                       widgets=dict(chat=chat, status=status, conversation=conversation, message=audio, clear=clear))


def chat_tab(h: Any) -> None:
    conversation = gr.State(None)
    chat = _chat_view("text-chat")
    with gr.Row():
        text = gr.Textbox(label="Your message", lines=2, scale=4, elem_id="chat-text")
        with gr.Column(scale=1):
            thinking = gr.Checkbox(label="Let the model think first", value=False)
            run, stop = run_stop("Send")
            clear = gr.Button("Clear conversation", elem_classes=["clear-btn"])
    status = gr.Markdown(elem_classes=["run-status"])
    sampler = sampler_panel("chat")
    examples([["What can you do with audio?"], ["Write a two-line poem about the sea."]], [text])
    _wire_conversation(h, "chat", run, stop,
                       inputs=dict(text=text, conversation=conversation, thinking=thinking, **sampler),
                       widgets=dict(chat=chat, status=status, conversation=conversation, message=text, clear=clear),
                       submit=text)


def model_tab(h: Any) -> None:
    gr.Markdown("What is loaded, where, and how much memory it takes. Loading a model that is not "
                "in memory happens on first use anyway; unloading frees its memory.")
    status = gr.Markdown(elem_id="model-status")
    with gr.Row():
        refresh = gr.Button("Refresh")
        buttons = {}
        for role in ("instruct", "base"):
            for action in ("load", "unload"):
                buttons[action, role] = gr.Button(f"{action.capitalize()} {role.capitalize()}",
                                                  variant="secondary")
    refresh.click(h.model_status, None, status, api_name="model_status", queue=False)
    for (action, role), button in buttons.items():
        button.click(h.model_action(action, role), None, status, api_name=f"{action}_{role}",
                     concurrency_id=MODEL_QUEUE)
    return status
