"""Few-shot speech-to-speech presets for the UI: ``mimo_core.prompts.presets`` (instruction and
advice) paired with our example clips from ``assets/`` (CC0, made by ``assets/make_assets.sh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"

# transcripts of the example outputs (see assets/make_assets.sh), by example number
_SENTENCES = {1: "I like to walk in the park on Sunday.",
              2: "The train leaves at seven in the morning."}
_TRANSLATIONS = {1: "早上好。", 2: "非常感谢。"}
# core preset name -> (asset prefix, transcripts of its outputs)
_CLIPS = {
    "voice_conversion": ("vc", _SENTENCES),
    "emotion_conversion": ("emotion", _SENTENCES),
    "speaking_rate": ("speed", _SENTENCES),
    "denoising": ("denoise", _SENTENCES),
    "speech_translation": ("translate", _TRANSLATIONS),
}


@dataclass(frozen=True)
class Preset:
    key: str                          # the core preset's name
    label: str                        # shown in the dropdown
    instruction: str
    guidance: str                     # what example pairs to give
    examples: tuple[tuple[str, str, str], ...]     # (input path, output path, output transcript)
    query: str                        # an input to try it on


def load_presets() -> dict[str, Preset]:
    """Every core preset that has example clips here, keyed by preset name, in core order."""
    from mimo_core.prompts.presets import PRESETS     # here: importing this module stays light
    out: dict[str, Preset] = {}
    for name, core in PRESETS.items():
        if name not in _CLIPS:
            continue
        prefix, texts = _CLIPS[name]
        examples = tuple((str(ASSETS_DIR / f"{prefix}_in_{n}.flac"),
                          str(ASSETS_DIR / f"{prefix}_out_{n}.flac"), texts[n]) for n in sorted(texts))
        query = str(ASSETS_DIR / f"{prefix}_in_3.flac")
        if all(Path(p).is_file() for ex in examples for p in ex[:2]) and Path(query).is_file():
            out[name] = Preset(name, core.title, core.instruction, core.guidance, examples, query)
    return out


def asset(name: str) -> Optional[str]:
    """Path of one example clip, or None when it is not there."""
    path = ASSETS_DIR / name
    return str(path) if path.is_file() else None
