"""Pure rules shared by both libraries: names, inputs, limits, who may do what.

Names. A voice name is 1..``max_name_len`` characters (after NFC normalization) of
letters (any script, CJK included), combining marks, digits, ASCII space and ``-_.'``,
with at least one letter or digit and no space at either end. That rules out path
separators, control characters, ``.`` and ``..`` (stored files are named by uuid, so a
name could not reach the file system anyway). Two names are the same voice name when
their case-folded NFC forms are equal (``Alice`` and ``ALICE``; ``ß`` and ``ss``): that
form, the *key*, is unique per owner, and among shared voices. The name keeps the case
it was written in.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

import numpy as np

from .errors import (ConsentRequired, InvalidVoiceName, VoiceError, VoiceExists, VoiceForbidden,
                     VoiceLimitError, VoiceNotFound, VoiceStorageError, VoiceTooLarge)
from .model import OPERATOR, UNCHANGED, Voice

_NAME_PUNCT = frozenset(" -_.'")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_EXT = re.compile(r"[a-z0-9]{1,10}")
MAX_TRANSCRIPT_CHARS = 4000
MAX_NOTE_CHARS = 1000
MAX_TAG_CHARS = 200
MAX_OWNER_CHARS = 256
MAX_FILENAME_CHARS = 255
_SHOWN_NAMES = 20                  # known names listed in a "not found" message


@dataclass(frozen=True)
class Limits:
    max_voices_per_owner: int = 100
    max_audio_bytes: int = 20 * 1024 * 1024
    max_audio_seconds: float = 60.0
    max_name_len: int = 64


def show(text: str, width: int = 40) -> str:
    """A name quoted for a one-line message (control characters escaped, long ones cut)."""
    return repr(text if len(text) <= width else text[:width] + "…")


def name_key(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def check_name(name: object, max_len: int) -> tuple[str, str]:
    """Return ``(name, key)``: the NFC name to store and its lookup key, or raise."""
    if not isinstance(name, str):
        raise InvalidVoiceName(f"a voice name must be text, got {type(name).__name__}")
    if len(name) > 4 * max_len:                # cheap refusal before normalizing huge input
        raise InvalidVoiceName(f"voice name {show(name)} is longer than {max_len} characters")
    name = unicodedata.normalize("NFC", name)

    def bad(why: str) -> InvalidVoiceName:
        return InvalidVoiceName(f"invalid voice name {show(name)}: {why}")

    if not name:
        raise InvalidVoiceName("a voice name cannot be empty")
    if len(name) > max_len:
        raise bad(f"longer than {max_len} characters")
    if name != name.strip(" "):
        raise bad("it starts or ends with a space")
    has_word = False
    for ch in name:
        cat = unicodedata.category(ch)
        if cat[0] == "L" or cat in ("Nd", "Nl"):
            has_word = True
        elif cat[0] != "M" and ch not in _NAME_PUNCT:
            what = "a path separator" if ch in "/\\" else repr(ch)
            raise bad(f"{what} is not allowed (use letters, digits, spaces and - _ . ')")
    if not has_word:
        raise bad("it needs at least one letter or digit")
    return name, name_key(name)


def check_owner(owner: object, what: str = "owner") -> str:
    if not isinstance(owner, str) or len(owner) > MAX_OWNER_CHARS or not owner.isprintable():
        raise VoiceError(f"{what} must be a user id string of at most {MAX_OWNER_CHARS} printable characters")
    return owner


def check_text(value: object, what: str, limit: int, *, optional: bool) -> Optional[str]:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise VoiceError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise VoiceTooLarge(f"{what} has {len(value)} characters; the limit is {limit}")
    return value


def check_language(value: object) -> Optional[str]:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 35 or not _LANGUAGE.fullmatch(value):
        raise VoiceError(f"language must be a language tag such as 'en' or 'zh', got {value!r}")
    return value


def check_codes(codes: object) -> np.ndarray:
    """The codes as a C-contiguous int64 [C, T] array (a copy: the caller's array may change)."""
    if not isinstance(codes, np.ndarray) or codes.ndim != 2 or 0 in codes.shape:
        shape = getattr(codes, "shape", None)
        raise VoiceError(f"codes must be a non-empty 2-D [C, T] integer array, got shape {shape}")
    if not np.issubdtype(codes.dtype, np.integer) or not np.can_cast(codes.dtype, np.int64):
        raise VoiceError(f"codes must be integers that fit int64, got dtype {codes.dtype}")
    return np.array(codes, dtype="<i8", order="C", copy=True)   # the stored byte order


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_CHARS:
        raise VoiceError(f"codes_tag must be a non-empty string of at most {MAX_TAG_CHARS} characters")
    return tag


def audio_filename(filename: object) -> tuple[str, str]:
    """``(filename, ext)``: the upload's base name (kept for display) and a safe extension."""
    if not isinstance(filename, str):
        raise VoiceError(f"filename must be text, got {type(filename).__name__}")
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:MAX_FILENAME_CHARS]
    ext = os.path.splitext(base)[1][1:].lower()
    return base, ext if _EXT.fullmatch(ext) else "bin"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class NewVoice:
    """A checked voice ready to store: :class:`Voice` fields plus its data."""

    voice: Voice
    key: str
    ext: str
    audio: bytes
    audio_sha256: str
    codes: np.ndarray
    codes_sha256: str


