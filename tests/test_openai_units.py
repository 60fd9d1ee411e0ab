"""The OpenAI API's pure parts, without a server: field parsing, audio encoding, voices, model
ids, message routing, limits and the audio cache. (The reasoning is split from the answer by
the model's one output reader, not here: tests/test_thinking.py.)"""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
import soundfile as sf

from app.openai_api.admission import InFlight, ReadyGate, default_upload_cap
from app.openai_api.audio import (FILE_FORMATS, decode_base64, encode, pcm16, streaming_wav_header)
from app.openai_api.audio_cache import AudioCache
from app.openai_api.catalog import Catalog
from app.openai_api.chat import Message, build_request, read_messages
from app.openai_api.errors import ApiError, from_mimo_error
from app.openai_api.params import check_speed, language_code, options
from app.openai_api.voices import Voices
from mimo_core.errors import AudioInputError, InputTooLongError, ModelLoadError
from mimo_core.sampler_config import SamplerOverride
from mimo_core.tasks import (ChatRequest, DialogueRequest, GenerationOptions, S2TRequest,
                             UnderstandRequest)

from .openai_support import tone, wav_b64


@pytest.mark.parametrize("fmt", sorted(FILE_FORMATS))
def test_encoded_formats_decode_to_24k_audio_of_the_same_length(fmt):
    audio = tone(1.0)
    data, rate = sf.read(io.BytesIO(encode(audio, fmt)), dtype="float32")
    assert rate == 24_000
    # lossy codecs pad or trim a few ms at the edges (mp3: decoder delay)
    assert abs(len(data) - len(audio)) < 0.1 * 24_000
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(data, audio, atol=1 / 32767 + 1e-6)


def test_pcm16_and_streaming_wav_header_read_back():
    audio = tone(0.5)
    raw = pcm16(audio)
    assert len(raw) == 2 * len(audio)
    data, rate = sf.read(io.BytesIO(streaming_wav_header() + raw), dtype="float32")
    assert rate == 24_000 and len(data) == len(audio)
    assert np.abs(data - audio).max() < 1e-4


def test_decode_base64_accepts_data_uris_and_refuses_urls_and_junk():
    raw = b"RIFF1234"
    b64 = base64.b64encode(raw).decode()
    assert decode_base64(b64, "x") == raw
    assert decode_base64(f"data:audio/wav;base64,{b64}", "x") == raw
    for bad in ("https://example.com/a.wav", "not base64!", "", None):
        with pytest.raises(ApiError) as err:
            decode_base64(bad, "x")
        assert err.value.status == 400 and err.value.param == "x"


def test_voices_openai_names_mean_default_and_unknown_lists_known(tmp_path):
    sf.write(tmp_path / "narrator.wav", tone(0.2), 24_000)
    voices = Voices.from_folder(tmp_path)
    assert voices.prompt("narrator") == tmp_path / "narrator.wav"
    assert voices.prompt({"id": "Narrator"}) == tmp_path / "narrator.wav"
    assert voices.prompt("alloy") is None and voices.prompt(None) is None
    with pytest.raises(ApiError) as err:
        voices.prompt("bob")
    assert err.value.status == 400 and "narrator" in err.value.message and "alloy" in err.value.message
    assert "female" in Voices.from_folder(None).names()          # our assets' voice prompt


def test_catalog_ids_aliases_and_statuses():
    catalog = Catalog.from_status({"models": {"instruct": {"configured": True},
                                              "base": {"configured": False}}})
    assert [m["id"] for m in catalog.listing()["data"]] == ["mimo-audio-instruct"]
    for name in ("mimo-audio-instruct", "XiaomiMiMo/MiMo-Audio-7B-Instruct", "MiMo-Audio-7B-Instruct"):
        assert catalog.role_of(name, needs="instruct", task="tts") == "instruct"
    for name, status in (("gpt-4o", 404), ("mimo-audio-base", 404), (None, 400)):
        with pytest.raises(ApiError) as err:
            catalog.role_of(name, needs="instruct", task="tts")
        assert err.value.status == status


