"""The app served on 127.0.0.1 (free port, in this process) with the real ``tiny`` model, and a
headless Debian Chromium driven by Playwright.

Browser tests skip with a reason when /usr/bin/chromium or Playwright is missing. The server
fixture needs neither, so the gradio_client tests always run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import launched

from tests.browser.ui_helpers import new_context

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def tiny_model(tiny):
    """The real facade over the session's tiny random checkpoints (the root ``tiny`` fixture:
    built once, MIMO_TINY_DIR pointing at them)."""
    from mimo_core.tasks import MimoAudio

    model = MimoAudio.from_specs("tiny", device="cpu", dtype="float32")
    model.load("instruct")
    model.load("tokenizer")
    yield model
    model.close()


@pytest.fixture(scope="session")
def app_url(tiny_model, tmp_path_factory):
    """Serve the app (tiny model, demo banner) and return its URL."""
    from app.backend import TINY_BANNER
    from app.launch import make_handlers
    from app.ui import build_app

    with pytest.MonkeyPatch.context() as mp:         # restored when the session ends
        mp.setenv("MIMO_APP_TMP", str(tmp_path_factory.mktemp("app_out")))
        # gradio's cache of this session's own: no state shared with earlier runs or other apps
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio_cache")))
        handlers = make_handlers(tiny_model, TINY_BANNER.format(reason="(tests) "))
        with launched(build_app(handlers), concurrency=4, max_queue=32) as url:
            yield url + "/"


@pytest.fixture(scope="session")
def playwright():
    """The session's one Playwright driver (the sync API can be started once per thread)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found (Debian: apt-get install -y chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser, app_url):
    context = new_context(browser)
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#tiny-banner")
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where tab screenshots go: docs/screenshots/ (used by the README) when
    MIMO_UPDATE_SCREENSHOTS=1, else a temporary folder so a test run leaves the tree clean."""
    if os.environ.get("MIMO_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
