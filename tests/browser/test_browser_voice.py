"""The Voice Chat tab in headless Chromium with a WAV file as its microphone: a spoken
question gets a reply that plays with no click once the speech ends (real tiny model); talking
over the reply stops it and takes a new turn; two browser contexts keep separate
conversations (fake backend, so replies are long and their text names the turn)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.fake_backend import FakeMimoAudio
from tests.conftest import launched
from tests.browser.ui_helpers import needs_ffmpeg, wait_until

pytestmark = [pytest.mark.browser, needs_ffmpeg]

ASSETS = Path(__file__).resolve().parents[2] / "assets"
LEAD_S, TAIL_S = 1.0, 8.0        # silence around the question; Chromium loops the file
SLOW = 240                       # seconds: the machine may be heavily loaded
STEP_S = 0.1                     # fake reply: seconds per 0.16 s position


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory) -> Path:
    """question_capital.flac between silences, as 16-bit WAV (what Chromium's fake mic reads)."""
    if subprocess.run(["which", "sox"], capture_output=True).returncode != 0:
        pytest.skip("sox not found (apt-get install -y sox)")
    out = tmp_path_factory.mktemp("mic") / "question.wav"
    subprocess.run(["sox", str(ASSETS / "question_capital.flac"), "-b", "16", str(out),
                    "pad", str(LEAD_S), str(TAIL_S)], check=True)
    return out


@pytest.fixture(scope="module")
def talking_browser(playwright, mic_wav):
    """Chromium whose microphone says the question (the flag is per browser, not per context),
    launched by the session's one Playwright driver."""
    flags = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={mic_wav}"]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def fake_app(tmp_path_factory):
    """The app over a fake backend whose replies are slow (0.1 s a position: still generating
    when the looped question comes round again) and name their turn."""
    from app import Handlers, build_app

    fake = FakeMimoAudio(groups=400, step_s=STEP_S)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIMO_APP_TMP", str(tmp_path_factory.mktemp("voice_app_out")))
        with launched(build_app(Handlers(fake, presets={}))) as url:
            yield url + "/", fake


def open_voice(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("tab", name="Voice Chat", exact=True).click()
    page.locator("#tab-voice").wait_for(state="visible")
    return context, page


def set_max_reply(page, seconds: int) -> None:
    box = page.locator("#voice-max-reply input[type=number]")
    box.fill(str(seconds))
    box.press("Enter")


def player(page) -> dict:
    """The reply player's state: playing (not paused and time moving), its source."""
    return page.evaluate("""() => {
        const a = document.querySelector('#voice-live audio');
        return a ? {paused: a.paused, time: a.currentTime, src: a.currentSrc || a.src} : null; }""")


def playing(page):
    p = player(page)
    return p if p and not p["paused"] and p["time"] > 0 else None


def bot_texts(page) -> list[str]:
    return [t.strip() for t in page.locator("#voice-chat [data-testid=bot]").all_inner_texts()]


def status(page) -> str:
    return page.locator("#voice-status").inner_text()


def test_a_spoken_question_gets_a_reply_that_plays_by_itself(talking_browser, app_url, screenshots):
    context, page = open_voice(talking_browser, app_url)
    try:
        set_max_reply(page, 3)
        page.locator("#voice-start").click()                      # the only click
        wait_until(lambda: "Hearing you" in status(page), SLOW)
        wait_until(lambda: page.locator("#voice-chat [data-testid=user]").count() >= 1, SLOW)
        wait_until(lambda: playing(page), SLOW)                    # autoplay, no click
        wait_until(lambda: bot_texts(page), SLOW)
        page.screenshot(path=str(screenshots / "voice_chat.png"), full_page=True)
    finally:
        page.locator("#voice-stop").click()
        context.close()


def test_talking_over_the_reply_stops_it_and_takes_a_new_turn(talking_browser, fake_app):
    url, fake = fake_app
    before = len(fake.requests)
    context, page = open_voice(talking_browser, url)
    try:
        page.locator("#voice-start").click()
        first = wait_until(lambda: playing(page), SLOW)           # turn 1's reply plays
        # the question comes round again (the file loops) while the 64 s reply still plays
        wait_until(lambda: "Interrupted" in status(page), SLOW)
        wait_until(lambda: player(page)["paused"] or player(page)["src"] != first["src"], 30)
        wait_until(lambda: len(fake.requests) >= before + 2, SLOW)     # the new turn went out
        assert fake.requests[before + 1].conversation is None          # cut reply: not history
        second = wait_until(lambda: (p := playing(page)) and p["src"] != first["src"] and p, SLOW)
        assert second["src"] != first["src"]                           # a new reply stream
    finally:
        page.locator("#voice-stop").click()
        context.close()


def test_two_browser_contexts_keep_separate_conversations(talking_browser, fake_app):
    url, _ = fake_app
    (ctx_a, a), (ctx_b, b) = open_voice(talking_browser, url), open_voice(talking_browser, url)
    try:
        for page in (a, b):
            set_max_reply(page, 2)
            page.locator("#voice-start").click()
        for page in (a, b):                       # each session's first reply is its turn 1
            wait_until(lambda: any(t.startswith("[dialogue turn 1]") for t in bot_texts(page)), SLOW)
        b.locator("#voice-stop").click()
        b.locator("#voice-clear").click()
        wait_until(lambda: bot_texts(b) == [], 30)
        # A goes on (the question comes round again): its history has two turns now
        wait_until(lambda: any(t.startswith("[dialogue turn 2]") for t in bot_texts(a)), SLOW)
        assert bot_texts(b) == []                 # B's clear did not touch A, nor A's turn B
    finally:
        for page, ctx in ((a, ctx_a), (b, ctx_b)):
            page.locator("#voice-stop").click()
            ctx.close()
