"""Fixed prompt strings and the rules that choose between them (docs/FORMAT.md sections 5-6).

Template choice is deterministic. The reference picks the ASR request at random from a
list of English and Chinese phrasings (22 in all) and the TTS request at random from a
per-language list; we use one fixed phrasing per language (the ones the golden fixtures
were recorded with), chosen by an explicit ``language`` or, for TTS, by the text itself.
Any template can be overridden by the caller; an override is tokenized as plain text.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "zh")

ASR_TEMPLATES = {
    "en": "Please transcribe this audio file",
    "zh": "请将这段语音转换为文字",
}
TTS_TEMPLATES = {
    "en": "Please convert this text to speech",
    "zh": "请将这段文字转换为语音",
}

# System texts of the instruct TTS prompts (the model was trained on these exact strings).
TTS_STYLE_SYSTEM = "你需要根据指定的风格指令和文本内容来生成语音。"
TTS_VOICE_SYSTEM = "你需要根据指定的风格指令和文本内容来生成和语音prompt具有相同音色的语音。你的音色应该是："
# Spoken dialogue: the voice-prompt system block's text.
DIALOGUE_VOICE_PREFIX = "Your voice should be:"
# The reference UI's default dialogue system prompt (the prompt builders default to none).
DEFAULT_DIALOGUE_SYSTEM_PROMPT = (
    "You are MiMo-Audio, a friendly AI assistant and your response needs to be concise.")
# Few-shot speech-to-speech (Base model): "[Int]:{instruction}\n".
FEW_SHOT_INSTRUCTION_PREFIX = "[Int]:"

# Assistant openings: thinking off (an empty think block) and thinking on (the model thinks).
THINK_OFF = "<think>\n\n</think>\n"
THINK_ON = "<think>\n"

_CJK = re.compile("[\u4e00-\u9fff]")


def detect_language(text: str) -> str:
    """``"zh"`` when the text holds any CJK unified ideograph, else ``"en"`` (the reference's rule)."""
    return "zh" if _CJK.search(text) else "en"


def capitalize_single_case(text: str) -> str:
    """Capitalise text whose cased letters are all upper- or all lower-case (reference rule).

    Python's ``str.capitalize`` semantics: first character upper, the rest lower. Mixed-case
    text and text without cased letters (Chinese) is returned unchanged. The reference applies
    this to TTS text only (not to instructions, questions, chat messages or transcripts).

    >>> capitalize_single_case("HELLO WORLD"), capitalize_single_case("hello World")
    ('Hello world', 'hello World')
    """
    if text.isupper() or text.islower():
        return text.capitalize()
    return text


def _check_language(language: str | None) -> None:
    # the user-facing check is planning's (mimo_core.tasks.planning); this one asserts it
    assert language is None or language in LANGUAGES, f"unknown language {language!r}"


def _check_template(template: str) -> str:
    assert isinstance(template, str) and template.strip(), "the prompt template is empty"
    return template


def asr_template(language: str | None = None, template: str | None = None) -> str:
    """The ASR request text: ``template`` if given, else the fixed one for ``language`` (default en)."""
    _check_language(language)
    if template is not None:
        return _check_template(template)
    return ASR_TEMPLATES[language or "en"]


def tts_template(text: str, language: str | None = None, template: str | None = None) -> str:
    """The TTS request text: ``template`` if given, else by ``language`` or by the text (CJK -> zh)."""
    _check_language(language)
    if template is not None:
        return _check_template(template)
    return TTS_TEMPLATES[language or detect_language(text)]
