"""The /v1 API on the web app's own port: the gradio UI and the API served by one server,
the UI's queue untouched; and the loud warning for a keyless API beyond localhost."""

from __future__ import annotations

import argparse

import httpx
import pytest

from tests.conftest import launched

openai = pytest.importorskip("openai", reason="the openai client is not installed (requirements-dev.txt)")


@pytest.fixture(scope="module")
def app_url(tiny, tmp_path_factory):
    from app.backend import TINY_BANNER, make_backend
    from app.launch import make_handlers
    from app.openai_api import ApiConfig, build_api
    from app.ui import build_app
    from mimo_core.tasks import MimoAudio

    model = MimoAudio.from_specs("tiny", device="cpu", dtype="float32")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIMO_APP_TMP", str(tmp_path_factory.mktemp("app_out")))
        demo = build_app(make_handlers(model, TINY_BANNER.format(reason="(tests) ")))
        with launched(demo, max_queue=8, api=build_api(make_backend(model), ApiConfig()),
                      api_key=None) as url:
            yield url
    model.close()


def test_ui_and_api_share_the_port(app_url):
    page = httpx.get(f"{app_url}/", timeout=60)
    assert page.status_code == 200 and "<html" in page.text.lower()
    client = openai.OpenAI(base_url=f"{app_url}/v1", api_key="x", max_retries=0, timeout=120)
    assert "mimo-audio-instruct" in {m.id for m in client.models.list().data}
    reply = client.audio.speech.create(model="mimo-audio-instruct", voice="alloy", input="Hi.",
                                       response_format="wav", extra_body={"max_tokens": 4, "seed": 1})
    assert reply.content[:4] == b"RIFF"
    config = httpx.get(f"{app_url}/config", timeout=60)          # gradio's own routes still answer
    assert config.status_code == 200


def test_keyless_api_beyond_localhost_warns_loudly(capsys):
    from app.serve import warn_if_exposed

    assert warn_if_exposed(argparse.Namespace(server_name="127.0.0.1", api_key=None)) is None
    assert warn_if_exposed(argparse.Namespace(server_name="0.0.0.0", api_key="k")) is None
    line = warn_if_exposed(argparse.Namespace(server_name="0.0.0.0", api_key=None))
    assert "WITHOUT an API key" in line and line in capsys.readouterr().err
    assert warn_if_exposed(argparse.Namespace(server_name="127.0.0.1", api_key=None), share=True)


def test_serve_command_is_registered_with_the_model_flags():
    from run_mimo_audio import build_parser

    args = build_parser().parse_args(["serve", "--tiny", "--port", "9", "--api-key", "k",
                                      "--cors-origin", "http://a.example", "--model-path", "tiny"])
    assert (args.port, args.api_key, args.cors_origin, args.model_path) == (9, "k", ["http://a.example"], "tiny")
    app_args = build_parser().parse_args(["app", "--api-key", "k"])
    assert app_args.api_key == "k" and app_args.cors_origin == []
