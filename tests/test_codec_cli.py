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
