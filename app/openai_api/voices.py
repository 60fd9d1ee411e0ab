"""Voice names -> voice prompts.

A voice is an audio clip whose timbre the model copies (the TTS and dialogue voice prompt).
The server knows the clips of one folder: every audio file in ``--voices DIR``, named by its
file stem, or by default our ``assets/voice_prompt_*.flac`` named without that prefix
("female"). OpenAI's own voice names mean the model's default voice, so clients written
for OpenAI work unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .errors import bad_request

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse", "marin", "cedar")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
ASSET_VOICE_PREFIX = "voice_prompt_"
DEFAULT_VOICE = "default"                     # the model's own voice, like OpenAI's names


class Voices:
    """Known voice names (case-insensitive) and their clips."""

    def __init__(self, clips: dict[str, Path]):
        self.clips = {name.lower(): path for name, path in clips.items()}

    @classmethod
    def from_folder(cls, folder: Optional[str | Path]) -> "Voices":
        """Every audio file in ``folder`` by stem; ``None``: our assets' voice prompts."""
        if folder is None:
            from app.presets import ASSETS_DIR
            files = sorted(ASSETS_DIR.glob(f"{ASSET_VOICE_PREFIX}*"))
            return cls({p.stem[len(ASSET_VOICE_PREFIX):]: p for p in files
                        if p.suffix.lower() in AUDIO_SUFFIXES})
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise SystemExit(f"error: --voices {folder}: not a folder")
        return cls({p.stem: p for p in sorted(path.iterdir()) if p.suffix.lower() in AUDIO_SUFFIXES})

    def names(self) -> list[str]:
        return sorted(self.clips) + [DEFAULT_VOICE, *OPENAI_VOICES]

    def prompt(self, voice: object, param: str = "voice") -> Optional[Path]:
        """The clip for ``voice`` (a name or ``{"id": name}``); None = the default voice."""
        if isinstance(voice, dict):
            voice = voice.get("id")
        if voice is None:
            return None
        if not isinstance(voice, str):
            raise bad_request(f"{param} must be a voice name", param=param)
        name = voice.strip().lower()
        if name in self.clips:
            return self.clips[name]
        if name in OPENAI_VOICES or name == DEFAULT_VOICE:
            return None
        raise bad_request(f"unknown voice {voice!r}; known voices: {', '.join(self.names())}",
                          param=param, code="unknown_voice")
