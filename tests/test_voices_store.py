"""VoiceStore on disk: restarts, corrupt rows and databases, a full disk, orphan files,
and where the data folder is (resolve_data_dir). Behaviour shared with SessionVoices is
tested against both in test_voices_library.py."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from mimo_core.voices import (OPERATOR, VoiceCorrupt, VoiceDatabaseError, VoiceNotFound,
                              VoiceStorageError, VoiceStore, datadir, resolve_data_dir)
from mimo_core.voices import store as store_mod

from .voices_support import TAG, add, audio_bytes, codes


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "voices"


@pytest.fixture
def store(root):
    s = VoiceStore(root)
    yield s
    s.close()


def sql(root: Path, statement: str, args: tuple = ()) -> None:
    """Change the database behind the store's back."""
    with sqlite3.connect(root / "voices.sqlite3") as conn:
        conn.execute(statement, args)


def audio_files(root: Path) -> list[str]:
    return sorted(os.listdir(root / "audio"))


def test_survives_a_restart(root):
    with VoiceStore(root) as s:
        a = add(s, "Alice", seed=1, filename="a.flac", transcript="hi", language="en")
        add(s, "Narrator", owner=OPERATOR, shared=True, seed=2)
        s.update("alice", "alice", note="kept")
        s.set_codes("alice", "alice", codes(5, c=8, t=3), tag="v2")
    with pytest.raises(VoiceStorageError, match="is closed"):
        s.list("alice")
    with VoiceStore(root) as s:
        assert [v.name for v in s.list("alice")] == ["Alice", "Narrator"]
        v = s.get("ALICE", "alice")
        assert (v.id, v.note, v.transcript, v.language, v.codes_tag) == (a.id, "kept", "hi", "en", "v2")
        assert s.audio("Alice", "alice") == audio_bytes(1)
        assert np.array_equal(s.get_codes("Alice", "alice", tag="v2"), codes(5, c=8, t=3))
        assert s.get("narrator", "bob").shared


def test_audio_is_kept_byte_exact_in_a_file_named_by_uuid(store, root):
    v = add(store, "O'Brien", filename="Take 1.OGG", seed=4)
    assert audio_files(root) == [f"{v.id}.ogg"]
    assert re.fullmatch(r"[0-9a-f]{32}", v.id)
    assert (root / "audio" / f"{v.id}.ogg").read_bytes() == audio_bytes(4)
    add(store, "raw", filename="no extension")
    assert any(f.endswith(".bin") for f in audio_files(root))
    assert sorted(os.listdir(root)) == ["audio", "voices.sqlite3", "voices.sqlite3-shm", "voices.sqlite3-wal"]


