"""The README's curl examples for the OpenAI-compatible API, run as written (host and asset
paths rewritten, curl made to fail on an HTTP error) against a live server on the tiny model."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .openai_support import read_audio, serving

REPO = Path(__file__).resolve().parents[1]
README_HOST = "http://127.0.0.1:7860"
SECTION = "## OpenAI-compatible API"
CURL_TIMEOUT_S = 120
SERVER_MAX_TOKENS = 24           # keeps the tiny model's random replies short


def readme_curl_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the OpenAI section should have one bash block of curl examples"
    return blocks[0]


def test_readme_has_a_curl_call_per_endpoint():
    block = readme_curl_block()
    for path in ("/v1/models", "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/chat/completions",
                 "/v1/mimo/continue", "/v1/mimo/s2s"):
        assert f"{README_HOST}{path}" in block, path


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("base64") is None,
                    reason="curl and base64 are needed to run the README examples")
def test_readme_curl_examples_run(tiny, tmp_path):
    from app.openai_api import ApiConfig
    from app.serve import build_server_app
    from mimo_core.tasks import MimoAudio

    model = MimoAudio.from_specs("tiny", device="cpu", dtype="float32")
    try:
        with serving(build_server_app(model, ApiConfig(max_tokens=SERVER_MAX_TOKENS))) as url:
            script = (readme_curl_block().replace(README_HOST, url)
                      .replace("assets/", f"{REPO}/assets/")
                      .replace("curl ", f"curl -sS --fail-with-body --max-time {CURL_TIMEOUT_S} "))
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                                  capture_output=True, text=True, timeout=10 * CURL_TIMEOUT_S)
    finally:
        model.close()
    assert done.returncode == 0, done.stderr + done.stdout[-2000:]
    out = done.stdout
    assert '"id":"mimo-audio-instruct"' in out.replace(" ", "")
    assert "speech.audio.delta" in out and "speech.audio.done" in out
    assert out.count('"object":"chat.completion"') == 2
    assert out.count('"stop_reason"') == 2                          # continue and s2s answers
    assert read_audio((tmp_path / "hello.wav").read_bytes())[1] == 24_000
