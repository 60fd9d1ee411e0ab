"""The on-disk voice library: SQLite (WAL) metadata and codes, one file per original audio.

Layout under ``root``: ``voices.sqlite3`` (schema in :mod:`.db`) and ``audio/<id>.<ext>``,
the upload byte for byte. Codes are a BLOB in their row rather than a file: at most
~240 KB (20 codebooks x 25 frames/s x 60 s x 8 bytes), they then commit atomically with
their metadata (re-encoding for a new codec is one UPDATE), and there is one file fewer
to orphan or lose. Audio (up to 20 MB, read back whole to play it) stays a file so the
database and its WAL stay small.

Concurrency: every thread and process uses its own connections (a small pool per
store); the database is in WAL mode with a busy timeout, so readers never wait and
writers queue. Every write is ``BEGIN IMMEDIATE`` ... ``COMMIT``: checks (count limit,
uniqueness by constraint), the row, and for ``add`` the audio file -- temp file, fsync,
rename -- all while holding the write lock, so a row is only committed once its file
exists, and :meth:`VoiceStore.vacuum` (run at open, also under the write lock) never
sees another writer's file between its rename and its commit. ``delete`` commits the
row's removal, then removes the file; a crash between leaves an orphan ``vacuum``
removes.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from . import db, rules
from .errors import MimoError, VoiceStorageError
from .files import TMP_PREFIX, remove_quietly, write_atomic
from .model import UNCHANGED, Voice
from .rules import Limits, show

DB_NAME = "voices.sqlite3"
_MAX_IDLE = 4                                  # pooled connections kept per store


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


@contextmanager
def _guard(what: str) -> Iterator[None]:
    """Turn OS and SQLite failures into one-line :class:`VoiceStorageError`s."""
    try:
        yield
    except MimoError:
        raise
    except (OSError, sqlite3.Error) as e:
        raise rules.storage_error(what, e) from e


class VoiceStore:
    """A persistent :class:`~.model.VoiceLibrary` under ``root`` (see the module docstring)."""

    persistent = True

    def __init__(self, root: Path, *, max_voices_per_owner: int = 100,
                 max_audio_bytes: int = 20 * 1024 * 1024, max_audio_seconds: float = 60.0,
                 max_name_len: int = 64):
        self.limits = Limits(max_voices_per_owner, max_audio_bytes, max_audio_seconds, max_name_len)
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self.audio_dir = self.root / "audio"
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            with _guard(f"open the voice library at {self.root}"):
                self.audio_dir.mkdir(parents=True, exist_ok=True)
            with self._conn() as conn:
                db.init_schema(conn, self.db_path)
            self.vacuum()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"VoiceStore({str(self.root)!r})"

    def __enter__(self) -> "VoiceStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connections and transactions ------------------------------------------------------
    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise VoiceStorageError(f"the voice library at {self.root} is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = db.connect(self.db_path)
        try:
            yield conn
        finally:
            with self._lock:
                keep = not (self._closed or conn.in_transaction or len(self._idle) >= _MAX_IDLE)
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                _commit(conn)
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass                    # the pool closes a connection left in a transaction
                raise

    # -- reading rows ----------------------------------------------------------------------
    def _one(self, conn, where: str, args: tuple) -> Optional[Voice]:
        row = conn.execute(f"SELECT {db.COLUMNS} FROM voices WHERE {where}", args).fetchone()
        return None if row is None else db.row_voice(row, self.audio_dir)[0]

    def _list(self, conn, viewer: str, owner: Optional[str]) -> builtins.list[Voice]:
        viewer = rules.check_owner(viewer, "viewer")
        if owner is None:
            rows = conn.execute(f"SELECT {db.COLUMNS} FROM voices WHERE owner = ? OR shared = 1",
                                (viewer,)).fetchall()
        else:
            rows = conn.execute(f"SELECT {db.COLUMNS} FROM voices WHERE owner = ?",
                                (rules.check_owner(owner),)).fetchall()
        voices = []
        for row in rows:
            voice = db.row_voice(row, self.audio_dir)[0]
            if voice.reason == db.MISSING and not self._exists(conn, voice.id):
                continue                        # deleted between the query and the file check
            voices.append(voice)
        return rules.view(voices, viewer, owner)

    @staticmethod
    def _exists(conn, voice_id: str) -> bool:
        return conn.execute("SELECT 1 FROM voices WHERE id = ?", (voice_id,)).fetchone() is not None

    def _clash(self, conn, owner: str, key: str, name: str):
        """The error for a UNIQUE failure: the owner's own name first (as SessionVoices checks)."""
        mine = conn.execute("SELECT 1 FROM voices WHERE owner = ? AND name_key = ?", (owner, key)).fetchone()
        return rules.exists_error(name, shared=mine is None)

    def _resolve(self, conn, name: str, viewer: str, owner: Optional[str], *,
                 intact: bool = True) -> Voice:
        voice = rules.resolve(
            name, viewer, owner, self.limits.max_name_len,
            find=lambda o, k: self._one(conn, "owner = ? AND name_key = ?", (o, k)),
            find_shared=lambda k: self._one(conn, "shared = 1 AND name_key = ?", (k,)),
            visible_names=lambda: [v.name for v in self._list(conn, viewer, None)])
        if intact and not voice.ok:
            raise db.damaged(voice)
        return voice

    def _codes(self, conn, voice: Voice) -> np.ndarray:
        row = conn.execute("SELECT codes, codes_sha256 FROM voices WHERE id = ?", (voice.id,)).fetchone()
        if row is None:
            raise rules.not_found(voice.name, [])
        blob = row["codes"]
        if not isinstance(blob, bytes) or rules.sha256(blob) != row["codes_sha256"]:
            raise db.damaged(Voice(voice.id, voice.name, voice.owner,
                                   reason="its codes do not match what was saved"))
        return np.frombuffer(blob, dtype="<i8").reshape(voice.codes_shape).astype(np.int64)  # (C, T)

    # -- the interface ---------------------------------------------------------------------
    def add(self, name: str, *, owner: str, audio: bytes, filename: str, codes: np.ndarray,
            codes_tag: str, duration_s: float, sample_rate: int, consent: bool,
            transcript: Optional[str] = None, language: Optional[str] = None,
            note: str = "", shared: bool = False) -> Voice:
        new = rules.new_voice(
            self.limits, name, owner=owner, audio=audio, filename=filename, codes=codes,
            codes_tag=codes_tag, duration_s=duration_s, sample_rate=sample_rate, consent=consent,
            transcript=transcript, language=language, note=note, shared=shared)
        v = new.voice
        path = db.audio_path(self.audio_dir, v.id, new.ext)
        try:
            with _guard(f"save voice {show(v.name)}"), self._write() as conn:
                count = conn.execute("SELECT count(*) FROM voices WHERE owner = ?", (v.owner,)).fetchone()[0]
                if count >= self.limits.max_voices_per_owner:
                    raise rules.limit_error(v.name, v.owner, self.limits.max_voices_per_owner)
                try:
                    conn.execute(
                        "INSERT INTO voices (id, owner, name, name_key, shared, filename, audio_ext, "
                        "audio_size, audio_sha256, duration_s, sample_rate, codes, codes_c, codes_t, "
                        "codes_sha256, codes_tag, transcript, language, note, consent, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (v.id, v.owner, v.name, new.key, int(v.shared), v.filename, new.ext,
                         v.audio_size, new.audio_sha256, v.duration_s, v.sample_rate,
                         new.codes.tobytes(), *v.codes_shape, new.codes_sha256, v.codes_tag,
                         v.transcript, v.language, v.note, 1, v.created_at))
                except sqlite3.IntegrityError:
                    raise self._clash(conn, v.owner, new.key, v.name) from None
                write_atomic(self.audio_dir, path.name, new.audio)     # before the commit
        except BaseException:
            remove_quietly(path)             # the row was rolled back: its file must go too
            raise
        return v

    def list(self, viewer: str, *, owner: Optional[str] = None) -> builtins.list[Voice]:
        with _guard("list voices"), self._conn() as conn:
            return self._list(conn, viewer, owner)

    def get(self, name: str, viewer: str, *, owner: Optional[str] = None) -> Voice:
        with _guard(f"read voice {show(str(name))}"), self._conn() as conn:
            voice = self._resolve(conn, name, viewer, owner)
            self._codes(conn, voice)          # a get vouches for the whole voice
            return voice

    def audio(self, name: str, viewer: str, *, owner: Optional[str] = None) -> bytes:
        with _guard(f"read voice {show(str(name))}"), self._conn() as conn:
            voice = self._resolve(conn, name, viewer, owner)
            row = conn.execute("SELECT audio_ext, audio_sha256 FROM voices WHERE id = ?",
                               (voice.id,)).fetchone()
            try:
                if row is None:
                    raise FileNotFoundError
                data = db.audio_path(self.audio_dir, voice.id, row["audio_ext"]).read_bytes()
            except FileNotFoundError:
                if not self._exists(conn, voice.id):
                    raise rules.not_found(str(name), []) from None     # deleted meanwhile
                raise db.damaged(Voice(voice.id, voice.name, voice.owner, reason=db.MISSING)) from None
            if rules.sha256(data) != row["audio_sha256"]:
                raise db.damaged(Voice(voice.id, voice.name, voice.owner,
                                       reason="its audio file does not match what was saved"))
            return data

    def get_codes(self, name: str, viewer: str, *, tag: str,
                  owner: Optional[str] = None) -> Optional[np.ndarray]:
        with _guard(f"read voice {show(str(name))}"), self._conn() as conn:
            voice = self._resolve(conn, name, viewer, owner)
            return self._codes(conn, voice) if voice.codes_tag == tag else None

    def set_codes(self, name: str, viewer: str, codes: np.ndarray, *, tag: str,
                  owner: Optional[str] = None) -> Voice:
        codes, tag = rules.check_codes(codes), rules.check_tag(tag)
        with _guard(f"save voice {show(str(name))}"), self._write() as conn:
            voice = self._resolve(conn, name, viewer, owner)
            rules.require_write(voice, viewer, "re-encode")
            conn.execute("UPDATE voices SET codes = ?, codes_c = ?, codes_t = ?, codes_sha256 = ?, "
                         "codes_tag = ? WHERE id = ?", (codes.tobytes(), *codes.shape,
                                                       rules.sha256(codes.tobytes()), tag, voice.id))
            return self._one(conn, "id = ?", (voice.id,))

    def update(self, name: str, viewer: str, *, transcript=UNCHANGED, note=UNCHANGED,
               language=UNCHANGED, owner: Optional[str] = None) -> Voice:
        changes = rules.updates(transcript=transcript, note=note, language=language)
        with _guard(f"save voice {show(str(name))}"), self._write() as conn:
            voice = self._resolve(conn, name, viewer, owner)
            rules.require_write(voice, viewer, "edit")
            for column, value in changes.items():      # column names from rules.updates, not input
                conn.execute(f"UPDATE voices SET {column} = ? WHERE id = ?", (value, voice.id))
            return self._one(conn, "id = ?", (voice.id,))

    def rename(self, old: str, new: str, viewer: str, *, owner: Optional[str] = None) -> Voice:
        new, key = rules.check_name(new, self.limits.max_name_len)
        with _guard(f"rename voice {show(str(old))}"), self._write() as conn:
            voice = self._resolve(conn, old, viewer, owner)
            rules.require_write(voice, viewer, "rename")
            try:
                conn.execute("UPDATE voices SET name = ?, name_key = ? WHERE id = ?", (new, key, voice.id))
            except sqlite3.IntegrityError:
                raise self._clash(conn, voice.owner, key, new) from None
            return self._one(conn, "id = ?", (voice.id,))

    def set_shared(self, name: str, shared: bool, viewer: str, *,
                   owner: Optional[str] = None) -> Voice:
        rules.require_operator(viewer, "share or unshare", str(name))
        with _guard(f"share voice {show(str(name))}"), self._write() as conn:
            voice = self._resolve(conn, name, viewer, owner)
            try:
                conn.execute("UPDATE voices SET shared = ? WHERE id = ?", (int(bool(shared)), voice.id))
            except sqlite3.IntegrityError:
                raise rules.exists_error(voice.name, shared=True) from None
            return self._one(conn, "id = ?", (voice.id,))

    def delete(self, name: str, viewer: str, *, owner: Optional[str] = None) -> None:
        """Delete the row (committed), then its audio file; a damaged voice can be deleted."""
        with _guard(f"delete voice {show(str(name))}"):
            with self._write() as conn:
                voice = self._resolve(conn, name, viewer, owner, intact=False)
                rules.require_write(voice, viewer, "delete")
                ext = conn.execute("SELECT audio_ext FROM voices WHERE id = ?", (voice.id,)).fetchone()[0]
                conn.execute("DELETE FROM voices WHERE id = ?", (voice.id,))
            path = db.file_of(self.audio_dir, voice.id, ext)
            if path is not None:                 # else garbage in the row: vacuum removes the file
                remove_quietly(path)

    def vacuum(self) -> builtins.list[str]:
        """Remove audio files no row names (a crash mid-delete or mid-add); return their names.

        A file is kept while any row has its id, even a damaged row: deleting the row frees it.
        """
        removed = []
        with _guard(f"clean the voice library at {self.root}"), self._write() as conn:
            ids = {r[0] for r in conn.execute("SELECT id FROM voices")}
            with os.scandir(self.audio_dir) as entries:
                for entry in entries:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if entry.name.startswith(TMP_PREFIX) or entry.name.partition(".")[0] not in ids:
                        if remove_quietly(Path(entry.path)):
                            removed.append(entry.name)
        return removed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
