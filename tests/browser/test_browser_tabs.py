"""Every tab driven in headless Chromium against the app serving the real ``tiny`` model:
fill the inputs, run, get output; streaming, Stop, separate sessions, bad input.
Screenshots of every tab go to docs/screenshots/ (the README uses them)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ui_helpers import wait_until

pytestmark = pytest.mark.browser

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DONE = re.compile(r"^Done: (\d+) positions generated")


def open_tab(page, label: str, elem_id: str):
    page.get_by_role("tab", name=label, exact=True).click()
    tab = page.locator(f"#{elem_id}")
    tab.wait_for(state="visible")
    return tab


def upload(tab, clip, index: int = 0) -> None:
    """Upload into the index-th empty audio input; waits until it shows the clip."""
    inputs = tab.locator("input[type=file]")
    before = inputs.count()
    inputs.nth(index).set_input_files(str(ASSETS / clip))
    wait_until(lambda: inputs.count() < before)          # the drop zone became a player


def advanced(tab, *, seed=None, min_s=None, max_s=None) -> None:
    """Open the advanced panel (if closed) and set the seed / length fields given."""
    if not tab.get_by_label("Seed (empty = random)").is_visible():
        tab.get_by_text("Advanced settings (sampling, seed, length)").click()
    for label, value in (("Seed (empty = random)", seed),
                         ("Minimum length, seconds (empty = task default)", min_s),
                         ("Maximum length, seconds (empty = until the model stops)", max_s)):
        if value is not None:
            tab.get_by_label(label).fill(str(value))


def status_of(tab) -> str:
    return tab.locator("div.prose.run-status").first.inner_text().strip()


def wait_done(tab, timeout_s: float = 90) -> int:
    text = wait_until(lambda: DONE.match(status_of(tab)) and status_of(tab), timeout_s)
    return int(DONE.match(text).group(1))


def full_audio_bytes(page, tab) -> bytes:
    """Fetch the downloadable full-audio file the tab offers."""
    link = tab.locator("div.block.full-audio a[data-testid=download-link]")
    link.wait_for(state="attached")
    href = link.get_attribute("href")
    assert href and href.endswith(".wav"), href
    body = page.request.get(href).body()
    assert body[:4] == b"RIFF"
    return body


def assert_audio(page, tab) -> None:
    body = full_audio_bytes(page, tab)
    assert len(body) > 44 + 2 * 960                  # a header and at least one codec frame
    player = tab.locator("div.block.full-audio audio[src]").first      # the waveform's player
    wait_until(lambda: player.get_attribute("src"))


def shot(page, screenshots, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def text_of(tab) -> str:
    return tab.locator("div.out-text textarea, .out-text textarea").first.input_value()


# ------------------------------------------------------------------------------ every tab
def test_speech_continuation(page, screenshots):
    tab = open_tab(page, "Speech Continuation", "tab-continue")
    upload(tab, "speech_fox.flac")
    tab.get_by_role("button", name="Continue", exact=True).click()
    assert wait_done(tab) > 0
    assert_audio(page, tab)
    shot(page, screenshots, "continuation")


def test_few_shot_speech_to_speech(page, screenshots):
    tab = open_tab(page, "Few-shot Speech-to-Speech", "tab-s2s")
    # the first preset's two pairs and query are filled in; switch preset and back
    tab.get_by_label("Preset").click()
    page.get_by_role("option", name="Denoising").click()
    wait_until(lambda: "noise" in tab.get_by_label("Instruction").input_value())
    tab.get_by_role("button", name="Add example").click()
    wait_until(lambda: tab.get_by_text("Example 3: input").is_visible())
    tab.get_by_role("button", name="Remove example").click()
    wait_until(lambda: not tab.get_by_text("Example 3: input").is_visible())
    advanced(tab, seed=1, max_s=4)
    tab.get_by_role("button", name="Convert", exact=True).click()
    assert wait_done(tab) > 0
    assert_audio(page, tab)
    shot(page, screenshots, "few_shot")


def test_text_to_speech_every_mode(page, screenshots):
    tab = open_tab(page, "Text-to-Speech", "tab-tts")
    advanced(tab, seed=3, min_s=1, max_s=3)
    tab.locator("#tts-text textarea").fill("Hello from the browser test.")
    for mode in ("plain", "style instruction", "voice prompt", "natural instruction"):
        tab.get_by_label(mode, exact=True).check()
        if mode == "style instruction":
            tab.get_by_label("Style instruction", exact=True).fill("whispering")
        if mode == "voice prompt":
            upload(tab, "voice_prompt_female.flac")
        tab.get_by_role("button", name="Speak", exact=True).click()
        wait_until(lambda: status_of(tab).startswith(("Waiting", "Generating")) or False, 10)
        assert wait_done(tab) >= 6                    # min 1 s = 7 positions; stops may cut it
        assert_audio(page, tab)
    shot(page, screenshots, "tts")


def test_asr(page, screenshots):
    tab = open_tab(page, "ASR", "tab-asr")
    upload(tab, "speech_fox.flac")
    advanced(tab, seed=1, min_s=1, max_s=4)
    tab.get_by_role("button", name="Transcribe", exact=True).click()
    assert wait_done(tab) >= 7
    assert text_of(tab)
    shot(page, screenshots, "asr")


def test_audio_understanding_with_thinking(page, screenshots):
    tab = open_tab(page, "Audio Understanding", "tab-understand")
    upload(tab, "speech_weather.flac")
    tab.get_by_label("Question about the audio").fill("What is the weather tomorrow?")
    tab.get_by_label("Let the model think first").check()
    advanced(tab, seed=1, min_s=1, max_s=4)
    tab.get_by_role("button", name="Ask", exact=True).click()
    assert wait_done(tab) >= 7
    assert text_of(tab)
    shot(page, screenshots, "understanding")


def _messages(tab, who: str) -> int:
    return tab.locator(f"[data-testid={who}]").count()


def test_spoken_dialogue_two_turns_and_clear(page, screenshots):
    tab = open_tab(page, "Spoken Dialogue", "tab-dialogue")
    advanced(tab, seed=2, min_s=1, max_s=3)
    for turn, clip in enumerate(("question_capital.flac", "question_story.flac"), start=1):
        upload(tab, clip)
        tab.get_by_role("button", name="Send", exact=True).click()
        wait_done(tab)
        wait_until(lambda: _messages(tab, "user") == turn)
        assert _messages(tab, "bot") >= turn
        assert_audio(page, tab)
    shot(page, screenshots, "spoken_dialogue")
    tab.get_by_role("button", name="Clear conversation").click()
    wait_until(lambda: _messages(tab, "user") == 0)


def test_speech_to_text_dialogue(page, screenshots):
    tab = open_tab(page, "Speech-to-Text Dialogue", "tab-s2t")
    upload(tab, "question_capital.flac")
    advanced(tab, seed=1, min_s=1, max_s=3)
    tab.get_by_role("button", name="Send", exact=True).click()
    wait_done(tab)
    wait_until(lambda: _messages(tab, "user") == 1 and _messages(tab, "bot") == 1)
    shot(page, screenshots, "speech_to_text_dialogue")


def test_text_chat(page, screenshots):
    tab = open_tab(page, "Text Chat", "tab-chat")
    advanced(tab, seed=1, min_s=1, max_s=3)
    box = tab.locator("#chat-text textarea")
    for turn, message in enumerate(("Hello!", "Tell me more."), start=1):
        box.fill(message)
        tab.get_by_role("button", name="Send", exact=True).click()
        wait_done(tab)
        wait_until(lambda: _messages(tab, "user") == turn and box.input_value() == "")
    assert tab.locator("[data-testid=user]").first.inner_text().strip() == "Hello!"
    shot(page, screenshots, "text_chat")


def test_model_tab_load_and_unload(page, screenshots):
    tab = open_tab(page, "Model", "tab-model")
    status = tab.locator("#model-status")
    wait_until(lambda: "models / instruct / loaded" in status.inner_text())
    tab.get_by_role("button", name="Unload Base", exact=True).click()
    wait_until(lambda: re.search(r"models / base / loaded\s+False", status.inner_text()))
    tab.get_by_role("button", name="Load Base", exact=True).click()
    wait_until(lambda: re.search(r"models / base / loaded\s+True", status.inner_text()), 60)
    assert "device" in status.inner_text() and "dtype" in status.inner_text()
    shot(page, screenshots, "model")


# ------------------------------------------------------------------------------ streaming
def test_live_audio_starts_before_generation_ends_and_stop_cancels(page):
    tab = open_tab(page, "Text-to-Speech", "tab-tts")
    advanced(tab, seed=5, min_s=60, max_s=60)            # 375 positions: several seconds on CPU
    tab.locator("#tts-text textarea").fill("A long one, to be stopped.")
    tab.get_by_role("button", name="Speak", exact=True).click()
    link = tab.locator("div.block.live-audio a[data-testid=download-link]")
    wait_until(lambda: link.count() and "/stream/" in (link.get_attribute("href") or ""), 30, 0.05)
    playlist = link.get_attribute("href").replace("playlist-file", "playlist.m3u8")

    def live_segments():
        """(audio segments served so far, stream still open, status) while it generates."""
        body = page.request.get(playlist).text()
        return body.count("#EXTINF"), "#EXT-X-ENDLIST" not in body, status_of(tab)

    segments, open_, status = wait_until(lambda: (s := live_segments())[0] and s, 30, 0.05)
    progress = re.match(r"Generating\.\.\. (\d+)/(\d+)", status)
    assert open_ and progress, (open_, status)
    assert int(progress.group(1)) < int(progress.group(2)) == 375    # audio plays, generation goes on
    t0 = time.monotonic()
    tab.get_by_role("button", name="Stop", exact=True).click()
    wait_until(lambda: status_of(tab) == "Stopped.", 15)
    assert time.monotonic() - t0 < 10
    assert_audio(page, tab)                               # what was made is downloadable
    # the app keeps serving: a short run completes
    advanced(tab, min_s=0.5, max_s=1)
    tab.get_by_role("button", name="Speak", exact=True).click()
    assert wait_done(tab) <= 7


# ------------------------------------------------------------------------------ sessions
def test_two_browser_sessions_keep_separate_dialogues(browser, app_url):
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    try:
        tabs = []
        for ctx in contexts:
            page = ctx.new_page()
            page.goto(app_url)
            tab = open_tab(page, "Spoken Dialogue", "tab-dialogue")
            advanced(tab, seed=1, min_s=1, max_s=2)
            upload(tab, "question_capital.flac")
            tabs.append(tab)
        for tab in tabs:                                  # both run at once
            tab.get_by_role("button", name="Send", exact=True).click()
        for tab in tabs:
            wait_done(tab)
        a, b = tabs
        upload(a, "question_story.flac")
        a.get_by_role("button", name="Send", exact=True).click()
        wait_until(lambda: _messages(a, "user") == 2, 60)
        wait_done(a)
        assert _messages(b, "user") == 1
        # b's next turn builds on b's history only
        upload(b, "question_story.flac")
        b.get_by_role("button", name="Send", exact=True).click()
        wait_until(lambda: _messages(b, "user") == 2, 60)
        assert _messages(a, "user") == 2
    finally:
        for ctx in contexts:
            ctx.close()


# ------------------------------------------------------------------------------ bad input
def expect_error(page, pattern: str) -> None:
    """Wait for an error toast matching ``pattern`` (toasts stack, so search them all)."""
    toasts = page.locator("[data-testid=toast-body]")
    wait_until(lambda: any(re.search(pattern, t) for t in toasts.all_inner_texts()), 20)


def test_bad_input_shows_a_readable_error_and_the_app_keeps_serving(page, tmp_path):
    tab = open_tab(page, "Text-to-Speech", "tab-tts")
    tab.get_by_role("button", name="Speak", exact=True).click()            # no text
    expect_error(page, "the text is empty")
    tab.locator("#tts-text textarea").fill("x" * 4001)                    # over-long
    tab.get_by_role("button", name="Speak", exact=True).click()
    expect_error(page, "4001 characters; the limit is 4000")

    tab = open_tab(page, "ASR", "tab-asr")
    tab.get_by_role("button", name="Transcribe", exact=True).click()      # no audio
    expect_error(page, "the audio to transcribe is missing")
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio")
    upload(tab, bad)                                                      # corrupt file
    tab.get_by_role("button", name="Transcribe", exact=True).click()
    expect_error(page, "the audio to transcribe: cannot read audio")

    tab = open_tab(page, "Text Chat", "tab-chat")                          # still serving
    tab.locator("#chat-text textarea").fill("Still there?")
    tab.get_by_role("button", name="Send", exact=True).click()
    wait_done(tab)
