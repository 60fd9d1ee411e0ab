"""The voice library's one-line errors.

Request errors (a bad name, an unknown voice, no consent, over a limit) derive from
:class:`~mimo_core.errors.PromptError`, so the CLI and the web app already show them as
one line. Storage faults (a full disk, a corrupt row or database) derive from
:class:`VoiceStorageError`: the request was fine, the library could not serve it.
"""

from __future__ import annotations

from ..errors import InputTooLongError, MimoError, PromptError


class VoiceError(PromptError):
    """A voice request that cannot be served as asked."""


class InvalidVoiceName(VoiceError):
    """A name that is empty, too long, or holds characters a voice name may not."""


class VoiceNotFound(VoiceError):
    """No voice of that name is visible to the viewer (the message lists those that are)."""


class VoiceExists(VoiceError):
    """The owner already has a voice of that name (or a shared one has it)."""


class VoiceForbidden(VoiceError):
    """The viewer may see the voice but not change it (or may not share voices)."""


class ConsentRequired(VoiceError):
    """Saving a voice needs the user's confirmation that they may use it."""


class VoiceLimitError(VoiceError):
    """The owner already has the most voices allowed."""


class VoiceTooLarge(VoiceError, InputTooLongError):
    """Audio over the byte or seconds limit."""


class VoiceStorageError(MimoError):
    """The library could not read or write its files or database."""


class VoiceCorrupt(VoiceStorageError):
    """A stored voice whose audio, codes or metadata cannot be read back."""


class VoiceDatabaseError(VoiceStorageError):
    """The database file is not a usable voice database."""
