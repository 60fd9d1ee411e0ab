"""Voices that live only in one browser session (anonymous users): no disk, same rules.

:class:`SessionVoices` implements :class:`~.model.VoiceLibrary` with the same names, rights
and limits as :class:`~.store.VoiceStore`, in memory. It is meant to sit in a ``gr.State``,
so it deep-copies and pickles (its lock is recreated).
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
from typing import Optional

import numpy as np

from . import rules
from .model import UNCHANGED, Voice
from .rules import Limits


@dataclasses.dataclass
class _Entry:
    voice: Voice
    audio: bytes
    codes: np.ndarray


class SessionVoices:
    """An in-memory :class:`~.model.VoiceLibrary` (``persistent`` is False)."""

    persistent = False

    def __init__(self, *, max_voices_per_owner: int = 100, max_audio_bytes: int = 20 * 1024 * 1024,
                 max_audio_seconds: float = 60.0, max_name_len: int = 64):
        self.limits = Limits(max_voices_per_owner, max_audio_bytes, max_audio_seconds, max_name_len)
        self._entries: dict[str, _Entry] = {}            # by voice id
        self._lock = threading.RLock()

    def __getstate__(self):
        with self._lock:
            return {"limits": self.limits, "_entries": dict(self._entries)}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- lookups ---------------------------------------------------------------------------
    def _find(self, owner: str, key: str) -> Optional[Voice]:
        for e in self._entries.values():
            if e.voice.owner == owner and rules.name_key(e.voice.name) == key:
                return e.voice
        return None

    def _find_shared(self, key: str, *, but: str = "") -> Optional[Voice]:
        for e in self._entries.values():
            if e.voice.shared and e.voice.id != but and rules.name_key(e.voice.name) == key:
                return e.voice
        return None

    def _resolve(self, name: str, viewer: str, owner: Optional[str]) -> Voice:
        return rules.resolve(
            name, viewer, owner, self.limits.max_name_len, find=self._find,
            find_shared=self._find_shared,
            visible_names=lambda: [v.name for v in self.list(viewer)])

    def _replace(self, voice: Voice, **changes) -> Voice:
        entry = self._entries[voice.id]
        entry.voice = dataclasses.replace(entry.voice, **changes)
        return entry.voice

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
        with self._lock:
            if sum(e.voice.owner == v.owner for e in self._entries.values()) >= self.limits.max_voices_per_owner:
                raise rules.limit_error(v.name, v.owner, self.limits.max_voices_per_owner)
            if self._find(v.owner, new.key):
                raise rules.exists_error(v.name, shared=False)
            if v.shared and self._find_shared(new.key):
                raise rules.exists_error(v.name, shared=True)
            self._entries[v.id] = _Entry(v, new.audio, new.codes)
        return v

    def list(self, viewer: str, *, owner: Optional[str] = None) -> builtins.list[Voice]:
        with self._lock:
            return rules.view([e.voice for e in self._entries.values()], viewer, owner)

    def get(self, name: str, viewer: str, *, owner: Optional[str] = None) -> Voice:
        with self._lock:
            return self._resolve(name, viewer, owner)

    def audio(self, name: str, viewer: str, *, owner: Optional[str] = None) -> bytes:
        with self._lock:
            return self._entries[self._resolve(name, viewer, owner).id].audio

    def get_codes(self, name: str, viewer: str, *, tag: str,
                  owner: Optional[str] = None) -> Optional[np.ndarray]:
        with self._lock:
            voice = self._resolve(name, viewer, owner)
            if voice.codes_tag != tag:
                return None
            return self._entries[voice.id].codes.copy()

    def set_codes(self, name: str, viewer: str, codes: np.ndarray, *, tag: str,
                  owner: Optional[str] = None) -> Voice:
        codes, tag = rules.check_codes(codes), rules.check_tag(tag)
        with self._lock:
            voice = self._resolve(name, viewer, owner)
            rules.require_write(voice, viewer, "re-encode")
            self._entries[voice.id].codes = codes
            return self._replace(voice, codes_shape=codes.shape, codes_tag=tag)

    def update(self, name: str, viewer: str, *, transcript=UNCHANGED, note=UNCHANGED,
               language=UNCHANGED, owner: Optional[str] = None) -> Voice:
        changes = rules.updates(transcript=transcript, note=note, language=language)
        with self._lock:
            voice = self._resolve(name, viewer, owner)
            rules.require_write(voice, viewer, "edit")
            return self._replace(voice, **changes)

    def rename(self, old: str, new: str, viewer: str, *, owner: Optional[str] = None) -> Voice:
        new, key = rules.check_name(new, self.limits.max_name_len)
        with self._lock:
            voice = self._resolve(old, viewer, owner)
            rules.require_write(voice, viewer, "rename")
            clash = self._find(voice.owner, key)
            if clash is not None and clash.id != voice.id:
                raise rules.exists_error(new, shared=False)
            if voice.shared and self._find_shared(key, but=voice.id):
                raise rules.exists_error(new, shared=True)
            return self._replace(voice, name=new)

    def set_shared(self, name: str, shared: bool, viewer: str, *,
                   owner: Optional[str] = None) -> Voice:
        rules.require_operator(viewer, "share or unshare", str(name))
        with self._lock:
            voice = self._resolve(name, viewer, owner)
            if shared and self._find_shared(rules.name_key(voice.name), but=voice.id):
                raise rules.exists_error(voice.name, shared=True)
            return self._replace(voice, shared=bool(shared))

    def delete(self, name: str, viewer: str, *, owner: Optional[str] = None) -> None:
        with self._lock:
            voice = self._resolve(name, viewer, owner)
            rules.require_write(voice, viewer, "delete")
            del self._entries[voice.id]

    def close(self) -> None:
        with self._lock:
            self._entries.clear()

