"""Every named endpoint called with gradio_client against the app serving the ``tiny`` model.
(No browser needed: these run wherever the server can.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from tests.browser.ui_helpers import needs_ffmpeg  # noqa: E402

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SHORT = {"seed": "1", "min_seconds": "", "max_seconds": "2"}     # quick, reproducible runs


def clip(name: str):
    return handle_file(str(ASSETS / name))


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def is_wav(path) -> bool:
    return bool(path) and Path(path).read_bytes()[:4] == b"RIFF" and Path(path).stat().st_size > 44


def _preset_cells(client):
    instruction, _guidance, count, *cells, query = client.predict("speaking_rate", api_name="/s2s_preset")
    names = [f"example{i + 1}_{part}" for i in range(len(cells) // 3)
             for part in ("input", "output", "transcript")]
    values = {k: (handle_file(v) if v and not k.endswith("transcript") else v)
              for k, v in zip(names, cells)}
    return dict(audio=handle_file(query), instruction=instruction, n_examples=count, **values)


def one_shot_calls(client):
    """api_name -> (kwargs, check of the result)."""
    return {
        "/continue": (dict(audio=clip("speech_fox.flac"), duration_s=2, **SHORT), lambda r: is_wav(r[0])),
        "/s2s": (dict(**_preset_cells(client), **SHORT), lambda r: is_wav(r[0])),
        "/tts": (dict(text="Hello from the API.", mode="plain", voice_prompt=None, **SHORT),
                 lambda r: is_wav(r[0])),
        "/asr": (dict(audio=clip("speech_fox.flac"), language="English", **SHORT),
                 lambda r: isinstance(r, str)),
        "/understand": (dict(audio=clip("speech_weather.flac"), question="What is said?",
                             thinking=True, **SHORT), lambda r: isinstance(r[0], str) and isinstance(r[1], str)),
        "/dialogue": (dict(audio=clip("question_capital.flac"), voice_prompt=None, **SHORT),
                      lambda r: is_wav(r[0])),
        "/s2t": (dict(audio=clip("question_capital.flac"), thinking=True, **SHORT),
                 lambda r: isinstance(r[0], str) and isinstance(r[1], str)),
        "/chat": (dict(text="Hello!", **SHORT), lambda r: isinstance(r[0], str)),
    }


def test_every_named_endpoint_answers(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    called = set()
    for api, (kwargs, ok) in one_shot_calls(client).items():
        result = client.predict(**kwargs, api_name=api)
        assert ok(result), (api, result)
        called.add(api)
        job = client.submit(**kwargs, api_name=f"{api}_stream")
        job.result()
        assert len(job.outputs()) >= 2, api              # progress, then the final values
        called.add(f"{api}_stream")
        client.predict(api_name=f"{api}_stop")                # nothing running: a no-op
        called.add(f"{api}_stop")
    for api in ("/dialogue_clear", "/s2t_clear", "/chat_clear"):
        client.predict(api_name=api)
        called.add(api)
    called.add("/s2s_preset")                                 # used by _preset_cells
    status = client.predict(api_name="/model_status")
    assert "models / instruct / loaded" in status
    called.add("/model_status")
    for api in ("/unload_base", "/load_base", "/unload_instruct", "/load_instruct"):
        assert "device" in client.predict(api_name=api)
        called.add(api)
    assert called == named, named ^ called


def run_stream(client, text: str) -> list:
    job = client.submit(text=text, **SHORT, api_name="/chat_stream")
    job.result()
    return job.outputs()


def test_chat_history_lives_in_the_client_session(app_url):
    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    a.predict(text="One.", **SHORT, api_name="/chat")
    a.predict(text="Two.", **SHORT, api_name="/chat")
    b.predict(text="Only.", **SHORT, api_name="/chat")
    a_chat, b_chat = run_stream(a, "Three."), run_stream(b, "Again.")

    def user_texts(outputs):
        chat = [o[0] for o in outputs if isinstance(o[0], list)][-1]
        return [part["text"] for m in chat if m["role"] == "user" for part in m["content"]]

    assert user_texts(a_chat) == ["One.", "Two.", "Three."]
    assert user_texts(b_chat) == ["Only.", "Again."]

@needs_ffmpeg
def test_first_audio_chunk_arrives_before_generation_ends(client):
    job = client.submit(text="Streaming check.", mode="plain", voice_prompt=None, seed="4", min_seconds="8",
                        max_seconds="8", api_name="/tts_stream")
    job.result()
    outputs = job.outputs()
    # each streamed update carries the live player's HLS playlist as it was at that moment
    segments = [Path(o[0]).read_text().count("#EXTINF") if o[0] else 0 for o in outputs]
    first_audio = next(i for i, n in enumerate(segments) if n)
    status = outputs[first_audio][4]                       # (live, text, thinking, full, status)
    progress = re.match(r"Generating\.\.\. (\d+)/(\d+)", status)
    assert progress, status
    assert int(progress.group(1)) < int(progress.group(2)) == 50
    assert outputs[-1][4].startswith("Done: 50 positions")
