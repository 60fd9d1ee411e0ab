"""What a saved voice is, and the interface both libraries implement.

Identities and rights (the same in :class:`~.store.VoiceStore` and
:class:`~.session.SessionVoices`):

* ``owner`` / ``viewer`` are user id strings. :data:`OPERATOR` (``""``) is the person
  running the server (the local user). The app must never hand ``""`` to a web user.
* A voice is *visible* to its owner, to everyone when it is ``shared``, and to the
  operator always.
* Names are looked up as the viewer's own voice first, then a shared voice (at most one
  shared voice has a given name: the library refuses a second). With ``owner=`` a
  call names exactly that owner's voice; a voice the viewer may not see is reported as
  not found, so private names do not leak.
* Its owner and the operator may change (update, rename, re-encode) or delete a voice;
  only the operator may share or unshare one, or add a voice already shared. The
  operator may delete another user's voice: it is the administrator's way to remove
  content from a server they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

import numpy as np

OPERATOR = ""


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"

    def __reduce__(self):
        return "UNCHANGED"          # pickles (and deep-copies) as the module singleton


UNCHANGED = _Unchanged()
"""Default of :meth:`VoiceLibrary.update`'s fields: keep the stored value (``None`` clears it)."""


@dataclass(frozen=True)
class Voice:
    """A saved voice's metadata (the audio and codes are fetched by name).

    ``ok`` is False for a stored voice that cannot be read back (``reason`` says why);
    only :meth:`VoiceLibrary.list` returns such voices, so the UI can offer to delete them.
    Fields other than ``id``, ``name`` and ``owner`` of a broken voice may be defaults.
    """

    id: str                                  # uuid hex; names the stored audio file, never the name
    name: str                                # as the user wrote it, NFC-normalized
    owner: str
    shared: bool = False
    filename: str = ""                       # the upload's original file name
    audio_size: int = 0                      # bytes of the original audio
    duration_s: float = 0.0
    sample_rate: int = 0                     # of the original audio
    codes_shape: tuple[int, int] = (0, 0)    # (C, T)
    codes_tag: str = ""                      # identity of the codec the codes came from
    transcript: Optional[str] = None
    language: Optional[str] = None
    note: str = ""
    consent: bool = True
    created_at: str = ""                     # UTC, ISO 8601
    ok: bool = True
    reason: str = ""


@runtime_checkable
class VoiceLibrary(Protocol):
    """A voice library: on disk (:class:`VoiceStore`) or in a browser session (:class:`SessionVoices`).

    Every method raises a :mod:`.errors` error with one line; ``name`` arguments are
    normalized like stored names (NFC, case-insensitive).
    """

    persistent: bool

    def add(self, name: str, *, owner: str, audio: bytes, filename: str, codes: np.ndarray,
            codes_tag: str, duration_s: float, sample_rate: int, consent: bool,
            transcript: Optional[str] = None, language: Optional[str] = None,
            note: str = "", shared: bool = False) -> Voice: ...

    def list(self, viewer: str, *, owner: Optional[str] = None) -> "list[Voice]": ...

    def get(self, name: str, viewer: str, *, owner: Optional[str] = None) -> Voice: ...

    def audio(self, name: str, viewer: str, *, owner: Optional[str] = None) -> bytes: ...

    def get_codes(self, name: str, viewer: str, *, tag: str,
                  owner: Optional[str] = None) -> Optional[np.ndarray]: ...

    def set_codes(self, name: str, viewer: str, codes: np.ndarray, *, tag: str,
                  owner: Optional[str] = None) -> Voice: ...

    def update(self, name: str, viewer: str, *, transcript=UNCHANGED, note=UNCHANGED,
               language=UNCHANGED, owner: Optional[str] = None) -> Voice: ...

    def rename(self, old: str, new: str, viewer: str, *, owner: Optional[str] = None) -> Voice: ...

    def set_shared(self, name: str, shared: bool, viewer: str, *,
                   owner: Optional[str] = None) -> Voice: ...

    def delete(self, name: str, viewer: str, *, owner: Optional[str] = None) -> None: ...

    def close(self) -> None: ...
