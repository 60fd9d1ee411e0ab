"""Serving the /v1 API in the test process on a free localhost port (uvicorn in a thread),
and the inputs the OpenAI API tests send."""

from __future__ import annotations

import base64
import io
import threading
import time
from contextlib import contextmanager

import numpy as np
import soundfile as sf

from tests.conftest import free_port

SAMPLE_RATE = 24_000
START_TIMEOUT_S = 30


@contextmanager
def serving(app):
    """Run the ASGI ``app`` with uvicorn on 127.0.0.1:<free port>; yield the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name="test-uvicorn")
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def tone(seconds: float = 1.0, freq: float = 220.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def wav_b64(seconds: float = 1.0, freq: float = 220.0) -> str:
    return base64.b64encode(wav_bytes(tone(seconds, freq))).decode()


def read_audio(data: bytes) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(io.BytesIO(data), dtype="float32")
    return audio, rate
