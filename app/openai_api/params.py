"""Request bodies -> checked values, with OpenAI's field names; a wrong value is a 400 that
names the field (``param``). Unknown fields are ignored, as OpenAI-compatible servers do,
except those that would change the result and that we cannot honour (``n`` > 1, tools...).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from mimo_core.sampler_config import BY_NAME, OPTIONS, OptionError, check_options
from mimo_core.tasks import GenerationOptions

from .audio import OUTPUT_FORMATS
from .errors import bad_request

CHAT_AUDIO_FORMATS = {"wav": "wav", "mp3": "mp3", "flac": "flac", "opus": "opus", "pcm16": "pcm"}
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")
SPEECH_STREAM_FORMATS = ("audio", "sse")
UNSUPPORTED_CHAT_FIELDS = ("tools", "functions", "tool_choice", "response_format", "logprobs",
                           "prediction")


def parse_json(body: bytes) -> dict:
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    return data


def text_field(data: dict, name: str, *, required: bool = False) -> Optional[str]:
    value = data.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required", param=name)
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string", param=name)
    return value


def choice(data: dict, name: str, allowed, default: str) -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if value not in allowed:
        raise bad_request(f"{name} {value!r} is not supported; use one of: {', '.join(allowed)}",
                          param=name)
    return value


def flag(data: dict, name: str) -> bool:
    """A boolean field; multipart forms send "true"/"false"."""
    value = data.get(name, False)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if value is None or isinstance(value, bool):
        return bool(value)
    raise bad_request(f"{name} must be true or false", param=name)


def number(data: dict, name: str, kind=float, lo: Optional[float] = None,
           hi: Optional[float] = None) -> Optional[Any]:
    value = data.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        value = kind(value)
        if kind is int and float(data[name]) != value:
            raise ValueError
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be a{'n integer' if kind is int else ' number'}", param=name) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise bad_request(f"{name} must be {bound}, got {value:g}", param=name)
    return value


def options(data: dict) -> GenerationOptions:
    """The request's generation fields -> GenerationOptions, one per option of
    :data:`mimo_core.sampler_config.OPTIONS` with HTTP names (its ``api``; the first one given
    wins, e.g. ``max_completion_tokens`` over ``max_tokens``), checked against the options'
    bounds (a 400 naming the field).

    ``temperature`` / ``top_p`` / ``top_k`` set the text sampler (OpenAI has one);
    ``audio_temperature``, ``audio_top_p``, ``audio_top_k`` and ``greedy`` are our extras; ``seed``
    makes sampling reproducible. A temperature of 0 is argmax for that sampler (as in vLLM;
    ``greedy: true`` is both), and ``top_k`` 0 turns top-k off. ``max_completion_tokens`` /
    ``max_tokens`` bound the generated groups (each carries one text token and 4 audio frames,
    0.16 s of speech), on every endpoint; ``min_tokens`` (as vLLM names it) is the fewest groups
    before a stop token may end generation. Remote clients (mimo_core/remote/wire.py) send every
    one of them, resolved."""
    flat: dict[str, Any] = {}
    given: dict[str, str] = {}                 # option name -> the field it came from
    for option in OPTIONS:
        key = next((k for k in option.api if data.get(k) is not None), None)
        if key is None:
            continue
        value = flag(data, key) if option.kind is bool else number(data, key, option.kind)
        if option.field is not None and option.field.zero_is_greedy and value == 0:
            flat[f"{option.sampler}_greedy"] = True          # temperature 0: argmax for that sampler
        else:
            flat[option.name], given[option.name] = value, key
    result = GenerationOptions.from_flat(**flat)
    try:
        check_options(result)
    except OptionError as exc:
        key, field = given[exc.name], BY_NAME[exc.name].field
        argmax = " (or 0 for argmax)" if field is not None and field.zero_is_greedy else ""
        raise bad_request(f"{key} must be {exc.bounds}{argmax}, got {exc.value}", param=key) from None
    return result


def speech_format(data: dict) -> str:
    return choice(data, "response_format", OUTPUT_FORMATS, "mp3")


def check_speed(data: dict) -> None:
    speed = number(data, "speed", float, 0.25, 4.0)
    if speed is not None and speed != 1.0:
        raise bad_request("speed other than 1.0 is not supported by this server (MiMo-Audio "
                          "speaks at its own pace; ask for a pace in `instructions` instead)",
                          param="speed", code="unsupported_value")


def language_code(value: Optional[str]) -> Optional[str]:
    """ISO 639 language -> the ASR template's language: "zh*" -> "zh", anything else "en"."""
    if value is None or not value.strip():
        return None
    return "zh" if value.strip().lower().startswith("zh") else "en"


def chat_output(data: dict) -> tuple[bool, str]:
    """(audio requested, audio format) from ``modalities`` and ``audio``."""
    modalities = data.get("modalities") or ["text"]
    if not isinstance(modalities, list) or not set(modalities) <= {"text", "audio"}:
        raise bad_request('modalities must be ["text"] or ["text", "audio"]', param="modalities")
    wants_audio = "audio" in modalities
    audio = data.get("audio") or {}
    if not isinstance(audio, dict):
        raise bad_request("audio must be an object {format, voice}", param="audio")
    fmt = choice(audio, "format", tuple(CHAT_AUDIO_FORMATS), "wav")
    return wants_audio, CHAT_AUDIO_FORMATS[fmt]


def reject_unsupported_chat(data: dict) -> None:
    n = number(data, "n", int, 1)
    if n is not None and n != 1:
        raise bad_request("n must be 1 (one choice per request)", param="n")
    for name in UNSUPPORTED_CHAT_FIELDS:
        if data.get(name) not in (None, [], {}) and not (name == "response_format"
                                                         and data[name] == {"type": "text"}):
            raise bad_request(f"{name} is not supported by this server", param=name)
