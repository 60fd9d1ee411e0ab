"""Multi-turn tabs (spoken dialogue, speech-to-text dialogue, text chat) and the Model tab.

Each chat tab keeps its history in its own ``gr.State`` (one per browser session).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from mimo_core.prompts.templates import DEFAULT_DIALOGUE_SYSTEM_PROMPT

from ..presets import asset
from .widgets import MODEL_QUEUE, audio_input, examples, run_stop, sampler_panel, wire_task


def _chat_view(elem_id: str) -> gr.Chatbot:
    return gr.Chatbot(label="Conversation", height=380, elem_id=elem_id, feedback_options=None)


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
            with gr.Accordion("Voice and system prompt", open=False):
                voice = audio_input("Voice prompt (optional: the voice to answer in)")
                system = gr.Textbox(label="System prompt", value=DEFAULT_DIALOGUE_SYSTEM_PROMPT,
                                    lines=2)
            sampler = sampler_panel("dialogue")
    examples([[asset("question_capital.flac")], [asset("question_story.flac")]], [audio])
    wire_task(name="dialogue", run=run, stop=stop, stop_fn=h.stop("dialogue"),
              stream_fn=h.dialogue_stream, api_fn=h.dialogue_api,
              inputs=[audio, voice, system, conversation, *sampler],
              names=["audio", "voice_prompt", "system_prompt", "conversation"],
              outputs=[chat, live, full, status, conversation, audio],
              api_outputs=[gr.Audio(visible=False, type="filepath", label="audio"),
                           gr.Textbox(visible=False, label="text"), conversation])
    clear.click(h.clear_conversation, None, [chat, conversation, full, status],
                api_name="dialogue_clear", queue=False)
    chat.clear(lambda: None, None, conversation, api_visibility="private", queue=False)


def s2t_tab(h: Any) -> None:
    conversation = gr.State(None)
    chat = _chat_view("s2t-chat")
    with gr.Row():
        with gr.Column(scale=3):
            audio = audio_input("Your spoken message")
        with gr.Column(scale=2):
            run, stop = run_stop("Send")
            clear = gr.Button("Clear conversation", elem_classes=["clear-btn"])
            status = gr.Markdown(elem_classes=["run-status"])
    sampler = sampler_panel("s2t", speaks=False)
    examples([[asset("question_capital.flac")], [asset("question_story.flac")]], [audio])
    wire_task(name="s2t", run=run, stop=stop, stop_fn=h.stop("s2t"),
              stream_fn=h.s2t_stream, api_fn=h.s2t_api, inputs=[audio, conversation, *sampler],
              names=["audio", "conversation"],
              outputs=[chat, status, conversation, audio],
              api_outputs=[gr.Textbox(visible=False, label="text"), conversation])
    clear.click(lambda: h.clear_conversation()[:2] + ("",), None, [chat, conversation, status],
                api_name="s2t_clear", queue=False)
    chat.clear(lambda: None, None, conversation, api_visibility="private", queue=False)


def chat_tab(h: Any) -> None:
    conversation = gr.State(None)
    chat = _chat_view("text-chat")
    with gr.Row():
        text = gr.Textbox(label="Your message", lines=2, scale=4, elem_id="chat-text")
        with gr.Column(scale=1):
            run, stop = run_stop("Send")
            clear = gr.Button("Clear conversation", elem_classes=["clear-btn"])
    status = gr.Markdown(elem_classes=["run-status"])
    sampler = sampler_panel("chat", speaks=False)
    examples([["What can you do with audio?"], ["Write a two-line poem about the sea."]], [text])
    wire_task(name="chat", run=run, stop=stop, stop_fn=h.stop("chat"),
              stream_fn=h.chat_stream, api_fn=h.chat_api, inputs=[text, conversation, *sampler],
              names=["text", "conversation"],
              outputs=[chat, status, conversation, text],
              api_outputs=[gr.Textbox(visible=False, label="text"), conversation], submit=text)
    clear.click(lambda: h.clear_conversation()[:2] + ("",), None, [chat, conversation, status],
                api_name="chat_clear", queue=False)
    chat.clear(lambda: None, None, conversation, api_visibility="private", queue=False)


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