def test_database_is_in_wal_mode(store, root):
    with sqlite3.connect(root / "voices.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_missing_audio_file_is_flagged_not_fatal(store, root):
    bad, good = add(store, "Bad", seed=1), add(store, "Good", seed=2)
    os.unlink(root / "audio" / f"{bad.id}.wav")
    listed = {v.name: v for v in store.list("alice")}
    assert listed["Good"].ok and not listed["Bad"].ok
    assert listed["Bad"].reason == "its audio file is missing"
    for call in (store.get, store.audio, lambda n, u: store.get_codes(n, u, tag=TAG),
                 lambda n, u: store.update(n, u, note="x")):
        with pytest.raises(VoiceCorrupt) as err:
            call("Bad", "alice")
        assert str(err.value) == ("voice 'Bad' is damaged (its audio file is missing); "
                                  "delete it and save it again")
    assert store.audio("Good", "alice") == audio_bytes(2)
    store.delete("Bad", "alice")                         # a damaged voice can be deleted
    assert [v.name for v in store.list("alice")] == ["Good"]


def test_garbage_in_the_codes_blob(store, root):
    add(store, "Same length", seed=1)
    add(store, "Short", seed=2)
    sql(root, "UPDATE voices SET codes = randomblob(length(codes)) WHERE name = 'Same length'")
    sql(root, "UPDATE voices SET codes = x'00ff' WHERE name = 'Short'")
    listed = {v.name: v for v in store.list("alice")}
    assert listed["Same length"].ok                      # list checks lengths, not hashes
    assert not listed["Short"].ok and "not [20, 25] int64" in listed["Short"].reason
    with pytest.raises(VoiceCorrupt, match=r"^voice 'Same length' is damaged \(its codes do not match"):
        store.get("Same length", "alice")
    with pytest.raises(VoiceCorrupt, match="its codes do not match"):
        store.get_codes("Same length", "alice", tag=TAG)
    with pytest.raises(VoiceCorrupt, match="^voice 'Short' is damaged"):
        store.get_codes("Short", "alice", tag=TAG)


def test_garbage_in_the_audio_file(store, root):
    v = add(store, "A", seed=1)
    (root / "audio" / f"{v.id}.wav").write_bytes(audio_bytes(99))     # same size, other bytes
    assert store.list("alice")[0].ok
    with pytest.raises(VoiceCorrupt, match="its audio file does not match"):
        store.audio("A", "alice")
    (root / "audio" / f"{v.id}.wav").write_bytes(b"short")
    assert "audio file has 5 bytes, 1000 were saved" in store.list("alice")[0].reason


@pytest.mark.parametrize("column,value,reason", [
    ("duration_s", "abc", "column duration_s holds 'abc', not float"),
    ("sample_rate", -5, "not positive"),
    ("created_at", "yesterday", "not a date"),
    ("codes_c", "x", "column codes_c holds 'x', not int"),
    ("transcript", b"\x00\x01", "column transcript holds"),
    ("audio_ext", "../../x", "column audio_ext holds '../../x'"),
    ("id", "../../etc/passwd", "not a uuid"),
    ("name", b"\xff\x00", "column name holds b'\\xff\\x00', not str"),
])
def test_garbage_in_a_column_is_reported(store, root, column, value, reason):
    add(store, "Broken", seed=1)
    add(store, "Fine", seed=2)
    sql(root, f"UPDATE voices SET {column} = ? WHERE name_key = 'broken'", (value,))
    listed = {v.name: v for v in store.list("alice")}
    assert listed["Fine"].ok and store.audio("Fine", "alice") == audio_bytes(2)
    broken = listed["broken" if column == "name" else "Broken"]
    assert not broken.ok and reason in broken.reason
    with pytest.raises(VoiceCorrupt) as err:
        store.get("Broken", "alice")
    assert "\n" not in str(err.value) and "is damaged" in str(err.value)
    store.delete("Broken", "alice")
    assert [v.name for v in store.list("alice")] == ["Fine"]
    store.close()
    with VoiceStore(root) as again:                      # the orphaned file goes at the next open
        assert len(audio_files(root)) == 1


def test_a_corrupt_database_file_is_one_line_at_open(root):
    root.mkdir()
    (root / "voices.sqlite3").write_bytes(b"this is not sqlite " * 500)
    with pytest.raises(VoiceDatabaseError) as err:
        VoiceStore(root)
    msg = str(err.value)
    assert "\n" not in msg and str(root / "voices.sqlite3") in msg
    assert "file is not a database" in msg and "move it aside" in msg


def test_a_foreign_or_newer_database_is_refused(tmp_path):
    for name, setup, match in (("foreign", "CREATE TABLE other (x)", "tables \\['other'\\]"),
                               ("newer", "PRAGMA user_version = 99", "newer version")):
        root = tmp_path / name
        root.mkdir()
        sqlite3.connect(root / "voices.sqlite3").execute(setup).connection.close()
        with pytest.raises(VoiceDatabaseError, match=match):
            VoiceStore(root)


def test_a_root_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(VoiceStorageError, match=r"^cannot open the voice library at .*file: "):
        VoiceStore(tmp_path / "file")


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target", ["fsync", "replace"])
def test_a_full_disk_leaves_nothing_behind(store, root, monkeypatch, target):
    add(store, "Before")
    monkeypatch.setattr(os, target, enospc)              # after the temp file holds its bytes
    with pytest.raises(VoiceStorageError) as err:
        add(store, "x", seed=1)
    assert str(err.value) == "cannot save voice 'x': no space left on device"
    monkeypatch.undo()
    assert [v.name for v in store.list("alice")] == ["Before"]
    assert len(audio_files(root)) == 1                   # no temp file, no stray audio
    assert add(store, "x", seed=1).ok                    # and nothing blocks a retry


def test_a_failed_commit_removes_the_written_file(store, root, monkeypatch):
    def full(conn):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(store_mod, "_commit", full)
    with pytest.raises(VoiceStorageError, match="^cannot save voice 'x': database or disk is full$"):
        add(store, "x")
    monkeypatch.undo()
    assert store.list("alice") == [] and audio_files(root) == []


def test_delete_removes_the_row_then_the_file_and_vacuum_cleans_a_crash(store, root, monkeypatch):
    keep, gone = add(store, "Keep", seed=1), add(store, "Gone", seed=2)
    monkeypatch.setattr(store_mod, "remove_quietly", lambda path: False)   # "crash" after the commit
    store.delete("Gone", "alice")
    monkeypatch.undo()
    with pytest.raises(VoiceNotFound):
        store.get("Gone", "alice")                       # the row went first
    assert f"{gone.id}.wav" in audio_files(root)
    (root / "audio" / ".tmp-0123-half.wav").write_bytes(b"half")          # a crash mid-write
    (root / "audio" / f"{'f' * 32}.wav").write_bytes(b"no row")
    assert sorted(store.vacuum()) == sorted([f"{gone.id}.wav", ".tmp-0123-half.wav", f"{'f' * 32}.wav"])
    assert audio_files(root) == [f"{keep.id}.wav"]
    store.delete("Keep", "alice")
    assert audio_files(root) == []


def test_data_dir_flag(tmp_path):
    path, persistent = resolve_data_dir(str(tmp_path / "given" / "deep"), on_space=True)
    assert (path, persistent) == (tmp_path / "given" / "deep", True) and path.is_dir()
    (tmp_path / "a file").write_text("x")
    with pytest.raises(VoiceStorageError, match="^cannot use the data folder .*a file: "):
        resolve_data_dir(str(tmp_path / "a file"), on_space=False)


def test_data_dir_on_a_space(tmp_path, monkeypatch):
    monkeypatch.setattr(datadir, "SPACE_DATA", tmp_path / "data")
    path, persistent = resolve_data_dir(None, on_space=True)           # no persistent storage
    assert not persistent and path.is_dir() and "mimo-audio-studio" in path.name
    path.rmdir()
    (tmp_path / "data").mkdir()
    assert resolve_data_dir(None, on_space=True) == (tmp_path / "data" / "mimo-audio-studio", True)

    def read_only(path):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(datadir, "_writable", read_only)
    path, persistent = resolve_data_dir(None, on_space=True)
    assert not persistent and path.is_dir() and not path.is_relative_to(tmp_path / "data")
    path.rmdir()


def test_data_dir_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert resolve_data_dir(None, on_space=False) == (tmp_path / "home/.cache/mimo-audio-studio", True)
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert resolve_data_dir(None, on_space=False)[0] == tmp_path / "home/.cache/mimo-audio-studio"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(None, on_space=False) == (tmp_path / "xdg/mimo-audio-studio", True)


def test_a_database_path_that_is_a_folder_is_one_line(root):
    (root / "voices.sqlite3").mkdir(parents=True)
    with pytest.raises(VoiceDatabaseError, match="^.*voices.sqlite3 is not a usable voice database"):
        VoiceStore(root)
