"""Output files: written safely by concurrent handlers (app/inputs.py write_wav), and bounded
in age and total size without removing a file a live session offers (app/outputs.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import inputs
from app.outputs import OfferedFiles, OutputBounds, OutputCleaner, sweep

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


# ------------------------------------------------------------------------------ the cleaner
NOW = 1_700_000_000.0          # the fake clock's time (file times are set relative to it)
MIN = 60.0
BOUNDS = OutputBounds(max_age_s=60 * MIN, max_bytes=None)


class FakeClock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def put(folder: Path, name: str, *, age_min: float, size: int = 1000) -> Path:
    """A file of ``size`` bytes last modified ``age_min`` minutes before NOW."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\0" * size)
    os.utime(path, (NOW - age_min * MIN, NOW - age_min * MIN))
    return path


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file()}


def test_files_older_than_the_max_age_are_removed(tmp_path):
    offered = OfferedFiles(clock=FakeClock())
    put(tmp_path, "old.wav", age_min=61)
    put(tmp_path, "stale.wav.abc.part", age_min=300)              # an abandoned temporary file
    put(tmp_path, "young.wav", age_min=59)
    report = sweep([tmp_path], BOUNDS, offered)
    assert names(tmp_path) == {"young.wav"}
    assert sorted(p.name for p in report.removed) == ["old.wav", "stale.wav.abc.part"]
    assert report.freed_bytes == 2000 and report.kept_bytes == 1000


def test_over_the_size_bound_the_oldest_go_first_and_fresh_files_are_spared(tmp_path):
    offered = OfferedFiles(clock=FakeClock())
    for i, age in enumerate((50, 40, 30, 20, 10)):
        put(tmp_path, f"f{i}-{age}min.wav", age_min=age)
    put(tmp_path, "writing.wav", age_min=0.5)                     # inside the write grace
    bounds = OutputBounds(max_age_s=60 * MIN, max_bytes=2500)      # 6000 bytes held
    report = sweep([tmp_path], bounds, offered)
    assert [p.name for p in report.removed] == ["f0-50min.wav", "f1-40min.wav", "f2-30min.wav",
                                                "f3-20min.wav"]
    assert names(tmp_path) == {"f4-10min.wav", "writing.wav"} and report.kept_bytes == 2000
    put(tmp_path, "new.wav", age_min=0.2)                          # only fresh files left to remove
    bounds = OutputBounds(max_age_s=60 * MIN, max_bytes=500)
    assert [p.name for p in sweep([tmp_path], bounds, offered).removed] == ["f4-10min.wav"]
    assert names(tmp_path) == {"writing.wav", "new.wav"}


def test_a_file_a_live_session_offers_is_never_removed(tmp_path):
    clock = FakeClock()
    offered = OfferedFiles(clock=clock)
    app_dir, cache = tmp_path / "app", tmp_path / "gradio"
    mine = put(app_dir, "mimo-abc.wav", age_min=90)                 # written 90 min ago ...
    put(cache / "f00d", "mimo-abc.wav", age_min=90)                 # ... and gradio's copy of it
    put(app_dir, "mimo-other.wav", age_min=90)
    clock.now = NOW - 30 * MIN
    offered.touch(mine)                                             # ... handed out again 30 min ago
    clock.now = NOW
    bounds = OutputBounds(max_age_s=60 * MIN, max_bytes=0)          # both rules want everything gone
    report = sweep([app_dir, cache], bounds, offered)
    assert [p.name for p in report.removed] == ["mimo-other.wav"]
    assert names(app_dir) == names(cache) == {"mimo-abc.wav"}
    clock.now = NOW + 31 * MIN                                      # its last hand-out is now too old
    assert {p.name for p in sweep([app_dir, cache], bounds, offered).removed} == {"mimo-abc.wav"}
    assert names(tmp_path) == set()


def test_files_gradio_keeps_are_never_removed_and_emptied_folders_go(tmp_path):
    offered = OfferedFiles(clock=FakeClock())
    example = put(tmp_path / "cafe", "speech_fox.flac", age_min=600)   # an example clip's copy
    put(tmp_path / "beef", "upload.flac", age_min=600)
    os.utime(tmp_path / "beef", (NOW - 600 * MIN, NOW - 600 * MIN))
    sweep([tmp_path], BOUNDS, offered, keep=[str(example)])
    assert names(tmp_path) == {"speech_fox.flac"}
    assert (tmp_path / "beef").is_dir()             # just emptied: its time is now, so it stays ...
    os.utime(tmp_path / "beef", (NOW - 2 * MIN, NOW - 2 * MIN))
    sweep([tmp_path], BOUNDS, offered, keep=[str(example)])
    assert not (tmp_path / "beef").exists() and (tmp_path / "cafe").is_dir()   # ... a while


