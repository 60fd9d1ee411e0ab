"""Pure prompt building (task inputs -> ``[K, T]`` token matrix) and output extraction.

No model is needed: everything here takes a text tokenizer, its :class:`SpecialIds` and audio
codes. See :mod:`.segments` for the matrix layout, :mod:`.builder` for the per-task layouts,
:mod:`.extraction` for reading outputs and :mod:`.presets` for few-shot presets.
"""

from .builder import DialogueTurn, FewShotPair, PromptBuilder, with_history
from .extraction import (REFERENCE_SILENCE_SECONDS, ExtractedOutput, OutputReader, clean_decoded_text,
                         extract_output)
from .presets import PRESETS, FewShotPreset, get_preset
from .segments import (INTERLEAVE_AUDIO_GROUPS, INTERLEAVE_TEXT_TOKENS, RELEASE_SPEECH_EMPTY_IDS,
                       audio_segment, interleaved_segment, parse_empty_ids, text_segment)
from .templates import (ASR_TEMPLATES, DEFAULT_DIALOGUE_SYSTEM_PROMPT, TTS_TEMPLATES,
                        capitalize_single_case, detect_language)
from .text_encoding import Markup, TextEncoder

__all__ = [
    "ASR_TEMPLATES", "DEFAULT_DIALOGUE_SYSTEM_PROMPT", "DialogueTurn", "ExtractedOutput", "FewShotPair",
    "FewShotPreset", "INTERLEAVE_AUDIO_GROUPS", "INTERLEAVE_TEXT_TOKENS", "Markup", "OutputReader", "PRESETS",
    "PromptBuilder", "REFERENCE_SILENCE_SECONDS", "RELEASE_SPEECH_EMPTY_IDS", "TTS_TEMPLATES",
    "TextEncoder", "audio_segment", "capitalize_single_case", "clean_decoded_text", "detect_language",
    "extract_output", "get_preset", "interleaved_segment",
    "parse_empty_ids", "text_segment", "with_history",
]
