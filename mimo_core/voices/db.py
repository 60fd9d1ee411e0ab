"""The store's SQLite database: opening it (WAL, busy timeout), its schema, reading rows back.

One table, ``voices``; a voice's audio is the file ``audio/<id>.<audio_ext>``, its codes are
the ``codes`` BLOB (int64, little-endian, C order, shape ``(codes_c, codes_t)``). The
``sha256`` columns let a read detect a damaged file or blob. ``name_key`` is the
case-folded NFC name (:func:`.rules.name_key`): unique per owner, and among shared voices.
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Optional

from . import rules
from .errors import VoiceCorrupt, VoiceDatabaseError
from .model import Voice

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
SCHEMA = ("""
CREATE TABLE voices (
    id           TEXT PRIMARY KEY,     -- uuid4 hex; names the audio file
    owner        TEXT NOT NULL,        -- user id; '' is the operator
    name         TEXT NOT NULL,        -- NFC, as written
    name_key     TEXT NOT NULL,        -- casefold(NFC(name))
    shared       INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
    filename     TEXT NOT NULL,        -- the upload's original base name
    audio_ext    TEXT NOT NULL,
    audio_size   INTEGER NOT NULL,
    audio_sha256 TEXT NOT NULL,
    duration_s   REAL NOT NULL,
    sample_rate  INTEGER NOT NULL,
    codes        BLOB NOT NULL,        -- int64 little-endian, C order
    codes_c      INTEGER NOT NULL,
    codes_t      INTEGER NOT NULL,
    codes_sha256 TEXT NOT NULL,
    codes_tag    TEXT NOT NULL,        -- the codec the codes were made with
    transcript   TEXT,
    language     TEXT,
    note         TEXT NOT NULL DEFAULT '',
    consent      INTEGER NOT NULL CHECK (consent = 1),
    created_at   TEXT NOT NULL,        -- UTC ISO 8601
    UNIQUE (owner, name_key)
)""", "CREATE UNIQUE INDEX voices_shared_name ON voices (name_key) WHERE shared = 1")
COLUMNS = ("id, owner, name, name_key, shared, filename, audio_ext, audio_size, audio_sha256, "
           "duration_s, sample_rate, length(codes) AS codes_len, codes_c, codes_t, codes_tag, "
           "transcript, language, note, consent, created_at")
MISSING = "its audio file is missing"
_ID = re.compile(r"[0-9a-f]{32}")
_EXT = re.compile(r"[a-z0-9]{1,10}")


def _unusable(path: Path, why: object) -> VoiceDatabaseError:
    return VoiceDatabaseError(
        f"{path} is not a usable voice database ({why}); move it aside "
        f"(e.g. rename it to {path.name}.bad) and start again for an empty voice library")


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and a busy timeout."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as e:
        raise _unusable(path, e) from e
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("voice database %s is in %s mode, not WAL (file system without shared memory?)",
                        path, mode)
        conn.execute("PRAGMA synchronous = FULL")       # a committed voice survives power loss
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise _unusable(path, e) from e
    return conn


def init_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema in a new database; refuse one of another shape or a newer version."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if version == 0 and not tables:
                for stmt in SCHEMA:                 # one by one: executescript would COMMIT
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise VoiceDatabaseError(f"{path} was written by a newer version of this app "
                                         f"(schema {version}, this one reads {SCHEMA_VERSION})")
            elif version != SCHEMA_VERSION or "voices" not in tables:
                raise _unusable(path, f"schema version {version}, tables {sorted(tables)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as e:
        raise _unusable(path, e) from e


class _Bad(Exception):
    pass


def _get(row: sqlite3.Row, col: str, kind: type, *, optional: bool = False):
    value = row[col]
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"column {col} holds {value!r:.40}, not {kind.__name__}")
    return value


def audio_path(audio_dir: Path, voice_id: str, ext: str) -> Path:
    return audio_dir / f"{voice_id}.{ext}"


def file_of(audio_dir: Path, voice_id: object, ext: object) -> Optional[Path]:
    """The audio file of a row, or None when its id or extension is garbage (never a path trick)."""
    if isinstance(voice_id, str) and isinstance(ext, str) and _ID.fullmatch(voice_id) \
            and _EXT.fullmatch(ext):
        return audio_path(audio_dir, voice_id, ext)
    return None


def row_voice(row: sqlite3.Row, audio_dir: Path) -> tuple[Voice, str]:
    """``(voice, audio_ext)`` from a row of :data:`COLUMNS`, checked without reading blobs or files.

    A row that cannot be read back (garbage in a column, audio file missing or of the wrong
    size, codes blob of the wrong length) gives a voice with ``ok=False`` and the reason.
    """
    raw_id, raw_name = row["id"], row["name"]
    name = raw_name if isinstance(raw_name, str) else str(row["name_key"])
    owner = row["owner"] if isinstance(row["owner"], str) else repr(row["owner"])
    try:
        voice_id = _get(row, "id", str)
        if not _ID.fullmatch(voice_id):
            raise _Bad(f"column id holds {voice_id!r:.40}, not a uuid")
        _get(row, "name", str)
        ext = _get(row, "audio_ext", str)
        if not _EXT.fullmatch(ext):
            raise _Bad(f"column audio_ext holds {ext!r:.40}")
        duration, rate = _get(row, "duration_s", float), _get(row, "sample_rate", int)
        if not (math.isfinite(duration) and duration > 0 and rate > 0):
            raise _Bad(f"duration {duration!r} s or sample rate {rate!r} Hz is not positive")
        c, t, size = _get(row, "codes_c", int), _get(row, "codes_t", int), _get(row, "audio_size", int)
        if c < 1 or t < 1 or row["codes_len"] != c * t * 8:
            raise _Bad(f"the codes hold {row['codes_len']!r} bytes, not [{c}, {t}] int64")
        created = _get(row, "created_at", str)
        try:
            datetime.fromisoformat(created)
        except ValueError:
            raise _Bad(f"column created_at holds {created!r:.40}, not a date") from None
        voice = Voice(
            id=voice_id, name=name, owner=_get(row, "owner", str), shared=_get(row, "shared", int) == 1,
            filename=_get(row, "filename", str), audio_size=size, duration_s=duration,
            sample_rate=rate, codes_shape=(c, t), codes_tag=_get(row, "codes_tag", str),
            transcript=_get(row, "transcript", str, optional=True),
            language=_get(row, "language", str, optional=True), note=_get(row, "note", str),
            consent=_get(row, "consent", int) == 1, created_at=created)
        try:
            actual = audio_path(audio_dir, voice_id, ext).stat().st_size
        except FileNotFoundError:
            raise _Bad(MISSING) from None
        if actual != size:
            raise _Bad(f"its audio file has {actual} bytes, {size} were saved")
        return voice, ext
    except (_Bad, IndexError, KeyError) as e:
        broken = Voice(id=str(raw_id), name=name, owner=owner, shared=row["shared"] == 1,
                       ok=False, reason=str(e))
        return broken, ""


def damaged(voice: Voice) -> VoiceCorrupt:
    return VoiceCorrupt(f"voice {rules.show(voice.name)} is damaged ({voice.reason}); delete it and save it again")
