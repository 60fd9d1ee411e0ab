"""Small waiting helper shared by the browser and API tests."""

from __future__ import annotations

import shutil
import time

import pytest

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg not found: gradio needs it to stream audio")


def wait_until(predicate, timeout_s: float = 30.0, step_s: float = 0.1):
    """Poll ``predicate`` until it returns something truthy (returned) or time runs out."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