def test_write_wav_marks_its_output_as_offered(out_dir, monkeypatch):
    clock = FakeClock()
    offered = OfferedFiles(clock=clock)
    monkeypatch.setattr(inputs, "OFFERED", offered)
    wav = np.linspace(-0.5, 0.5, 2400, dtype=np.float32)
    path = Path(inputs.write_wav(wav))
    old = NOW - 120 * MIN
    os.utime(path, (old, old))
    bounds = OutputBounds(max_age_s=60 * MIN, max_bytes=0)
    assert sweep([out_dir], bounds, offered).removed == [] and path.is_file()
    clock.now = NOW + 61 * MIN                                      # no session asked for it since
    assert sweep([out_dir], bounds, offered).removed == [path]
    assert Path(inputs.write_wav(wav)) == path and path.is_file()  # asked again: written again
    assert inputs.write_wav(wav) == str(path)
    assert abs(path.stat().st_mtime - time.time()) < 60                # reuse restarts its age


def test_bounds_from_the_command_line_flags():
    bounds = OutputBounds.from_flags(max_age_min=30, max_mb=2)
    assert bounds == OutputBounds(max_age_s=1800.0, max_bytes=2 * 1024 * 1024)
    assert OutputBounds.from_flags(max_age_min=30, max_mb=0).max_bytes is None    # no size bound
    with pytest.raises(ValueError, match="more than 0"):
        OutputBounds.from_flags(max_age_min=0, max_mb=10)


def test_the_cleaner_thread_sweeps_until_stopped(tmp_path):
    old = time.time() - 3 * 3600
    stale = tmp_path / "stale.wav"
    stale.write_bytes(b"x")
    os.utime(stale, (old, old))
    cleaner = OutputCleaner([tmp_path], OutputBounds(max_age_s=3600), offered=OfferedFiles(),
                            every_s=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stale.exists()
    finally:
        cleaner.stop()
    assert not cleaner._thread.is_alive()


# ------------------------------------------------------------------------------ the app command
def test_app_flags_start_a_cleaner_that_spares_gradios_example_clips(tmp_path, monkeypatch):
    from app import Handlers, build_app
    from app.launch import start_output_cleaner
    from run_mimo_audio import build_parser
    from tests.browser.fake_backend import FakeMimoAudio

    monkeypatch.setenv("MIMO_APP_TMP", str(tmp_path / "app_out"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    args = build_parser().parse_args(["app", "--output-max-age-min", "0.5", "--output-max-mb", "3"])
    assert (args.output_max_age_min, args.output_max_mb) == (0.5, 3.0)
    defaults = build_parser().parse_args(["app"])
    assert (defaults.output_max_age_min, defaults.output_max_mb) == (60.0, 2000.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["app", "--output-max-age-min", "0"])

    demo = build_app(Handlers(FakeMimoAudio(), banner=None))      # caches the example clips
    cached = [p for p in (tmp_path / "gradio").rglob("*.flac")]
    assert cached, "the examples' clips were not copied to gradio's cache"
    old = time.time() - 3600
    for path in cached:
        os.utime(path, (old, old))
    upload = put(tmp_path / "gradio" / "0123", "upload.flac", age_min=0)
    os.utime(upload, (old, old))
    cleaner = start_output_cleaner(demo, args)
    try:
        assert cleaner.bounds == OutputBounds(max_age_s=30.0, max_bytes=3 * 1024 * 1024)
        assert {Path(f) for f in cleaner.folders} == {tmp_path / "app_out", tmp_path / "gradio"}
        assert [p.name for p in cleaner.sweep().removed] == ["upload.flac"]
        assert all(p.is_file() for p in cached)
    finally:
        cleaner.stop()


def test_a_swept_folder_inside_another_is_kept_even_when_empty(tmp_path):
    offered = OfferedFiles(clock=FakeClock())
    cache = tmp_path / "gradio"                  # gradio's cache inside the app's folder
    put(cache / "f00d", "upload.flac", age_min=600)
    old = NOW - 600 * MIN
    for folder in (cache / "f00d", cache):
        os.utime(folder, (old, old))
    report = sweep([tmp_path, cache], BOUNDS, offered)
    assert [p.name for p in report.removed] == ["upload.flac"]      # listed once, removed once
    os.utime(cache / "f00d", (old, old))
    sweep([tmp_path, cache], BOUNDS, offered)                        # an old empty subfolder goes
    assert not (cache / "f00d").exists()
    os.utime(cache, (old, old))
    sweep([tmp_path, cache], BOUNDS, offered)                        # a swept folder stays
    assert cache.is_dir()
