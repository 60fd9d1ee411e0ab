"""Web handlers over a fake model: readable errors, streaming, Stop, per-session state."""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from app.handlers import MAX_EXAMPLE_ROWS, Handlers
from app.handler_base import status_markdown
from app.inputs import options_from
from tests.browser.fake_backend import CHUNK, FakeMimoAudio
from mimo_core.constants import SAMPLE_RATE
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.types import S2SRequest, TTSRequest

SAMPLER = (False, None, None, None, None, None, None, None)   # every advanced setting at its default


def session(name: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=name)


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMO_APP_TMP", str(tmp_path / "out"))


@pytest.fixture
def fake():
    return FakeMimoAudio(groups=6, step_s=0.0)


@pytest.fixture
def h(fake):
    return Handlers(fake, presets={})


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "speech.wav"
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sf.write(path, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), SAMPLE_RATE)
    return str(path)


def error_of(fn, *args) -> str:
    """The toast a handler shows for these arguments (generators are drained)."""
    with pytest.raises(gr.Error) as info:
        out = fn(*args)
        if hasattr(out, "__next__"):
            list(out)
    return info.value.message


# ------------------------------------------------------------------------- bad input
def test_missing_audio_names_the_widget(h):
    msg = error_of(h.asr_api, None, None, "English", *SAMPLER)
    assert msg == "the audio to transcribe is missing: upload a file or record with the microphone"
    assert "is missing" in error_of(h.dialogue_stream, session("a"), None, None, "", None, *SAMPLER)