def new_voice(limits: Limits, name, *, owner, audio, filename, codes, codes_tag, duration_s,
              sample_rate, consent, transcript, language, note, shared) -> NewVoice:
    """Check every input of ``add`` (not the per-owner count or uniqueness: the store does)."""
    name, key = check_name(name, limits.max_name_len)
    owner = check_owner(owner)
    if consent is not True:
        raise ConsentRequired(f"cannot save voice {show(name)}: confirm that you may use this voice")
    if shared and owner != OPERATOR:
        raise VoiceForbidden(f"cannot save voice {show(name)} as shared: only the operator shares voices")
    if not isinstance(audio, (bytes, bytearray, memoryview)):
        raise VoiceError(f"audio must be the uploaded file's bytes, got {type(audio).__name__}")
    audio = bytes(audio)
    if not audio:
        raise VoiceError(f"cannot save voice {show(name)}: the audio is empty")
    if len(audio) > limits.max_audio_bytes:
        raise VoiceTooLarge(f"the audio of voice {show(name)} has {len(audio):,} bytes; "
                            f"the limit is {limits.max_audio_bytes:,}")
    try:
        duration_s = float(duration_s)
    except (TypeError, ValueError):
        raise VoiceError(f"duration_s must be a number of seconds, got {duration_s!r}") from None
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise VoiceError(f"duration_s must be positive, got {duration_s!r}")
    if duration_s > limits.max_audio_seconds:
        raise VoiceTooLarge(f"the audio of voice {show(name)} lasts {duration_s:.1f} s; "
                            f"the limit is {limits.max_audio_seconds:g} s")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or not 0 < sample_rate <= 1_000_000:
        raise VoiceError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    codes = check_codes(codes)
    base, ext = audio_filename(filename)
    voice = Voice(
        id=uuid.uuid4().hex, name=name, owner=owner, shared=bool(shared), filename=base,
        audio_size=len(audio), duration_s=duration_s, sample_rate=int(sample_rate),
        codes_shape=(int(codes.shape[0]), int(codes.shape[1])), codes_tag=check_tag(codes_tag),
        transcript=check_text(transcript, "transcript", MAX_TRANSCRIPT_CHARS, optional=True),
        language=check_language(language), note=check_text(note, "note", MAX_NOTE_CHARS, optional=False),
        consent=True, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return NewVoice(voice, key, ext, audio, sha256(audio), codes, sha256(codes.tobytes()))


# -- who may do what ---------------------------------------------------------------------------

def can_read(voice: Voice, viewer: str) -> bool:
    return viewer == OPERATOR or voice.owner == viewer or voice.shared


def require_write(voice: Voice, viewer: str, action: str) -> None:
    if viewer != OPERATOR and voice.owner != viewer:
        raise VoiceForbidden(f"cannot {action} voice {show(voice.name)}: it belongs to another user")


def require_operator(viewer: str, action: str, name: str) -> None:
    if viewer != OPERATOR:
        raise VoiceForbidden(f"cannot {action} voice {show(name)}: only the operator can")


def resolve(name: str, viewer: str, owner: Optional[str], max_name_len: int, *,
            find: Callable[[str, str], Optional[Voice]],
            find_shared: Callable[[str], Optional[Voice]],
            visible_names: Callable[[], Iterable[str]]) -> Voice:
    """The voice ``name`` refers to for ``viewer``: theirs first, then a shared one.

    With ``owner`` given, exactly that owner's voice. A voice the viewer may not see is
    not found (its existence is not revealed).
    """
    viewer = check_owner(viewer, "viewer")
    if not isinstance(name, str):
        raise InvalidVoiceName(f"a voice name must be text, got {type(name).__name__}")
    key = name_key(name) if len(name) <= 4 * max_name_len else None
    voice = None
    if key is not None:
        if owner is None:
            voice = find(viewer, key) or find_shared(key)
        else:
            voice = find(check_owner(owner), key)
    if voice is None or not can_read(voice, viewer):
        raise not_found(name, visible_names())
    return voice


def not_found(name: str, names: Iterable[str]) -> VoiceNotFound:
    names = sorted(set(names), key=name_key)
    if not names:
        return VoiceNotFound(f"no voice named {show(name)} (no saved voices)")
    listed = ", ".join(names[:_SHOWN_NAMES]) + (f", … ({len(names)} in all)" if len(names) > _SHOWN_NAMES else "")
    return VoiceNotFound(f"no voice named {show(name)}; known voices: {listed}")


def storage_error(what: str, exc: BaseException) -> VoiceStorageError:
    """``cannot <what>: <why>`` from an OSError or sqlite error, e.g.
    ``cannot save voice 'x': no space left on device``."""
    if isinstance(exc, OSError) and exc.errno is not None:
        why = os.strerror(exc.errno)
    else:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return VoiceStorageError(f"cannot {what}: {why[:1].lower() + why[1:]}")


def view(voices: Iterable[Voice], viewer: str, owner: Optional[str]) -> "list[Voice]":
    """What ``list`` shows: with no ``owner``, the viewer's voices and the shared voices their
    own names do not hide (so every listed name resolves to the listed voice); with ``owner``,
    that owner's voices the viewer may see. Sorted by name, case-insensitively."""
    viewer = check_owner(viewer, "viewer")
    if owner is None:
        voices = list(voices)
        mine = {name_key(v.name) for v in voices if v.owner == viewer}
        out = [v for v in voices if v.owner == viewer
               or (v.shared and name_key(v.name) not in mine)]
    else:
        out = [v for v in voices if v.owner == check_owner(owner) and can_read(v, viewer)]
    return sorted(out, key=lambda v: (name_key(v.name), v.owner, v.id))


def exists_error(name: str, *, shared: bool) -> VoiceExists:
    return VoiceExists(f"a {'shared ' if shared else ''}voice named {show(name)} already exists")


def limit_error(name: str, owner: str, limit: int) -> VoiceLimitError:
    who = "the operator has" if owner == OPERATOR else "you have"
    return VoiceLimitError(f"cannot save voice {show(name)}: {who} {limit} voices, the limit; delete one first")


def updates(*, transcript, note, language) -> dict:
    """The checked fields of an ``update`` call (those left ``UNCHANGED`` omitted)."""
    out = {}
    if transcript is not UNCHANGED:
        out["transcript"] = check_text(transcript, "transcript", MAX_TRANSCRIPT_CHARS, optional=True)
    if note is not UNCHANGED:
        out["note"] = check_text("" if note is None else note, "note", MAX_NOTE_CHARS, optional=False)
    if language is not UNCHANGED:
        out["language"] = check_language(language)
    return out
