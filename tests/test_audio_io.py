"""Audio I/O at the edges: formats, rates, channels, and one test per bad-input case."""

import io

import numpy as np
import pytest
import soundfile as sf

from mimo_core.audio_io import MIN_SAMPLES, load_audio, save_audio
from mimo_core.errors import AudioInputError, InputTooLongError

SR = 24000


def tone(seconds=0.5, sr=SR, freq=440.0, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, data, sr, fmt=None, subtype=None):
    sf.write(str(path), data, sr, format=fmt, subtype=subtype)
    return path


def test_wav_at_24k_round_trips(tmp_path):
    wav = load_audio(write(tmp_path / "a.wav", tone(), SR, subtype="FLOAT"))
    assert wav.dtype == np.float32 and wav.ndim == 1
    np.testing.assert_array_equal(wav, tone())


def test_other_rate_is_resampled_with_high_quality(tmp_path):
    wav = load_audio(write(tmp_path / "a.flac", tone(sr=44100), 44100))
    assert abs(len(wav) - SR // 2) <= 1
    np.testing.assert_allclose(wav[200:-200], tone()[200:len(wav) - 200], atol=2e-3)


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = tone(freq=300.0), tone(freq=500.0)
    wav = load_audio(write(tmp_path / "s.wav", np.stack([left, right], 1), SR, subtype="FLOAT"))
    np.testing.assert_allclose(wav, (left + right) / 2, atol=1e-7)


def test_ogg_bytes_and_arrays(tmp_path):
    buffer = io.BytesIO()
    sf.write(buffer, tone(), SR, format="OGG", subtype="VORBIS")
    assert load_audio(buffer.getvalue()).shape[0] == SR // 2
    assert load_audio((tone(sr=16000), 16000)).shape[0] == SR // 2
    assert load_audio((16000, tone(sr=16000))).shape[0] == SR // 2                       # gradio order
    np.testing.assert_array_equal(load_audio(tone()), tone())
    pcm = (tone() * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio((pcm, SR)), pcm / 32768.0, atol=1e-7)
    channels_first = np.stack([tone(), tone()])                                          # [2, N]
    np.testing.assert_allclose(load_audio((channels_first, SR)), tone(), atol=1e-7)


def test_unsigned_8bit_pcm_is_offset_binary():
    repeats = MIN_SAMPLES // 5 + 1                                   # long enough for the tokenizer
    pcm = np.tile(np.array([0, 64, 128, 192, 255], dtype=np.uint8), repeats)
    np.testing.assert_array_equal(load_audio((pcm, SR)),
                                  np.tile(np.array([-1.0, -0.5, 0.0, 0.5, 127 / 128], dtype=np.float32), repeats))
    with pytest.raises(AudioInputError, match="not a PCM format"):
        load_audio((np.zeros(10, np.uint16), SR))


def test_silence_is_valid(tmp_path):
    wav = load_audio(write(tmp_path / "z.wav", np.zeros(SR, np.float32), SR))
    assert wav.shape == (SR,) and not wav.any()


def test_missing_file():
    with pytest.raises(AudioInputError, match="not found"):
        load_audio("/no/such/file.wav")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)
    with pytest.raises(AudioInputError, match="cannot read audio"):
        load_audio(bad)


def test_unreadable_bytes():
    with pytest.raises(AudioInputError, match="cannot read audio"):
        load_audio(b"definitely not audio")


def test_zero_length_audio(tmp_path):
    with pytest.raises(AudioInputError, match="no audio samples"):
        load_audio(write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR))


def test_nan_samples():
    bad = tone()
    bad[10] = np.nan
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        load_audio((bad, SR))


def test_inf_samples():
    bad = tone()
    bad[10] = np.inf
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        load_audio(bad)


@pytest.mark.parametrize("rate", [500, 999, 400_000])
def test_absurd_sample_rate(rate):
    with pytest.raises(AudioInputError, match="unsupported sample rate"):
        load_audio((tone(sr=8000), rate))


def test_too_long(tmp_path):
    path = write(tmp_path / "long.wav", tone(seconds=2.0), SR)
    assert load_audio(path, max_seconds=2.0).shape == (2 * SR,)
    with pytest.raises(InputTooLongError, match="limit is 1.5 s"):
        load_audio(path, max_seconds=1.5)


def test_shorter_than_the_stft_window_needs_is_one_clear_error(tmp_path):
    """1 sample used to reach the codec and fail in torch's reflect padding with a traceback."""
    assert MIN_SAMPLES == 481                                        # nfft 960 -> reflect pad 480
    for source in [write(tmp_path / "one.wav", np.zeros(1, np.float32), SR), (np.zeros(MIN_SAMPLES - 1), SR),
                   (np.zeros(160, np.int16), 8000)]:                 # 160 samples at 8 kHz -> 480 at 24 kHz
        with pytest.raises(AudioInputError, match=r"too short: .* needs at least 20\.04 ms \(481 samples"):
            load_audio(source)
    assert load_audio((np.zeros(MIN_SAMPLES), SR)).shape == (MIN_SAMPLES,)
    assert load_audio((np.zeros(161, np.int16), 8000)).shape == (483,)


def test_task_inputs_refuse_a_clip_shorter_than_the_stft_window(tmp_path):
    """Every task loads its audio through load_input_audio: one line naming the input."""
    from mimo_core.tasks.inputs import load_input_audio
    from mimo_core.tasks.limits import Limits

    clip = write(tmp_path / "one.wav", np.zeros(1, np.float32), SR)
    with pytest.raises(AudioInputError, match=r"^voice prompt: .*too short: 0\.04 ms; .* at least 20\.04 ms"):
        load_input_audio(clip, "voice prompt", Limits())


def long_silent_wav(path, seconds, sr=8000):
    """A 16-bit silent wav written in blocks (cheap: 8 kHz, one block of zeros reused)."""
    block = np.zeros(60 * sr, np.int16)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(int(seconds) // 60):
            f.write(block)
        f.write(block[:int(seconds * sr) % len(block)])
    return path


def test_too_long_file_is_refused_before_decoding(tmp_path, monkeypatch):
    path = long_silent_wav(tmp_path / "long.wav", 1801)
    bytes_ = path.read_bytes()

    def no_decoding(*args, **kwargs):
        raise AssertionError("the whole file was decoded before its length was checked")

    monkeypatch.setattr(sf, "read", no_decoding)
    for source in (path, bytes_):
        with pytest.raises(InputTooLongError, match="1801.0 s long; the limit is 1800 s"):
            load_audio(source, max_seconds=1800)


def test_save_audio_wav_and_flac(tmp_path):
    for name in ("o.wav", "o.flac"):
        path = save_audio(tmp_path / name, tone())
        info = sf.info(str(path))
        assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"
        np.testing.assert_allclose(load_audio(path), tone(), atol=1e-4)
    with pytest.raises(AudioInputError, match=".wav or .flac"):
        save_audio(tmp_path / "o.mp4", tone())
