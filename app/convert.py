"""Widget values by name -> the task's typed request. Conversion only: checking is the task
layer's (``mimo_core.tasks.planning``), which names the offending input in its one-line error.

Each task's inputs are its registry fields (``mimo_core.tasks.registry``), converted by kind
(audio: the file behind the widget; text: stripped; flag: bool; ...), plus the advanced
settings (:data:`app.inputs.SAMPLER_FIELDS`). A few tabs offer a friendlier control than the
request field; their conversions are :data:`UI_INPUTS` (TTS mode, ASR language names,
few-shot example rows).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from mimo_core.errors import PromptError
from mimo_core.tasks import registry as r
from mimo_core.tasks.types import Conversation, FewShotExample

from .inputs import SAMPLER_FIELDS, audio_path_of, options_from

MAX_EXAMPLE_ROWS = 4          # few-shot example pairs the UI can show
TTS_MODES = ("plain", "style instruction", "voice prompt", "natural instruction")
ASR_LANGUAGES = {"auto / English": None, "English": "en", "Chinese": "zh"}
EXAMPLE_PARTS = ("input", "output", "transcript")


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value).strip()


def _optional_text(value: Any) -> Optional[str]:
    """An optional text widget: empty means "not given" (the task's default)."""
    return _text(value) or None


def _audio(value: Any) -> Any:
    source = audio_path_of(value)
    return None if (isinstance(source, str) and not source.strip()) else source


def _conversation(value: Any, task: str) -> Optional[Conversation]:
    if value is None:
        return None
    if not isinstance(value, Conversation):
        raise PromptError("the conversation state is not a conversation; press Clear to start over")
    if value.task and value.task != task:
        raise PromptError(f"this conversation belongs to the {value.task!r} tab; press Clear")
    return value


def field_value(field: r.Field, value: Any, task: str) -> Any:
    """One registry field's widget value as the request wants it."""
    if field.kind == r.AUDIO:
        return _audio(value)
    if field.kind == r.TEXT:
        return _text(value) if field.required else _optional_text(value)
    if field.kind == r.FLAG:
        return bool(value)
    if field.kind == r.CONVERSATION:
        return _conversation(value, task)
    if field.kind == r.CHOICE:
        return value or None
    return value


# ------------------------------------------------------------------------ friendlier controls
def _tts(values: dict) -> dict:
    """TTS mode radio -> instruct / voice_prompt / natural."""
    mode = values.pop("mode", "plain") or "plain"
    if mode not in TTS_MODES:
        raise PromptError(f"unknown TTS mode {mode!r}; choose one of: {', '.join(TTS_MODES)}")
    if mode == "style instruction" and not _optional_text(values.get("instruct")):
        raise PromptError("the style instruction is empty (or choose the plain mode)")
    if mode == "voice prompt" and _audio(values.get("voice_prompt")) is None:
        raise PromptError("the voice prompt is missing: upload a file or record with the microphone")
    if mode not in ("style instruction", "voice prompt"):
        values["instruct"] = None
    if mode != "voice prompt":
        values["voice_prompt"] = None
    values["natural"] = mode == "natural instruction"
    return values


def _asr(values: dict) -> dict:
    """Language by name (the dropdown) or by code."""
    language = values.get("language")
    if language in ASR_LANGUAGES:
        values["language"] = ASR_LANGUAGES[language]
    return values


def example_names(i: int) -> tuple[str, ...]:
    return tuple(f"example{i + 1}_{part}" for part in EXAMPLE_PARTS)


def _s2s(values: dict) -> dict:
    """The example rows in use (``n_examples`` of MAX_EXAMPLE_ROWS) -> FewShotExample pairs."""
    try:
        shown = int(values.pop("n_examples", 1))
    except (TypeError, ValueError):
        raise PromptError("number of examples must be a whole number") from None
    if not 1 <= shown <= MAX_EXAMPLE_ROWS:
        raise PromptError(f"use between 1 and {MAX_EXAMPLE_ROWS} example pairs, got {shown}")
    examples = []
    for i in range(MAX_EXAMPLE_ROWS):
        src, dst, transcript = (values.pop(name, None) for name in example_names(i))
        if i < shown:
            examples.append(FewShotExample(input_audio=_audio(src), output_audio=_audio(dst),
                                           transcript=_text(transcript) or ""))
    values["examples"] = tuple(examples)
    return values


# task -> (its UI input names, the conversion to request fields)
UI_INPUTS: dict[str, tuple[tuple[str, ...], Callable[[dict], dict]]] = {
    "tts": (("text", "mode", "instruct", "voice_prompt"), _tts),
    "asr": (("audio", "language"), _asr),
    "s2s": (("audio", "instruction", "n_examples",
             *(name for i in range(MAX_EXAMPLE_ROWS) for name in example_names(i))), _s2s),
}


def input_names(task: str) -> tuple[str, ...]:
    """The UI/HTTP input names of ``task`` (before the advanced settings)."""
    if task in UI_INPUTS:
        return UI_INPUTS[task][0]
    return r.task_spec(task).input_names


def to_request(task: str, values: dict) -> Any:
    """Widget values by name (any omitted one at its default) -> the typed request."""
    spec = r.task_spec(task)
    known = set(input_names(task)) | set(SAMPLER_FIELDS)
    unknown = set(values) - known
    if unknown:
        raise PromptError(f"unknown inputs for {task}: {', '.join(sorted(unknown))}")
    sampler = {k: v for k, v in values.items() if k in SAMPLER_FIELDS}
    fields = {k: v for k, v in values.items() if k not in SAMPLER_FIELDS}
    if task in UI_INPUTS:
        fields = UI_INPUTS[task][1](dict(fields))
    kwargs = {}
    for f in spec.fields:
        value = fields.get(f.name, f.default)
        kwargs[f.name] = tuple(value or ()) if f.kind == r.EXAMPLES else field_value(f, value, task)
    return spec.request(**kwargs, options=options_from(**sampler))