def test_fields_speed_language_options():
    check_speed({"speed": 1.0})
    with pytest.raises(ApiError, match="speed"):
        check_speed({"speed": 1.5})
    assert [language_code(x) for x in ("zh", "zh-CN", "ZH_tw", "en", "fr", None)] == \
        ["zh", "zh", "zh", "en", "en", None]
    opts = options({"temperature": 0.7, "top_p": 0.9, "seed": 3, "max_tokens": 12})
    assert opts == GenerationOptions(seed=3, max_new_groups=12, text=SamplerOverride(temperature=0.7, top_p=0.9))
    # temperature 0 is argmax for that sampler alone (as vLLM reads it; ASR's greedy text with
    # sampled audio travels so); "0" as a multipart form sends it
    assert options({"temperature": 0, "audio_temperature": 0.5}) == \
        GenerationOptions(text=SamplerOverride(greedy=True), audio=SamplerOverride(temperature=0.5))
    assert options({"audio_temperature": "0"}) == GenerationOptions(audio=SamplerOverride(greedy=True))
    for bad in ({"temperature": -0.1}, {"audio_temperature": -1}, {"top_p": 2}, {"seed": "x"},
                {"max_tokens": 0}, {"seed": 1.5}):
        with pytest.raises(ApiError) as err:
            options(bad)
        assert err.value.status == 400 and err.value.param == next(iter(bad))


def test_mimo_errors_map_to_statuses():
    assert from_mimo_error(AudioInputError("bad")).status == 400
    assert from_mimo_error(InputTooLongError("long")).status == 413
    assert from_mimo_error(ModelLoadError("gone")).status == 503


def _msgs(*raw):
    return read_messages(list(raw), AudioCache())


AUDIO_PART = {"type": "input_audio", "input_audio": {"data": wav_b64(0.2), "format": "wav"}}


def test_routing_by_what_the_messages_hold():
    opts = GenerationOptions()
    kw = dict(thinking=False, voice_prompt=None, options=opts)
    text_only = _msgs({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    assert isinstance(build_request(text_only, wants_audio=False, **kw), ChatRequest)
    speech = _msgs({"role": "user", "content": [AUDIO_PART]})
    assert isinstance(build_request(speech, wants_audio=False, **kw), S2TRequest)
    spoken = build_request(_msgs({"role": "system", "content": "be brief"},
                                 {"role": "user", "content": [AUDIO_PART]}), wants_audio=True, **kw)
    assert isinstance(spoken, DialogueRequest) and spoken.system_prompt == "be brief"
    question = _msgs({"role": "user", "content": [AUDIO_PART, {"type": "text", "text": "what is it?"}]})
    assert isinstance(build_request(question, wants_audio=False, **kw), UnderstandRequest)
    with pytest.raises(ApiError, match="speech"):
        build_request(text_only, wants_audio=True, **kw)


def test_history_becomes_display_turns_and_system_audio_the_voice_prompt():
    cache = AudioCache()
    reply = tone(0.3)
    cache.put("audio_1", reply, "hello back")
    msgs = read_messages([
        {"role": "system", "content": [AUDIO_PART]},
        {"role": "user", "content": [AUDIO_PART]},
        {"role": "assistant", "audio": {"id": "audio_1"}},
        {"role": "user", "content": [AUDIO_PART]}], cache)
    req = build_request(msgs, wants_audio=True, thinking=False, voice_prompt="ignored",
                        options=GenerationOptions())
    turns = req.conversation.turns
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].text == "hello back" and turns[1].audio is not None
    assert isinstance(req.voice_prompt, bytes)                # the system message's clip
    with pytest.raises(ApiError, match="unknown or expired"):
        read_messages([{"role": "assistant", "audio": {"id": "audio_nope"}}], cache)


def test_audio_cache_expires_and_is_bounded():
    cache = AudioCache(ttl_s=0, max_items=2)
    cache.put("a", tone(0.1), "a")
    time.sleep(1.1)
    assert cache.get("a") is None
    cache = AudioCache(max_items=2)
    for key in "abc":
        cache.put(key, tone(0.1), key)
    assert cache.get("a") is None and cache.get("c").transcript == "c"


def test_in_flight_limit_and_ready_gate():
    limit = InFlight(1)
    slot = limit.acquire()
    with pytest.raises(ApiError) as err:
        limit.acquire()
    assert err.value.status == 429
    slot.release()
    slot.release()                                       # twice: counted once
    limit.acquire()
    gate = ReadyGate(lambda: (_ for _ in ()).throw(RuntimeError("no weights")))
    gate.start()
    time.sleep(0.2)
    with pytest.raises(ApiError, match="no weights") as err:
        gate.check()
    assert err.value.status == 503
    assert default_upload_cap(300.0) > 300 * 48_000 * 2 * 2


def test_messages_must_be_well_formed():
    for raw in ([], [{"role": "tool", "content": "x"}], [{"role": "user", "content": 3}],
                [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]):
        with pytest.raises(ApiError) as err:
            read_messages(raw, AudioCache())
        assert err.value.status == 400
    assert _msgs({"role": "user", "content": [{"type": "text", "text": "a"},
                                              {"type": "text", "text": "b"}]})[0] == Message("user", "a\nb")
