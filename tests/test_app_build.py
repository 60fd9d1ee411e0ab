"""The UI factory with fake handlers: every tab, every named endpoint, the demo banner."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from app import Handlers, build_app
from app.ui import TABS
from app.ui.widgets import named
from tests.browser.fake_backend import FakeMimoAudio

APP_DIR = Path(__file__).resolve().parents[1] / "app"
TASKS = ("continue", "s2s", "tts", "asr", "understand", "dialogue", "s2t", "chat")


@pytest.fixture(scope="module")
def demo():
    return build_app(Handlers(FakeMimoAudio(), banner="DEMO MODEL: noise <b>"))


@pytest.fixture(scope="module")
def config(demo):
    return demo.get_config_file()


def _components(config, kind):
    return [c for c in config["components"] if c.get("type") == kind]


def test_every_tab_is_built_in_order(config):
    labels = [c["props"].get("label") for c in _components(config, "tabitem")]
    assert labels == [label for label, _, _ in TABS]
    assert len(labels) == 10


def test_every_task_has_a_stream_a_one_shot_and_a_stop_endpoint(config):
    names = {d.get("api_name") for d in config["dependencies"]}
    for task in TASKS:
        assert {task, f"{task}_stream", f"{task}_stop"} <= names, task
    assert {"model_status", "load_base", "unload_base", "load_instruct", "unload_instruct",
            "dialogue_clear", "s2t_clear", "chat_clear", "s2s_preset"} <= names


def test_model_events_share_one_concurrency_group(demo):
    by_name = {fn.api_name: fn for fn in demo.fns.values()}
    for task in TASKS:
        assert by_name[task].concurrency_id == by_name[f"{task}_stream"].concurrency_id == "model"
        assert by_name[task].concurrency_limit == "default"      # the --concurrency value
    assert by_name["tts_stop"].queue is False               # Stop never waits behind the model


def test_audio_inputs_take_upload_and_microphone(config):
    inputs = [c for c in _components(config, "audio") if c["props"].get("interactive") is not False
              and c["props"].get("visible") is not False and not c["props"].get("streaming")]
    assert len(inputs) >= 8
    for c in inputs:
        assert c["props"]["sources"] == ["upload", "microphone"], c["props"].get("label")


def test_streaming_players_and_downloadable_results(config):
    audio = _components(config, "audio")
    live = [c for c in audio if c["props"].get("streaming") and c["props"].get("interactive") is False]
    full = [c for c in audio if "full-audio" in (c["props"].get("elem_classes") or [])]
    assert len(live) == 5 and len(full) == 4          # continue, s2s, tts, dialogue (+ voice chat's live reply)
    assert all("download" in c["props"]["buttons"] for c in full)


def test_advanced_settings_are_collapsed_everywhere(config):
    panels = [c for c in _components(config, "accordion") if "Advanced" in c["props"]["label"]]
    assert len(panels) == 8 and not any(c["props"]["open"] for c in panels)


def test_banner_shows_only_for_the_demo_model(config):
    html = [c["props"]["value"] for c in _components(config, "html")]
    assert any('id="tiny-banner"' in v and "noise &lt;b&gt;" in v for v in html)
    plain = build_app(Handlers(FakeMimoAudio())).get_config_file()
    assert not any("tiny-banner" in str(c["props"].get("value")) for c in _components(plain, "html"))


def test_each_chat_tab_has_its_own_session_state(config):
    states = _components(config, "state")
    assert len(states) == 4


def test_named_gives_api_parameters_real_names():
    h = Handlers(FakeMimoAudio(), presets={})
    fn = named(h.api("tts"), ["text", "mode"])
    assert list(inspect.signature(fn).parameters) == ["request", "text", "mode"]
    assert inspect.isgeneratorfunction(named(h.stream("tts"), ["text"]))
    assert fn(None, "Hi", "plain")[1] == "[tts turn 1] Hi"            # positional, as gradio calls


def test_endpoints_take_the_registry_inputs_by_name():
    """Every task's /<task> endpoint lists its inputs (app.convert.input_names) then the
    advanced settings; conversation tasks take the conversation state among them."""
    from app.convert import input_names
    from app.inputs import SAMPLER_FIELDS
    from mimo_core.tasks import TASKS

    demo = build_app(Handlers(FakeMimoAudio(), presets={}))
    api = demo.get_api_info()["named_endpoints"]
    for task, spec in TASKS.items():
        shown = [p["parameter_name"] for p in api[f"/{task}"]["parameters"]]
        expected = [n for n in (*input_names(task), *SAMPLER_FIELDS) if n != "conversation"]
        assert shown == expected, task
        assert ("thinking" in shown) == ("thinking" in spec.input_names)


def test_app_reaches_torch_only_through_mimo_core():
    pattern = re.compile(r"^\s*(import torch|from torch)", re.M)
    offenders = [p.name for p in APP_DIR.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []



def test_a_backend_without_cross_user_batching_is_announced():
    """ZeroGPU runs each request in its own GPU call: the page says requests are not batched."""
    fake = FakeMimoAudio()
    fake.batching, fake.notice = False, "On ZeroGPU each request runs alone."
    config = build_app(Handlers(fake, presets={})).get_config_file()
    texts = [str(c["props"].get("value")) for c in config["components"] if c.get("type") == "markdown"]
    assert any("each request runs alone" in t for t in texts)
    plain = build_app(Handlers(FakeMimoAudio(), presets={})).get_config_file()
    assert not any("runs alone" in str(c["props"].get("value")) for c in plain["components"])


def test_task_tabs_are_titled_by_the_registry(config):
    from mimo_core.tasks import TASKS as SPECS

    tabs = {c["props"].get("elem_id"): c["props"].get("label") for c in _components(config, "tabitem")}
    assert {task: tabs[f"tab-{task}"] for task in SPECS} == {task: spec.title for task, spec in SPECS.items()}


def test_wire_task_refuses_a_missing_or_an_extra_input_name():
    """Tabs hand wire_task their widgets by input name; a name the task lacks, or one of its
    names left out, fails loudly at build time instead of shifting every value after it."""
    import gradio as gr

    from app.ui.widgets import sampler_panel, wire_task

    h = Handlers(FakeMimoAudio(), presets={})
    with gr.Blocks():
        audio, language = gr.Audio(), gr.Textbox()
        run, stop = gr.Button(), gr.Button()
        sampler = sampler_panel("asr")
        wire = dict(run=run, stop=stop, outputs=[gr.Textbox()], api_outputs=[gr.Textbox()])
        with pytest.raises(ValueError, match=r"asr: .*missing: language; not the task's: none"):
            wire_task(h, "asr", inputs=dict(audio=audio, **sampler), **wire)
        with pytest.raises(ValueError, match=r"asr: .*missing: none; not the task's: colour"):
            wire_task(h, "asr", inputs=dict(audio=audio, language=language, colour=gr.Textbox(), **sampler),
                      **wire)
        without_seed = {k: v for k, v in sampler.items() if k != "seed"}
        with pytest.raises(ValueError, match=r"asr: .*missing: seed"):
            wire_task(h, "asr", inputs=dict(audio=audio, language=language, **without_seed), **wire)
        wire_task(h, "asr", inputs=dict(language=language, audio=audio, **sampler), **wire)   # any order


def test_ui_updates_are_named_and_skip_what_they_do_not_set():
    import gradio as gr

    from app.conversation import TurnUpdate
    from app.handler_base import AudioUpdate

    update = AudioUpdate(text="hi", status="Done.")
    assert AudioUpdate.FIELDS == ("live", "text", "thinking", "full", "status")
    assert (update.text, update.status) == ("hi", "Done.") and update.live == update.full == gr.skip()
    assert update == (gr.skip(), "hi", gr.skip(), gr.skip(), "Done.")          # what gradio receives
    assert update.live is not update.full                                      # a fresh skip each
    assert TurnUpdate(message="").only(("message", "chat")) == ("", gr.skip())
    with pytest.raises(TypeError, match="AudioUpdate has no field colour"):
        AudioUpdate(colour="red")
