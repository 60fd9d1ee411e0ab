"""Streaming long recordings: exact blocks, seamless resampling, header refusal, corrupt files,
region reads, and that no read asks for more than a piece of the file."""

import math

import numpy as np
import pytest
import soundfile as sf
import soxr

from mimo_core.errors import AudioInputError, InputTooLongError
from mimo_core.longaudio.blocks import READ_S, SOXR_QUALITY, AudioBlocks, clock

SR = 24_000


def noise(seconds, rate, channels=1, seed=0):
    shape = (round(seconds * rate), channels) if channels > 1 else (round(seconds * rate),)
    return (0.3 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def set_flac_total_samples(path, total):
    """Rewrite the 36-bit total-samples field of a FLAC STREAMINFO block (bytes 18..25)."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0                      # STREAMINFO comes first
    field = int.from_bytes(data[18:26], "big")
    data[18:26] = ((field & ~((1 << 36) - 1)) | total).to_bytes(8, "big")
    path.write_bytes(bytes(data))


def test_clock():
    assert clock(0) == "0:00" and clock(59.99) == "0:59" and clock(750.9) == "12:30"
    assert clock(7200) == "2:00:00" and clock(10_800) == "3:00:00" and clock(7200.2, round_up=True) == "2:00:01"


def test_24k_blocks_are_the_files_samples(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, noise(7.3, SR), SR, subtype="PCM_16")
    audio = AudioBlocks(path, block_s=2.0)
    blocks = list(audio)
    assert [len(b) for b in blocks] == [48_000, 48_000, 48_000, 31_200]
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    assert np.array_equal(np.concatenate(blocks), sf.read(path, dtype="float32")[0])
    assert audio.duration_s == 7.3 and audio.n_samples == 175_200 and audio.sample_rate == SR


def test_other_rates_stream_without_seams(tmp_path):
    path = tmp_path / "b.flac"
    sf.write(path, noise(6.1, 44_100, channels=2), 44_100, subtype="PCM_24")
    data = sf.read(path, dtype="float32")[0]
    whole = soxr.resample(data.mean(axis=1, dtype=np.float32), 44_100, SR, quality=SOXR_QUALITY)
    small, large = AudioBlocks(path, block_s=0.7), AudioBlocks(path, block_s=5.0)
    assert small.n_samples == len(whole) == round(len(data) * SR / 44_100)
    for audio in (small, large):
        blocks = list(audio)
        assert all(len(b) == audio.block_samples for b in blocks[:-1])
        assert np.array_equal(np.concatenate(blocks), whole)                 # bit-identical: no seams
    assert large.channels == 2 and math.isclose(large.duration_s, len(data) / 44_100)


def test_reads_are_bounded_to_a_piece(tmp_path, monkeypatch):
    path = tmp_path / "c.flac"
    sf.write(path, noise(12.0, 16_000), 16_000, subtype="PCM_16")
    asked, read = [], sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        asked.append(frames)
        return read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    peak = max(len(b) for b in AudioBlocks(path, block_s=3.0))
    assert asked and max(asked) == round(READ_S * 16_000) and -1 not in asked
    assert peak == 3 * SR


def test_a_too_long_recording_is_refused_from_its_header(tmp_path):
    path = tmp_path / "three_hours.flac"
    sf.write(path, noise(2.0, 8_000), 8_000, subtype="PCM_16")
    set_flac_total_samples(path, 3 * 3600 * 8_000)                       # a 2 s file claiming 3 hours
    assert path.stat().st_size < 50_000
    with pytest.raises(InputTooLongError) as info:
        AudioBlocks(path)
    assert str(info.value) == "recording is 3:00:00 long; the limit is 2:00:00"
    audio = AudioBlocks(path, max_seconds=None)                           # the header is all it read
    assert audio.duration_s == 10_800.0
    with pytest.raises(AudioInputError, match=r"^cannot read the recording at 0:0[12]: "):
        list(audio)


def test_a_corrupt_stretch_is_named_after_the_blocks_before_it(tmp_path):
    path = tmp_path / "d.flac"
    clean = noise(10.0, SR)
    sf.write(path, clean, SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = bytes(4000)
    path.write_bytes(bytes(data))
    got = []
    with pytest.raises(AudioInputError) as info:
        for block in AudioBlocks(path, block_s=1.0):
            got.append(block)
    assert str(info.value).startswith("cannot read the recording at 0:0")
    at = int(str(info.value).split("at 0:0")[1][0])
    assert 3 <= at <= 5 and len(got) == at                              # every block before it came out
    decoded = sf.read(path, dtype="float32", frames=at * SR)[0]
    assert np.array_equal(np.concatenate(got), decoded)
    assert "\n" not in str(info.value)


def test_a_truncated_flac_fails_at_its_end(tmp_path):
    path = tmp_path / "e.flac"
    sf.write(path, noise(8.0, SR), SR, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    audio = AudioBlocks(path, block_s=1.0)
    assert audio.duration_s == 8.0                                        # the header still says 8 s
    with pytest.raises(AudioInputError, match=r"cannot read the recording at 0:0[345]"):
        list(audio)


def test_a_truncated_wav_is_read_as_the_shorter_file(tmp_path):
    """libsndfile sizes a WAV's data from the file when the header claims more: no error."""
    path = tmp_path / "f.wav"
    sf.write(path, noise(4.0, SR), SR, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: 44 + 2 * SR * 3])
    audio = AudioBlocks(path)
    assert audio.duration_s == 3.0 and sum(len(b) for b in audio) == 3 * SR


def test_non_finite_samples_are_named(tmp_path):
    path = tmp_path / "g.wav"
    x = noise(3.0, SR)
    x[int(1.5 * SR)] = np.nan
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="^the recording has non-finite samples at 0:01$"):
        list(AudioBlocks(path))


def test_unusable_files_are_refused_with_one_line(tmp_path):
    with pytest.raises(AudioInputError, match="audio file not found"):
        AudioBlocks(tmp_path / "missing.wav")
    with pytest.raises(AudioInputError, match="not an audio file"):
        AudioBlocks(tmp_path)
    (tmp_path / "notes.m4a").write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioInputError, match=r"^cannot stream notes.m4a: .*convert it to FLAC or WAV first") as info:
        AudioBlocks(tmp_path / "notes.m4a")
    assert "\n" not in str(info.value)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(AudioInputError, match="has no audio"):
        AudioBlocks(tmp_path / "empty.wav")
    sf.write(tmp_path / "slow.wav", np.zeros(100, np.float32), 500)
    with pytest.raises(AudioInputError, match="unusable sample rate of 500 Hz"):
        AudioBlocks(tmp_path / "slow.wav")
    with pytest.raises(ValueError):
        AudioBlocks(tmp_path / "slow.wav", block_s=0)


@pytest.mark.parametrize("rate", [SR, 44_100, 16_000])
def test_read_region_matches_the_stream(tmp_path, rate):
    path = tmp_path / f"h{rate}.flac"
    sf.write(path, noise(5.0, rate, channels=2), rate, subtype="PCM_24")
    audio = AudioBlocks(path, block_s=1.0)
    stream = np.concatenate(list(audio))
    for start_s, end_s in [(0.0, 1.0), (1.2345, 3.3), (4.5, 5.0), (4.9, 9.0), (2.0, 2.0)]:
        region = audio.read_region(start_s, end_s)
        a, b = round(start_s * SR), min(round(end_s * SR), len(stream))
        assert region.dtype == np.float32 and len(region) == b - a
        if rate == SR:
            assert np.array_equal(region, stream[a:b])
        else:
            assert np.allclose(region, stream[a:b], atol=1e-6)
