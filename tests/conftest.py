"""Shared test fixtures: where ../shared/fixtures is, and skipping cleanly without it."""

import argparse
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIMO_SHARED_DIR", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"


def fixtures_available() -> bool:
    return (FIXTURES / "manifest.json").is_file()


requires_fixtures = pytest.mark.skipif(
    not fixtures_available(),
    reason=f"golden fixtures not found at {FIXTURES} (set MIMO_SHARED_DIR or place shared/ beside the checkout)",
)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not fixtures_available():
        pytest.skip(f"golden fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def manifest(fixtures_dir) -> dict:
    return json.loads((fixtures_dir / "manifest.json").read_text())


def lm_task_names() -> list[str]:
    """Names of the LM golden cases (for parametrize); empty without the fixtures."""
    if not fixtures_available():
        return []
    return sorted(json.loads((FIXTURES / "manifest.json").read_text())["lm_tasks"])


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The offline 'tiny' demo checkpoints, built once per session; MIMO_TINY_DIR points at them."""
    import torch

    from mimo_core.resolve import ensure_tiny

    torch.set_num_threads(2)
    root = ensure_tiny(tmp_path_factory.getbasetemp() / "tiny-v1")
    old = os.environ.get("MIMO_TINY_DIR")
    os.environ["MIMO_TINY_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("MIMO_TINY_DIR", None)
    else:
        os.environ["MIMO_TINY_DIR"] = old


@pytest.fixture(scope="session")
def fixture_lm(fixtures_dir):
    """The fixtures' tiny LM checkpoint, loaded once in float32 (read-only for tests)."""
    import torch

    from mimo_core.lm import load_mimo_lm

    torch.set_num_threads(1)   # tiny ops: a 2nd thread only adds sync cost
    return load_mimo_lm(fixtures_dir / "checkpoints" / "lm", dtype=torch.float32)


@pytest.fixture(scope="session")
def tiny_codec_dir(tmp_path_factory) -> Path:
    """A tiny random audio tokenizer checkpoint (write_tiny_audio_tokenizer, seed 0), written
    once per session; read-only for tests (copy it to edit)."""
    from mimo_core.codec.tiny import write_tiny_audio_tokenizer

    return write_tiny_audio_tokenizer(tmp_path_factory.mktemp("tiny_codec"), seed=0)


@pytest.fixture(scope="session")
def tiny_codec(tiny_codec_dir):
    """``tiny_codec_dir`` loaded once in float32 (read-only for tests)."""
    import torch

    from mimo_core.codec import load_audio_tokenizer

    torch.set_num_threads(2)
    return load_audio_tokenizer(tiny_codec_dir)


@pytest.fixture(scope="module")
def mimo(tiny):
    """The facade over the tiny checkpoints, one per test module (closed at its end)."""
    from mimo_core.tasks import MimoAudio

    m = MimoAudio.from_specs("tiny")
    yield m
    m.close()


@pytest.fixture
def wav(tmp_path) -> str:
    """A one-second 24 kHz tone as a wav file (an audio input for the UI and task tests)."""
    import numpy as np
    import soundfile as sf

    from mimo_core.constants import SAMPLE_RATE

    path = tmp_path / "speech.wav"
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sf.write(path, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), SAMPLE_RATE)
    return str(path)


def free_port() -> int:
    """A free TCP port on localhost (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def launched(demo, *, api=None, routes=(), concurrency: int = 2, max_queue: int = 16, **flags):
    """Serve a built app (UI, plus the /v1 ``api`` and extra ``routes``) with app.launch on a
    free localhost port, as the app command does; yield its base URL (no trailing slash)."""
    from app.launch import launch

    port = free_port()
    args = argparse.Namespace(concurrency=concurrency, max_queue=max_queue, share=False,
                              server_name="127.0.0.1", port=port, root_path=None, **flags)
    launch(demo, args, block=False, api=api, routes=routes)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()
