"""Web handlers over a fake model: readable errors, streaming, Stop, per-session state."""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from app.convert import MAX_EXAMPLE_ROWS, example_names
from app.handlers import Handlers
from app.handler_base import status_markdown
from app.inputs import options_from
from tests.browser.fake_backend import CHUNK, FakeMimoAudio
from mimo_core.constants import SAMPLE_RATE
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.limits import Limits
from mimo_core.tasks.types import S2SRequest, TTSRequest



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


def error_of(fn, *args, **values) -> str:
    """The toast a handler shows for these arguments (generators are drained)."""
    with pytest.raises(gr.Error) as info:
        out = fn(*args, **values)
        if hasattr(out, "__next__"):
            list(out)
    return info.value.message


# ------------------------------------------------------------------------- bad input
def test_missing_audio_names_the_widget(h):
    assert error_of(h.api("asr"), None, audio=None, language="English") == "audio is missing"
    assert error_of(h.api("asr"), None, language="English") == "audio is missing"      # omitted
    assert "is missing" in error_of(h.stream("dialogue"), session("a"), audio=None, system_prompt="")


def test_corrupt_file_is_a_readable_error_not_a_traceback(h, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00this is not audio at all")
    msg = error_of(h.stream("asr"), session("a"), audio=str(bad), language="English")
    assert msg.startswith("audio: cannot read audio")
    assert "\n" not in msg and "Traceback" not in msg


def test_empty_and_over_long_text(fake, wav):
    fake.limits = Limits(max_text_chars=20)
    h = Handlers(fake, presets={})
    assert error_of(h.api("tts"), None, text="   ", mode="plain") == "TTS text is empty"
    msg = error_of(h.api("tts"), None, text="x" * 21, mode="plain")
    assert "21 characters" in msg and "limit is 20" in msg
    assert "message is empty" == error_of(h.stream("chat"), session("a"), text="")
    assert "question is empty" == error_of(h.api("understand"), None, audio=wav, question=" ")


def test_the_backends_own_limits_apply(fake):
    fake.limits = Limits(max_text_chars=4)
    assert error_of(Handlers(fake, presets={}).api("tts"), None, text="hello",
                    mode="plain") == "TTS text has 5 characters; the limit is 4"
    assert Handlers(fake, presets={}).limits == Limits(max_text_chars=4)


def test_over_long_audio(fake, wav):
    fake.limits = Limits(max_audio_seconds=0.5)
    h = Handlers(fake, presets={})
    msg = error_of(h.api("asr"), None, audio=wav, language="English")
    assert msg.startswith("audio is 1.0 s long") and "0.5" in msg
    assert fake.requests == []                   # rejected before reaching the model


def test_bad_settings_and_modes(h, wav):
    tts = h.api("tts")
    assert "seed" in error_of(tts, None, text="hi", mode="plain", seed=-3)
    assert "seed must be a number, got 'abc'" in error_of(tts, None, text="hi", seed="abc")
    assert "minimum length 3 s is more than the maximum 2 s" in error_of(
        tts, None, text="hi", min_seconds=3, max_seconds=2)
    assert "unknown TTS mode" in error_of(tts, None, text="hi", mode="sing")
    assert "style instruction is empty" in error_of(tts, None, text="hi", mode="style instruction")
    assert "voice prompt is missing" in error_of(tts, None, text="hi", mode="voice prompt", instruct="")
    assert "duration must be positive" in error_of(h.api("continue"), None, audio=wav, duration_s=0)
    assert "unknown inputs for tts: colour" in error_of(tts, None, text="hi", colour="red")


def test_model_errors_and_crashes_become_one_line_toasts_and_serving_goes_on(h, fake, wav):
    calls = {"n": 0}
    real_stream = fake.stream

    def flaky(request, cancel=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom\nsecond line")
        return real_stream(request, cancel)

    fake.stream = flaky
    msg = error_of(h.stream("asr"), session("a"), audio=wav, language="English")
    assert msg == "internal error (RuntimeError: boom); see the server log"
    outputs = list(h.stream("asr")(session("a"), audio=wav, language="English"))
    assert outputs[-1].text.startswith("[asr turn 1]")


def test_html_in_messages_is_escaped(h):
    msg = error_of(h.preset_values, "<b>nope</b>")
    assert "<b>" not in msg and "&lt;b&gt;" in msg


# ------------------------------------------------------------------------- requests
def test_tts_modes_reach_the_model_as_typed_requests(h, fake, wav):
    tts = h.api("tts")
    tts(None, text="Hello", mode="plain", instruct="ignored", voice_prompt=wav)
    tts(None, text="Hello", mode="style instruction", instruct="whisper", voice_prompt=None)
    tts(None, text="Hello", mode="voice prompt", instruct="", voice_prompt={"path": wav})
    # the UI sends the optional numbers as text ("" = default)
    tts(None, text="Say it sadly: bye", mode="natural instruction", instruct="x", voice_prompt=None,
        greedy=False, seed="7", min_seconds="1", max_seconds="2", text_temperature="0.5",
        text_top_p=" 0.9 ", audio_temperature="0.8", audio_top_p="0.7")
    tts(None, text="Hi", mode="plain", seed="", min_seconds="", max_seconds="")
    plain, style, voice, natural, _ = fake.requests
    assert all(isinstance(r, TTSRequest) for r in fake.requests)
    assert (plain.instruct, plain.voice_prompt, plain.natural) == (None, None, False)
    assert style.instruct == "whisper" and style.voice_prompt is None
    assert voice.instruct is None and voice.voice_prompt == wav          # the file; planning loads it
    assert natural.natural and natural.instruct is None
    o = natural.options
    assert fake.requests[-1].options.seed is None                     # empty seed = random
    assert (o.seed, o.min_new_groups, o.max_new_groups) == (7, 7, 13)
    assert (o.text.temperature, o.text.top_p) == (0.5, 0.9)
    assert (o.audio.temperature, o.audio.top_p) == (0.8, 0.7)


def test_seconds_become_positions_as_the_core_counts_them():
    # 1.12 s * 6.25 and 8.8 s * 6.25 are 7 and 55 up to float error: not 8 and 56
    o = options_from(min_seconds="1.12", max_seconds="8.8")
    assert (o.min_new_groups, o.max_new_groups) == (7, 55)
    assert (o.min_new_groups, o.max_new_groups) == (groups_for_seconds(1.12), groups_for_seconds(8.8))
    assert options_from(min_seconds="0", max_seconds="0.01").max_new_groups == 1


def _rows(wav, n=MAX_EXAMPLE_ROWS, **override):
    rows = {}
    for i in range(n):
        rows.update(dict(zip(example_names(i), (wav, wav, f"t{i + 1}"))))
    rows.update(override)
    return rows


def test_few_shot_uses_only_the_rows_in_use(h, fake, wav):
    s2s = h.api("s2s")
    s2s(None, audio=wav, instruction="Convert.", n_examples=2, **_rows(wav))
    req = fake.requests[-1]
    assert isinstance(req, S2SRequest) and [e.transcript for e in req.examples] == ["t1", "t2"]
    assert error_of(s2s, None, audio=wav, instruction="Convert.", n_examples=2,
                    **_rows(wav, example2_output=None)) == \
        "few-shot example 2 has no output audio (examples must be pairs)"
    assert "between 1 and" in error_of(s2s, None, audio=wav, instruction="C.", n_examples=0, **_rows(wav))


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
    outputs = list(h.stream("tts")(session("a"), text="one two three", mode="plain"))
    first, *middle, last = outputs
    assert first.status == "Waiting for the model..."
    live = [o.live for o in middle if o.live is not None]
    assert len(live) == fake.groups                       # one playable chunk per position
    chunks = [sf.read(io.BytesIO(b), dtype="float32")[0] for b in live]
    assert all(c.shape == (CHUNK,) for c in chunks)
    assert middle[0].status.startswith("Generating... 1/6")
    assert last.live is None and last.text == "[tts turn 1] one two three" and last.thinking == ""
    full, rate = sf.read(last.full, dtype="float32")
    assert rate == SAMPLE_RATE
    np.testing.assert_allclose(full, np.concatenate(chunks), atol=1 / 32767)
    assert last.status.startswith("Done: 6 positions") and "stop reason: length" in last.status


def test_reasoning_is_shown_apart_from_the_answer(h, fake, wav):
    fake.think = "first the tone"                         # the fake reasons before answering
    last = list(h.stream("understand")(session("a"), audio=wav, question="What is it?", thinking=True))[-1]
    assert last.thinking == "first the tone" and last.text.startswith("[understand turn 1]")
    answer, thinking = h.api("understand")(None, audio=wav, question="What is it?", thinking=True)
    assert (thinking, answer) == ("first the tone", last.text)
    *_, answered, _cleared = list(h.stream("chat")(session("a"), text="hi", thinking=True))
    chat = answered[0]
    assert chat[1]["metadata"] == {"title": "Thinking", "status": "done"}
    assert chat[1]["content"] == "first the tone" and chat[2]["content"].startswith("[chat turn 1]")
    assert fake.requests[-1].thinking is True


def test_without_ffmpeg_no_live_chunks_but_the_final_audio(fake):
    h = Handlers(fake, presets={}, stream_audio=False)
    outputs = list(h.stream("tts")(session("a"), text="hi", mode="plain"))
    assert all(o.live is None for o in outputs) and outputs[-1].full.endswith(".wav")


def test_stop_cancels_only_that_sessions_run(fake):
    fake.groups, fake.step_s = 200, 0.005
    h = Handlers(fake, presets={})
    a = h.stream("tts")(session("a"), text="a", mode="plain")
    b = h.stream("tts")(session("b"), text="b", mode="plain")
    next(a), next(a), next(b), next(b)            # both are generating
    h.stop("tts")(session("a"))
    a_rest, b_rest = list(a), list(b)
    assert a_rest[-1].status == "Stopped."
    assert sum(o.live is not None for o in a_rest) < 20     # ended promptly
    assert b_rest[-1].status.startswith("Done: 200 positions")
    assert a_rest[-1].full is not None                      # what was made is still downloadable


def test_stop_of_a_queued_run_does_nothing_to_others(h):
    h.stop("asr")(session("nobody"))                      # no run: no error


# ------------------------------------------------------------------------- sessions
DIALOGUE_FIELDS = ("chat", "live", "full", "status", "conversation", "message", "voice", "system")


def _dialogue_turn(h, name, conv, wav, **values):
    *_, last, cleared = list(h.stream("dialogue")(session(name), audio=wav, conversation=conv,
                                                  system_prompt="Be brief.", **values))
    return dict(zip(DIALOGUE_FIELDS, last)), dict(zip(DIALOGUE_FIELDS, cleared))


def test_each_session_keeps_its_own_dialogue(h, wav):
    def turn(name, conv):
        last, cleared = _dialogue_turn(h, name, conv, wav)
        assert last["message"] == gr.skip() and cleared["message"] is None   # emptied at the end
        return last["chat"], last["conversation"], last["full"]

    chat_a1, conv_a, _ = turn("a", None)
    chat_b1, conv_b, _ = turn("b", None)
    chat_a2, conv_a2, full = turn("a", conv_a)
    assert [t.role for t in conv_a2.turns] == ["user", "assistant"] * 2
    assert [t.role for t in conv_b.turns] == ["user", "assistant"]
    assert "turn 2" in conv_a2.turns[-1].text and "turn 1" in conv_b.turns[-1].text
    assert conv_a.turns == conv_a2.turns[:2]              # values: the old state is unchanged
    assert sum(m["role"] == "assistant" for m in chat_a2) == 4   # text + audio per answer
    assert full.endswith(".wav")


def test_first_turn_controls_lock_after_the_first_turn_and_reopen_on_clear(h, wav):
    last, _ = _dialogue_turn(h, "a", None, wav, voice_prompt=wav)
    assert last["voice"]["interactive"] is False and last["voice"]["value"] is None
    assert last["system"]["interactive"] is False
    # a program that sends another voice on a later turn is told, not ignored
    msg = error_of(h.stream("dialogue"), session("a"), audio=wav, conversation=last["conversation"],
                   voice_prompt=wav)
    assert msg.startswith("a voice prompt applies from the first turn")
    chat, full, status, conv, voice, system = h.clear_conversation("dialogue")
    assert (chat, conv, voice["interactive"], system["interactive"]) == ([], None, True, True)


def test_a_dialogue_turn_writes_only_its_own_audio(h, wav, monkeypatch):
    import app.conversation as conversation
    written = []

    def counting(audio, *args):
        path = real(audio, *args)
        written.append(path)
        return path

    real = conversation.audio_file
    first, _ = _dialogue_turn(h, "a", None, wav)
    monkeypatch.setattr(conversation, "audio_file", counting)
    second, _ = _dialogue_turn(h, "a", first["conversation"], wav)
    chat, full, conv = second["chat"], second["full"], second["conversation"]
    # 2 past turns drawn once for the view, then the 2 new ones; the reply's file is reused
    assert len(written) == 4 and full == written[-1]
    assert chat[:len(first["chat"])] == first["chat"] and len(conv.turns) == 4
    assert chat[-1]["content"]["path"] == full


def test_conversation_from_another_tab_is_refused(h, wav):
    *_, answered, _cleared = list(h.stream("chat")(session("a"), text="hi"))
    chat_conv = answered[2]
    assert "belongs to the 'chat' tab" in error_of(h.stream("s2t"), session("a"), audio=wav,
                                                   conversation=chat_conv)


def test_stopped_dialogue_turn_is_left_out_of_the_history(fake, wav):
    fake.groups, fake.step_s = 100, 0.005
    h = Handlers(fake, presets={})
    gen = h.stream("dialogue")(session("a"), audio=wav, system_prompt="")
    next(gen), next(gen)
    threading.Timer(0.05, h.stop("dialogue"), args=(session("a"),)).start()
    last = dict(zip(DIALOGUE_FIELDS, list(gen)[-1]))
    assert last["status"] == "Stopped." and last["conversation"] is None and last["chat"] == []


def test_chat_clears_the_textbox_only_at_the_end(h):
    outputs = list(h.stream("chat")(session("a"), text="hello"))
    assert outputs[-1][3] == "" and all(o[3] != "" for o in outputs[:-1])


def test_status_table_flattens_nested_dicts():
    table = status_markdown({"device": "cpu", "models": {"instruct": {"loaded": True}}, "x": 0.5})
    assert "| models / instruct / loaded | True |" in table and "| x | 0.5 |" in table


def test_stop_pressed_after_the_model_finished_still_reads_stopped(fake):
    """The model may finish before the browser has shown it all: Stop then still stops."""
    fake.groups, fake.step_s = 3, 0.0
    h = Handlers(fake, presets={})
    run = h.stream("tts")(session("a"), text="quick", mode="plain")
    for _ in range(4):                        # "Waiting...", then all 3 groups: the model is done
        next(run)
    h.stop("tts")(session("a"))              # pressed before the result reached the browser
    rest = list(run)
    assert rest[-1].status == "Stopped." and rest[-1].full is not None
