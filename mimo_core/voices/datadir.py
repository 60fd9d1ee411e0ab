"""Where the app keeps its data (the voice library lives in ``<data dir>/voices``).

:func:`resolve_data_dir` picks, in order:

1. ``--data-dir`` when given (created if missing; an error if it cannot be written);
2. on a Hugging Face Space, ``/data/mimo-audio-studio`` when ``/data`` (the Space's
   persistent storage, a paid option) exists and can be written; otherwise a new temp
   folder, reported as not persistent so the UI can warn that voices will not survive
   a restart;
3. locally, ``$XDG_DATA_HOME/mimo-audio-studio`` when ``XDG_DATA_HOME`` is set (an
   absolute path, as the XDG spec requires), else ``~/.cache/mimo-audio-studio``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from .rules import storage_error

APP_DIR = "mimo-audio-studio"
VOICES_DIR = "voices"                 # VoiceStore(data_dir / VOICES_DIR)
SPACE_DATA = Path("/data")            # a Space's persistent storage, when it has some


def _writable(path: Path) -> None:
    """Create ``path`` and prove it can be written (a probe file), or raise OSError."""
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
    os.close(fd)
    os.unlink(probe)


def resolve_data_dir(flag: Optional[str], *, on_space: bool) -> tuple[Path, bool]:
    """``(data_dir, persistent)``: the folder to keep data in, and whether it survives a restart."""
    if flag:
        path = Path(flag).expanduser()
    elif on_space:
        try:
            if not SPACE_DATA.is_dir():
                raise FileNotFoundError
            path = SPACE_DATA / APP_DIR
            _writable(path)
            return path, True
        except OSError:
            return Path(tempfile.mkdtemp(prefix=f"{APP_DIR}-")), False
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        path = Path(xdg) / APP_DIR if os.path.isabs(xdg) else Path.home() / ".cache" / APP_DIR
    try:
        _writable(path)
    except OSError as e:
        raise storage_error(f"use the data folder {path}", e) from e
    return path, True
