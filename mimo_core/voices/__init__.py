"""The voice library: saved voices (original audio, codec codes, transcript) by name.

Two implementations of one :class:`VoiceLibrary` interface: :class:`VoiceStore` on disk
(SQLite + audio files; threads and processes may share it) and :class:`SessionVoices` in
memory, for a browser session. Names, rights and limits are the same in both
(:mod:`.rules`, :mod:`.model`). This package imports neither torch nor the codec: callers
pass codes as an int64 numpy ``[C, T]`` array and a tag naming the codec that made them.
"""

from .datadir import APP_DIR, VOICES_DIR, resolve_data_dir
from .errors import (ConsentRequired, InvalidVoiceName, VoiceCorrupt, VoiceDatabaseError,
                     VoiceError, VoiceExists, VoiceForbidden, VoiceLimitError, VoiceNotFound,
                     VoiceStorageError, VoiceTooLarge)
from .model import OPERATOR, UNCHANGED, Voice, VoiceLibrary
from .rules import Limits, check_name, name_key
from .session import SessionVoices
from .store import VoiceStore

__all__ = [
    "APP_DIR", "VOICES_DIR", "resolve_data_dir",
    "ConsentRequired", "InvalidVoiceName", "VoiceCorrupt", "VoiceDatabaseError", "VoiceError",
    "VoiceExists", "VoiceForbidden", "VoiceLimitError", "VoiceNotFound", "VoiceStorageError",
    "VoiceTooLarge",
    "OPERATOR", "UNCHANGED", "Voice", "VoiceLibrary",
    "Limits", "check_name", "name_key",
    "SessionVoices", "VoiceStore",
]
