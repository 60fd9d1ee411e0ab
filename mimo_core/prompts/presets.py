"""Few-shot speech-to-speech presets: an instruction plus advice on the example pairs to give.

The Base model learns a speech-to-speech mapping in context from a short instruction and a
few (input speech, output transcript, output speech) examples; the instruction alone does
little, the examples carry the task. Every example's *output* must show the transformation
applied to its *input*, and the query is then transformed the same way. Use the same
target (voice, emotion, rate, language) in every example.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PromptError


@dataclass(frozen=True)
class FewShotPreset:
    name: str
    title: str
    instruction: str           # goes after "[Int]:" in the prompt
    guidance: str              # what example pairs to supply
    suggested_examples: int = 3


PRESETS: dict[str, FewShotPreset] = {p.name: p for p in (
    FewShotPreset(
        name="voice_conversion",
        title="Voice conversion",
        instruction="Convert the timbre of the input speech to target timbre.",
        guidance=("Each example: an utterance by any speaker as input, and the same words spoken by "
                  "the target speaker as output, with its transcript. Use one target speaker across "
                  "all examples and varied source speakers, so the model learns to keep the words and "
                  "swap the voice."),
    ),
    FewShotPreset(
        name="emotion_conversion",
        title="Emotion conversion",
        instruction="Say the input speech again with the target emotion, keeping its words and its voice.",
        guidance=("Each example: a neutral (or differently felt) utterance as input, and the same "
                  "speaker saying the same words with the target emotion (e.g. happy) as output, with "
                  "its transcript. Keep the target emotion the same in every example."),
    ),
    FewShotPreset(
        name="speaking_rate",
        title="Speaking-rate change",
        instruction="Say the input speech again at the target speaking rate, keeping its words and its voice.",
        guidance=("Each example: an utterance at normal pace as input, and the same speaker saying the "
                  "same words faster (or slower) as output, with its transcript. Use one direction and "
                  "a similar rate change in every example."),
    ),
    FewShotPreset(
        name="denoising",
        title="Denoising",
        instruction="Remove the background noise from the input speech, keeping its words and its voice.",
        guidance=("Each example: a noisy recording as input and the clean recording of the same "
                  "utterance as output, with its transcript. Vary the kinds of noise across examples."),
    ),
    FewShotPreset(
        name="speech_translation",
        title="Speech translation",
        instruction="Translate the input speech into the target language, keeping the speaker's voice.",
        guidance=("Each example: an utterance in the source language as input, and its translation "
                  "spoken in the target language (ideally by the same speaker) as output, with the "
                  "transcript of the translation. Keep one source and one target language across all "
                  "examples."),
    ),
)}


def get_preset(name: str) -> FewShotPreset:
    """The preset called ``name``; a :class:`PromptError` listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise PromptError(f"unknown few-shot preset {name!r}: choose one of {', '.join(PRESETS)}") from None
