"""The task registry: every task declared once, as a :class:`TaskSpec`.

A spec says which request type the task takes, which LM runs it, whether it speaks, its
sampler and stop defaults (docs/FORMAT.md section 7), how its prompt is planned, and its
user-facing inputs (:class:`Field`: one name for the request field, the CLI argument and the
UI/HTTP input). The facade dispatches on the request's type through :func:`spec_of`; the CLI
parser (:mod:`mimo_core.cli.tasks`), the web endpoints and the README's task table are derived
from :data:`TASKS`.

Adding an option to a task is a :class:`Field` here (plus the prompt builder that uses it,
and its UI widget). Torch-free: the CLI parser reads this module without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

from ..errors import PromptError
from ..resolve import Role
from ..sampler_config import GREEDY, SamplerConfig
from . import types as t

# Stop tokens are named by SpecialIds field; ids come from the loaded tokenizer.
EOS, IM_END, EOSTM, EOSP = "endoftext", "im_end", "eostm", "eosp"
LOCAL_AUDIO = SamplerConfig(temperature=0.9, top_p=0.95)   # every task's patch-decoder sampler
# Speech continuation: the shortest output, so it cannot stop at once (docs/FORMAT.md section 6,
# our inferred choice: the golden harness uses 8 groups = 1.28 s).
CONTINUE_MIN_NEW_GROUPS = 8

AUDIO, TEXT, FLAG, CHOICE, NUMBER, EXAMPLES, CONVERSATION = (
    "audio", "text", "flag", "choice", "number", "examples", "conversation")
POSITIONAL = "positional"             # Field.cli: a positional CLI argument


@dataclass(frozen=True)
class Field:
    """One input of a task: the request field ``name``, its CLI argument and its UI/API input.

    ``kind``: audio (a file path / array), text, flag (bool), choice (one of ``choices``),
    number (float), examples (few-shot pairs), conversation (dialogue history).
    ``cli``: ``""`` = ``--name-with-dashes``, :data:`POSITIONAL`, another flag name, or None
    (not on the command line).
    """

    name: str
    kind: str
    help: str
    required: bool = False
    cli: Optional[str] = ""
    choices: tuple = ()
    default: Any = None

    @property
    def flag(self) -> Optional[str]:
        if self.cli is None or self.cli == POSITIONAL:
            return None
        return self.cli or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class TaskSpec:
    name: str                             # CLI command, HTTP endpoint, conversation kind
    title: str                            # tab and table title
    summary: str                          # one line for --help and the docs
    request: type                         # its request dataclass
    role: Role                            # which LM runs it
    speaks: bool                          # audio is extracted from the output
    text: SamplerConfig                   # global (text) sampler
    audio: SamplerConfig                  # local (patch decoder) sampler
    stop: tuple[str, ...]                 # SpecialIds field names
    fields: tuple[Field, ...]             # user-facing inputs, in UI/CLI order
    planner: str                          # name of its planning function (mimo_core.tasks.planning)
    min_new_groups: int = 0
    ui_max_seconds: Optional[float] = None   # the UI's default output cap (None = until it stops)
    conversation: bool = False            # a multi-turn task (Conversation in and out)
    thinks: bool = False                  # its prompt may open a think block (reasoning, then answer)
    extra_cli: tuple[Field, ...] = field(default=())   # CLI-only inputs, converted by the CLI

    @property
    def input_names(self) -> tuple[str, ...]:
        """The UI/HTTP input names (request fields without ``options``), in order."""
        return tuple(f.name for f in self.fields)


def _audio(name: str = "audio", help: str = "input audio file (any common format; resampled to 24 kHz mono)",
           required: bool = True, cli: Optional[str] = POSITIONAL) -> Field:
    return Field(name, AUDIO, help, required=required, cli=cli)


_THINKING = Field("thinking", FLAG, "let the model think before answering", default=False)
_CONVERSATION = Field("conversation", CONVERSATION,
                      "continue the conversation saved in FILE (.npz from --save-conversation)")

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec(
        "continue", "Speech Continuation", "speech continuation (Base)", t.ContinueRequest,
        Role.BASE, speaks=True,
        # No task row in the reference: its forward() default samplers (the only ones with a
        # top-k), as the golden harness used.
        text=SamplerConfig(temperature=0.6, top_k=50, top_p=0.95),
        audio=SamplerConfig(temperature=0.9, top_k=50, top_p=0.95),
        stop=(EOSP, EOS), min_new_groups=CONTINUE_MIN_NEW_GROUPS, planner="prepare_continue",
        fields=(_audio(),
                Field("duration_s", NUMBER, "seconds to generate at most", cli="--duration", default=10.0))),
    TaskSpec(
        "s2s", "Few-shot Speech-to-Speech", "few-shot speech-to-speech (Base)", t.S2SRequest,
        Role.BASE, speaks=True, text=GREEDY, audio=LOCAL_AUDIO, stop=(EOS, EOSTM),
        ui_max_seconds=20, planner="prepare_s2s",
        fields=(_audio(),
                Field("instruction", TEXT, "what to do with the input speech"),
                Field("examples", EXAMPLES, "JSON list of {input_audio, output_audio, transcript} "
                      "(paths relative to the file)", required=True)),
        extra_cli=(Field("preset", CHOICE, "use a preset's instruction (voice_conversion, "
                         "emotion_conversion, speaking_rate, denoising, speech_translation)"),)),
    TaskSpec(
        "tts", "Text-to-Speech", "text to speech (Instruct)", t.TTSRequest,
        Role.INSTRUCT, speaks=True, text=SamplerConfig(temperature=0.6, top_p=1.0), audio=LOCAL_AUDIO,
        stop=(EOS, EOSTM, IM_END), ui_max_seconds=30, planner="prepare_tts", thinks=True,
        fields=(Field("text", TEXT, "text to speak", required=True),
                Field("instruct", TEXT, "style instruction, e.g. 'speak slowly and warmly'"),
                _audio("voice_prompt", "audio whose voice to imitate", required=False, cli=""),
                Field("natural", FLAG, "the style is written inside --text itself", default=False),
                Field("template", TEXT, "override the request template (default: by language)"))),
    TaskSpec(
        "asr", "ASR", "speech recognition (Instruct)", t.ASRRequest,
        Role.INSTRUCT, speaks=False, text=GREEDY, audio=LOCAL_AUDIO, stop=(EOS, IM_END),
        ui_max_seconds=60, planner="prepare_asr",
        fields=(_audio(),
                Field("language", CHOICE, "template language (default en)", choices=("en", "zh")),
                Field("template", TEXT, "override the request template"))),
    TaskSpec(
        "understand", "Audio Understanding", "audio understanding: answer a question about audio (Instruct)",
        t.UnderstandRequest, Role.INSTRUCT, speaks=False,
        text=SamplerConfig(temperature=0.3, top_p=0.95), audio=LOCAL_AUDIO, stop=(EOS, IM_END),
        ui_max_seconds=60, planner="prepare_understand", thinks=True,
        fields=(_audio(), Field("question", TEXT, "question about the audio", required=True), _THINKING)),
    TaskSpec(
        "dialogue", "Spoken Dialogue", "spoken dialogue: speech in, speech + text out (Instruct)",
        t.DialogueRequest, Role.INSTRUCT, speaks=True,
        text=SamplerConfig(temperature=0.6, top_p=0.95), audio=LOCAL_AUDIO, stop=(EOS, EOSTM, IM_END),
        ui_max_seconds=30, planner="prepare_dialogue", conversation=True,
        fields=(_audio(), _CONVERSATION,
                _audio("voice_prompt", "audio whose voice the assistant should use (first turn only)",
                       required=False, cli=""),
                Field("system_prompt", TEXT, "system prompt ('' for none; default: the reference UI's; "
                      "first turn only)"))),
    TaskSpec(
        "s2t", "Speech-to-Text Dialogue", "speech-to-text dialogue: speech in, text out (Instruct)",
        t.S2TRequest, Role.INSTRUCT, speaks=False,
        text=SamplerConfig(temperature=0.6, top_p=0.95), audio=LOCAL_AUDIO, stop=(EOS, IM_END),
        ui_max_seconds=60, planner="prepare_dialogue", conversation=True, thinks=True,
        fields=(_audio(), _CONVERSATION, _THINKING)),
    TaskSpec(
        "chat", "Text Chat", "text chat (Instruct)", t.ChatRequest,
        Role.INSTRUCT, speaks=False, text=SamplerConfig(temperature=0.4, top_p=0.95), audio=LOCAL_AUDIO,
        stop=(EOS, IM_END), ui_max_seconds=60, planner="prepare_dialogue", conversation=True, thinks=True,
        fields=(Field("text", TEXT, "your message", required=True), _CONVERSATION, _THINKING)),
)}

_BY_TYPE: dict[type, TaskSpec] = {spec.request: spec for spec in TASKS.values()}


def spec_of(request) -> TaskSpec:
    """The spec of a request object, by its type (PromptError for anything else)."""
    spec = _BY_TYPE.get(type(request))
    if spec is None:
        raise PromptError(f"not a task request: {type(request).__name__}")
    return spec


def task_spec(name: str) -> TaskSpec:
    """The spec named ``name`` (PromptError naming the known tasks otherwise)."""
    try:
        return TASKS[name]
    except KeyError:
        raise PromptError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None


def _check_fields_match_requests() -> None:
    """Every spec's fields are exactly its request type's fields (``options`` aside)."""
    for spec in TASKS.values():
        declared = [f.name for f in fields(spec.request) if f.name != "options"]
        if sorted(declared) != sorted(spec.input_names):
            raise AssertionError(f"{spec.name}: fields {spec.input_names} != request fields {declared}")


_check_fields_match_requests()
