"""The ``codec`` command through its own parser (the entry point registers the same one)."""

import argparse

import numpy as np
import pytest
import soundfile as sf
import torch

from mimo_core.cli import codec as codec_cli
from mimo_core.codec import load_audio_tokenizer
from mimo_core.codec.tiny import write_tiny_audio_tokenizer


def run(argv):
    parser = argparse.ArgumentParser()
    codec_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_audio_tokenizer(tmp_path_factory.mktemp("tiny_cli"))


@pytest.fixture()
def audio_file(tmp_path):
    t = np.arange(30000) / 44100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], 1)
    path = tmp_path / "in.flac"
    sf.write(str(path), stereo, 44100)
    return path


def test_encode_then_decode(tiny_dir, audio_file, tmp_path, capsys):
    codes_path, wav_path = tmp_path / "codes.npy", tmp_path / "out.wav"
    assert run(["codec", "encode", str(audio_file), "--tokenizer-path", str(tiny_dir), "--out", str(codes_path)]) == 0
    codes = np.load(codes_path)
    assert codes.dtype == np.int64 and codes.shape[1] == 20
    tokenizer = load_audio_tokenizer(tiny_dir)
    from mimo_core.audio_io import load_audio

    assert np.array_equal(codes, tokenizer.encode(load_audio(audio_file)).numpy().T)
    assert run(["codec", "decode", str(codes_path), "--tokenizer-path", str(tiny_dir), "--out", str(wav_path)]) == 0
    data, sr = sf.read(str(wav_path), dtype="float32")
    assert sr == 24000 and data.shape == (codes.shape[0] * 960,)
    expected = tokenizer.decode(torch.from_numpy(codes[:, :8].T)).numpy()
    np.testing.assert_allclose(data, np.clip(expected, -1, 1), atol=1 / 32767 + 1e-6)
    assert "wrote" in capsys.readouterr().out


def test_bf16_encode_runs(tiny_dir, audio_file, tmp_path):
    out = tmp_path / "c.npy"
    assert run(["codec", "encode", str(audio_file), "--tokenizer-path", str(tiny_dir), "--out", str(out),
                "--dtype", "bfloat16"]) == 0
    assert np.load(out).shape[1] == 20


def test_tokenizer_path_tiny(tiny, audio_file, tmp_path):
    """``--tokenizer-path tiny`` means the tiny cache's audio tokenizer, as in every other command."""
    out = tmp_path / "c.npy"
    assert run(["codec", "encode", str(audio_file), "--tokenizer-path", "tiny", "--out", str(out)]) == 0
    from mimo_core.audio_io import load_audio

    expected = load_audio_tokenizer(tiny / "audio_tokenizer").encode(load_audio(audio_file)).numpy().T
    assert np.array_equal(np.load(out), expected)


@pytest.mark.parametrize("argv,message", [
    (["codec", "decode", "{tmp}/none.npy", "--tokenizer-path", "{tiny}", "--out", "{tmp}/o.wav"], "codes file not found"),
    (["codec", "encode", "{tmp}/none.wav", "--tokenizer-path", "{tiny}", "--out", "{tmp}/c.npy"], "audio file not found"),
    (["codec", "encode", "{audio}", "--tokenizer-path", "{tmp}/nowhere", "--out", "{tmp}/c.npy"], "not found"),
    (["codec", "decode", "{tmp}/float.npy", "--tokenizer-path", "{tiny}", "--out", "{tmp}/o.wav"], "integer array"),
])
def test_errors_are_one_line_and_status_1(tiny_dir, audio_file, tmp_path, capsys, argv, message):
    np.save(tmp_path / "float.npy", np.zeros((4, 8), np.float32))
    argv = [a.format(tmp=tmp_path, tiny=tiny_dir, audio=audio_file) for a in argv]
    assert run(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_resampler_choices_are_audio_ios():
    from mimo_core import audio_io

    assert codec_cli.RESAMPLERS == audio_io.RESAMPLERS


def test_encode_resampler_soxr_is_an_opt_in(tiny_dir, audio_file, tmp_path):
    from mimo_core.audio_io import load_audio

    out = tmp_path / "soxr.npy"
    assert run(["codec", "encode", str(audio_file), "--tokenizer-path", str(tiny_dir), "--out", str(out),
                "--resampler", "soxr"]) == 0
    expected = load_audio_tokenizer(tiny_dir).encode(load_audio(audio_file, resampler="soxr")).numpy().T
    assert np.array_equal(np.load(out), expected)


def test_clip_shorter_than_the_stft_window_is_one_line(tiny_dir, tmp_path, capsys):
    """1 sample used to end in torch's reflect-padding RuntimeError and a traceback."""
    clip = tmp_path / "one.wav"
    sf.write(str(clip), np.zeros(1, np.float32), 24000)
    assert run(["codec", "encode", str(clip), "--tokenizer-path", str(tiny_dir), "--out", str(tmp_path / "c.npy")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "too short" in err and "at least 20.04 ms" in err
    assert not (tmp_path / "c.npy").exists()


@pytest.mark.parametrize("samples", [1, 480])
def test_tokenizer_encode_refuses_a_clip_shorter_than_the_stft_window(tiny_dir, samples):
    from mimo_core.errors import AudioInputError

    tokenizer = load_audio_tokenizer(tiny_dir)
    with pytest.raises(AudioInputError, match=r"too short: .* needs at least 481 \(20\.04 ms\)"):
        tokenizer.encode(torch.zeros(samples))
    assert tokenizer.encode(torch.zeros(481)).shape == (20, 1)


def silent_wav(path, seconds, sr=8000):
    """A silent 16-bit wav written in one-minute blocks (1801 s at 8 kHz: 29 MB, a fraction of a second)."""
    block = np.zeros(60 * sr, np.int16)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write(block)
        f.write(block[:(seconds % 60) * sr])
    return path


@pytest.mark.parametrize("extra", [[], ["--max-seconds", "4000"]])
def test_longer_than_the_tokenizers_max_audio_seconds_is_refused_before_decoding(
        tiny_dir, tmp_path, capsys, monkeypatch, extra):
    long_file = silent_wav(tmp_path / "long.wav", 1801)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the whole file was decoded before its length was checked")

    monkeypatch.setattr(sf, "read", no_decoding)
    out = tmp_path / "c.npy"
    assert run(["codec", "encode", str(long_file), "--tokenizer-path", str(tiny_dir), "--out", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1801.0 s long; the limit is 1800 s" in err
    assert not out.exists()


def test_max_seconds_below_the_tokenizers_limit_applies(tiny_dir, audio_file, tmp_path, capsys):
    assert run(["codec", "encode", str(audio_file), "--tokenizer-path", str(tiny_dir), "--out", str(tmp_path / "c.npy"),
                "--max-seconds", "0.5"]) == 1
    assert "the limit is 0.5 s" in capsys.readouterr().err
