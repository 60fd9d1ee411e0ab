"""Waiting helpers and time limits shared by the browser and API tests.

Tests wait on the app's state (a widget mounted, an upload answered, a status line), polling, never
for a fixed time. The limits are generous because CI may be a loaded 2-core machine running the
app, the tiny model and Chromium at once: a passing test waits only as long as the app needs.
"""

from __future__ import annotations

import shutil
import time

import pytest

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg not found: gradio needs it to stream audio")

UI_TIMEOUT_S = 120.0       # one UI step: a widget shown by a server's answer, an upload, a toast
RUN_TIMEOUT_S = 300.0      # one run of the tiny model, possibly queued behind other runs
API_TIMEOUT_S = 300.0      # one HTTP request of gradio_client (its default is httpx's 5 s)


def wait_until(predicate, timeout_s: float = UI_TIMEOUT_S, step_s: float = 0.1, what: str = "",
               state=None):
    """Poll ``predicate`` until it returns something truthy (returned) or time runs out; then
    the error names ``what`` was awaited and, when given, what ``state()`` shows."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    shown = f"; now: {state()!r}" if state is not None else ""
    raise AssertionError(f"{what or 'condition'} not met within {timeout_s:g} s{shown}")


def api_client(url: str):
    """A gradio_client ``Client`` whose requests may take as long as a loaded machine needs."""
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": API_TIMEOUT_S})


def new_context(browser):
    """A fresh browser session (own cookies and gradio session) whose Playwright waits use
    :data:`UI_TIMEOUT_S`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_S * 1000)
    return context
