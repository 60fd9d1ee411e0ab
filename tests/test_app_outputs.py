"""Output files: written safely by concurrent handlers (app/inputs.py write_wav)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from app import inputs

WRITERS = 16          # handlers finishing with the same audio at the same moment
ROUNDS = 12           # fresh audio each round, so every round races on a new file
SAMPLES = 24_000      # one second at 24 kHz: a write long enough for the writers to overlap


@pytest.fixture
def out_dir(tmp_path, monkeypatch):
    folder = tmp_path / "app_out"
    monkeypatch.setenv("MIMO_APP_TMP", str(folder))
    return folder


def _race(wav: np.ndarray) -> tuple[list[str], list[BaseException]]:
    """Call write_wav(wav) from WRITERS threads released at once."""
    start = threading.Barrier(WRITERS)
    paths: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write() -> None:
        start.wait()
        try:
            path = inputs.write_wav(wav)
        except BaseException as exc:  # noqa: BLE001 - every failure is collected and reported
            with lock:
                errors.append(exc)
        else:
            with lock:
                paths.append(path)

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return paths, errors


def test_identical_audio_written_at_once_by_many_handlers(out_dir):
    """Two requests that produce the same audio write the same content-named file; every
    writer must get that file back, complete, and no temporary file may be left behind."""
    rng = np.random.default_rng(0)
    for round_ in range(ROUNDS):
        wav = rng.uniform(-0.5, 0.5, SAMPLES).astype(np.float32)
        paths, errors = _race(wav)
        assert not errors, f"round {round_}: {len(errors)}/{WRITERS} writers failed: {errors[0]!r}"
        assert len(set(paths)) == 1, paths                       # content naming is kept
        back, rate = sf.read(paths[0], dtype="int16")
        assert rate == 24_000
        np.testing.assert_array_equal(back, inputs._pcm16(wav))
    assert sorted(p.suffix for p in out_dir.iterdir()) == [".wav"] * ROUNDS