def test_corrupt_file_is_a_readable_error_not_a_traceback(h, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00this is not audio at all")
    msg = error_of(h.asr_stream, session("a"), str(bad), "English", *SAMPLER)
    assert msg.startswith("the audio to transcribe")
    assert "\n" not in msg and "Traceback" not in msg


def test_empty_and_over_long_text(fake, wav):
    h = Handlers(fake, presets={}, limits=Limits(max_text_chars=20))
    assert error_of(h.tts_api, None, "   ", "plain", "", None, *SAMPLER) == "the text is empty"
    msg = error_of(h.tts_api, None, "x" * 21, "plain", "", None, *SAMPLER)
    assert "21 characters" in msg and "limit is 20" in msg
    assert "your message is empty" == error_of(h.chat_stream, session("a"), "", None, *SAMPLER)
    assert "the question is empty" == error_of(h.understand_api, None, wav, " ", False, *SAMPLER)


def test_the_backends_own_limits_apply(fake):
    fake.limits = Limits(max_text_chars=4)
    assert error_of(Handlers(fake, presets={}).tts_api, None, "hello", "plain", "", None,
                    *SAMPLER) == "the text has 5 characters; the limit is 4"
    assert Handlers(fake, presets={}, limits=Limits()).limits == Limits()    # explicit wins


def test_over_long_audio(fake, wav):
    h = Handlers(fake, presets={}, limits=Limits(max_audio_seconds=0.5))
    msg = error_of(h.asr_api, None, wav, "English", *SAMPLER)
    assert msg.startswith("the audio to transcribe") and "0.5" in msg
    assert fake.requests == []                   # rejected before reaching the model


def test_bad_settings_and_modes(h, wav):
    assert "seed" in error_of(h.tts_api, None, "hi", "plain", "", None, False, -3, *SAMPLER[2:])
    assert "seed must be a number, got 'abc'" in error_of(
        h.tts_api, None, "hi", "plain", "", None, False, "abc", *SAMPLER[2:])
    assert "minimum length 3 s is more than the maximum 2 s" in error_of(
        h.tts_api, None, "hi", "plain", "", None, False, None, 3, 2, None, None, None, None)
    assert "unknown TTS mode" in error_of(h.tts_api, None, "hi", "sing", "", None, *SAMPLER)
    assert "style instruction is empty" in error_of(h.tts_api, None, "hi", "style instruction", "", None, *SAMPLER)
    assert "voice prompt is missing" in error_of(h.tts_api, None, "hi", "voice prompt", "", None, *SAMPLER)
    assert "duration must be positive" in error_of(h.continue_api, None, wav, 0, *SAMPLER)


def test_model_errors_and_crashes_become_one_line_toasts_and_serving_goes_on(h, fake, wav):
    calls = {"n": 0}
    real_stream = fake.stream

    def flaky(request, cancel=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom\nsecond line")
        return real_stream(request, cancel)

    fake.stream = flaky
    msg = error_of(h.asr_stream, session("a"), wav, "English", *SAMPLER)
    assert msg == "internal error (RuntimeError: boom); see the server log"
    outputs = list(h.asr_stream(session("a"), wav, "English", *SAMPLER))
    assert outputs[-1][0].startswith("[asr turn 1]")


def test_html_in_messages_is_escaped(h):
    msg = error_of(h.preset_values, "<b>nope</b>")
    assert "<b>" not in msg and "&lt;b&gt;" in msg


# ------------------------------------------------------------------------- requests
def test_tts_modes_reach_the_model_as_typed_requests(h, fake, wav):
    h.tts_api(None, "Hello", "plain", "ignored", wav, *SAMPLER)
    h.tts_api(None, "Hello", "style instruction", "whisper", None, *SAMPLER)
    h.tts_api(None, "Hello", "voice prompt", "", wav, *SAMPLER)
    # the UI sends the optional numbers as text ("" = default)
    h.tts_api(None, "Say it sadly: bye", "natural instruction", "x", None, False, "7", "1", "2", "0.5",
              " 0.9 ", "0.8", "0.7")
    h.tts_api(None, "Hi", "plain", "", None, False, "", "", "", "", "", "", "")
    plain, style, voice, natural, _ = fake.requests
    assert all(isinstance(r, TTSRequest) for r in fake.requests)
    assert (plain.instruct, plain.voice_prompt, plain.natural) == (None, None, False)
    assert style.instruct == "whisper" and style.voice_prompt is None
    assert voice.instruct is None and voice.voice_prompt.shape == (SAMPLE_RATE,)
    assert natural.natural and natural.instruct is None
    o = natural.options
    assert fake.requests[-1].options.seed is None                     # empty seed = random
    assert (o.seed, o.min_new_groups, o.max_new_groups) == (7, 7, 13)
    assert (o.text_temperature, o.text_top_p) == (0.5, 0.9)
    assert (o.audio_temperature, o.audio_top_p) == (0.8, 0.7)


def test_seconds_become_positions_as_the_core_counts_them():
    # 1.12 s * 6.25 and 8.8 s * 6.25 are 7 and 55 up to float error: not 8 and 56
    o = options_from((False, None, "1.12", "8.8", None, None, None, None))
    assert (o.min_new_groups, o.max_new_groups) == (7, 55)
    assert (o.min_new_groups, o.max_new_groups) == (groups_for_seconds(1.12), groups_for_seconds(8.8))
    assert options_from((False, None, "0", "0.01", None, None, None, None)).max_new_groups == 1


def test_few_shot_uses_only_the_rows_in_use(h, fake, wav):
    rows = [wav, wav, "one", wav, wav, "two"] + [None, None, ""] * (MAX_EXAMPLE_ROWS - 2)
    h.s2s_api(None, wav, "Convert.", 2, *rows, *SAMPLER)
    req = fake.requests[-1]
    assert isinstance(req, S2SRequest) and [e.transcript for e in req.examples] == ["one", "two"]
    rows[4] = None
    assert error_of(h.s2s_api, None, wav, "Convert.", 2, *rows, *SAMPLER) == \
        "example 2's output audio is missing: upload a file or record with the microphone"
    assert "between 1 and" in error_of(h.s2s_api, None, wav, "Convert.", 0, *rows, *SAMPLER)


def test_presets_fill_every_example_widget():
    h = Handlers(FakeMimoAudio())
    assert set(h.presets) >= {"voice_conversion", "speech_translation"}
    values = h.preset_values("voice_conversion")
    instruction, guidance, count, *cells, query = values
    assert instruction == h.presets["voice_conversion"].instruction and guidance
    assert len(cells) == 3 * MAX_EXAMPLE_ROWS and count == 2
    assert cells[0].endswith("vc_in_1.flac") and cells[2] and cells[6] is None
    assert query.endswith("vc_in_3.flac")


# ------------------------------------------------------------------------- streaming
def test_audio_streams_in_chunks_then_offers_the_whole_file(h, fake):
    outputs = list(h.tts_stream(session("a"), "one two three", "plain", "", None, *SAMPLER))
    first, *middle, last = outputs
    assert first[3] == "Waiting for the model..."
    live = [o[0] for o in middle if o[0] is not None]
    assert len(live) == fake.groups                       # one playable chunk per position
    chunks = [sf.read(io.BytesIO(b), dtype="float32")[0] for b in live]
    assert all(c.shape == (CHUNK,) for c in chunks)
    assert middle[0][3].startswith("Generating... 1/6")
    assert last[0] is None and last[1] == "[tts turn 1] one two three"
    full, rate = sf.read(last[2], dtype="float32")
    assert rate == SAMPLE_RATE
    np.testing.assert_allclose(full, np.concatenate(chunks), atol=1 / 32767)
    assert last[3].startswith("Done: 6 positions") and "stop reason: length" in last[3]


def test_without_ffmpeg_no_live_chunks_but_the_final_audio(fake):
    h = Handlers(fake, presets={}, stream_audio=False)
    outputs = list(h.tts_stream(session("a"), "hi", "plain", "", None, *SAMPLER))
    assert all(o[0] is None for o in outputs) and outputs[-1][2].endswith(".wav")


def test_stop_cancels_only_that_sessions_run(fake):
    fake.groups, fake.step_s = 200, 0.005
    h = Handlers(fake, presets={})
    a = h.tts_stream(session("a"), "a", "plain", "", None, *SAMPLER)
    b = h.tts_stream(session("b"), "b", "plain", "", None, *SAMPLER)
    next(a), next(a), next(b), next(b)            # both are generating
    h.stop("tts")(session("a"))
    a_rest, b_rest = list(a), list(b)
    assert a_rest[-1][3] == "Stopped."
    assert sum(o[0] is not None for o in a_rest) < 20     # ended promptly
    assert b_rest[-1][3].startswith("Done: 200 positions")
    assert a_rest[-1][2] is not None                      # what was made is still downloadable


def test_stop_of_a_queued_run_does_nothing_to_others(h):
    h.stop("asr")(session("nobody"))                      # no run: no error


# ------------------------------------------------------------------------- sessions
def test_each_session_keeps_its_own_dialogue(h, wav):
    def turn(name, conv):
        *_, last, cleared = list(h.dialogue_stream(session(name), wav, None, "Be brief.", conv, *SAMPLER))
        chat, _live, full, status, conv, keep = last
        assert keep == gr.skip() and cleared[5] is None     # the message box empties at the end
        return chat, conv, full

    chat_a1, conv_a, _ = turn("a", None)
    chat_b1, conv_b, _ = turn("b", None)
    chat_a2, conv_a2, full = turn("a", conv_a)
    assert [t.role for t in conv_a2.turns] == ["user", "assistant"] * 2
    assert [t.role for t in conv_b.turns] == ["user", "assistant"]
    assert "turn 2" in conv_a2.turns[-1].text and "turn 1" in conv_b.turns[-1].text
    assert conv_a.turns == conv_a2.turns[:2]              # values: the old state is unchanged
    assert sum(m["role"] == "assistant" for m in chat_a2) == 4   # text + audio per answer
    assert full.endswith(".wav")


def test_a_dialogue_turn_writes_only_its_own_audio(h, wav, monkeypatch):
    import app.conversation as conversation
    written = []

    def counting(audio, *args):
        path = real(audio, *args)
        written.append(path)
        return path

    real = conversation.audio_file
    *_, first, _ = list(h.dialogue_stream(session("a"), wav, None, "", None, *SAMPLER))
    monkeypatch.setattr(conversation, "audio_file", counting)
    *_, second, _ = list(h.dialogue_stream(session("a"), wav, None, "", first[4], *SAMPLER))
    chat, _live, full, _status, conv, _ = second
    # 2 past turns drawn once for the view, then the 2 new ones; the reply's file is reused
    assert len(written) == 4 and full == written[-1]
    assert chat[:len(first[0])] == first[0] and len(conv.turns) == 4
    assert chat[-1]["content"]["path"] == full


def test_conversation_from_another_tab_is_refused(h, wav):
    *_, answered, _cleared = list(h.chat_stream(session("a"), "hi", None, *SAMPLER))
    chat_conv = answered[2]
    assert "belongs to the 'chat' tab" in error_of(h.s2t_stream, session("a"), wav, chat_conv, *SAMPLER)


def test_stopped_dialogue_turn_is_left_out_of_the_history(fake, wav):
    fake.groups, fake.step_s = 100, 0.005
    h = Handlers(fake, presets={})
    gen = h.dialogue_stream(session("a"), wav, None, "", None, *SAMPLER)
    next(gen), next(gen)
    threading.Timer(0.05, h.stop("dialogue"), args=(session("a"),)).start()
    *_, last, _cleared = list(gen)
    assert last[3] == "Stopped." and last[4] is None and last[0] == []


def test_chat_clears_the_textbox_only_at_the_end(h):
    outputs = list(h.chat_stream(session("a"), "hello", None, *SAMPLER))
    assert outputs[-1][3] == "" and all(o[3] != "" for o in outputs[:-1])


def test_status_table_flattens_nested_dicts():
    table = status_markdown({"device": "cpu", "models": {"instruct": {"loaded": True}}, "x": 0.5})
    assert "| models / instruct / loaded | True |" in table and "| x | 0.5 |" in table
