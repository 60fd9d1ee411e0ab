"""A voice prompt given as codes (EncodedAudio: a saved voice, a long text's first segment) is used
as it is: the same prompt and tokens as the waveform it was encoded from, and no codec call."""

from __future__ import annotations

import numpy as np
import pytest

from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import AudioInputError, InputTooLongError
from mimo_core.tasks import DialogueRequest, EncodedAudio, GenerationOptions, Limits, MimoAudio, TTSRequest


@pytest.fixture(scope="module")
def mimo(tiny):
    m = MimoAudio(instruct="tiny", base=None, tokenizer="tiny")
    yield m
    m.close()


def voice() -> np.ndarray:
    t = np.arange(int(1.2 * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.2 * np.sin(2 * np.pi * (150 + 40 * t) * t)).astype(np.float32)


def test_codes_stand_for_their_waveform_and_skip_the_codec(mimo, monkeypatch):
    wav = voice()
    codes = mimo.models.audio_tokenizer().encode(wav).numpy()                    # (20, T)
    opts = GenerationOptions(seed=11, max_new_groups=6)
    from_wave = mimo.run(TTSRequest("Hello there.", voice_prompt=wav, options=opts))
    calls = []
    tokenizer = mimo.models.audio_tokenizer()
    monkeypatch.setattr(type(tokenizer), "encode", lambda self, w: calls.append(w))
    from_codes = mimo.run(TTSRequest("Hello there.", voice_prompt=EncodedAudio(codes, audio=wav), options=opts))
    assert calls == []
    np.testing.assert_array_equal(from_codes.tokens, from_wave.tokens)


def test_dialogue_takes_an_encoded_voice_prompt(mimo):
    codes = mimo.models.audio_tokenizer().encode(voice()).numpy()[:8]
    result = mimo.run(DialogueRequest(voice(), voice_prompt=EncodedAudio(codes),
                                      options=GenerationOptions(seed=3, max_new_groups=4)))
    assert result.new_groups >= 1


@pytest.mark.parametrize("codes, error, match", [
    (np.zeros((4, 10), dtype=np.int64), AudioInputError, "integer codes"),
    (np.zeros((8, 0), dtype=np.int64), AudioInputError, "integer codes"),
    (np.zeros((8, 10), dtype=np.float32), AudioInputError, "integer codes"),
    (np.zeros((8, 25 * 61), dtype=np.int64), InputTooLongError, "61.0 s long"),
])
def test_bad_codes_are_refused_before_any_work(mimo, codes, error, match):
    limited = MimoAudio(instruct="tiny", base=None, tokenizer="tiny", limits=Limits(max_audio_seconds=60))
    try:
        with pytest.raises(error, match=match):
            limited.prepare(TTSRequest("Hi.", voice_prompt=EncodedAudio(codes)))
    finally:
        limited.close()
