"""The task layer: typed requests -> prompts -> generation -> text / audio / tokens.

:class:`MimoAudio` is the facade; the request and result types live in :mod:`.types`.
The facade (and with it torch) is imported on first use of ``MimoAudio``, so the light
parts (types, the task registry, defaults, limits) cost no torch import, e.g. when building the CLI parser.
"""

from .defaults import groups_for_seconds
from .limits import Limits
from .registry import TASKS, TaskSpec, spec_of, task_spec
from .types import (ASRRequest, AudioInput, ChatRequest, ContinueRequest, Conversation,
                    DialogueRequest, EncodedAudio, FewShotExample, GenerationOptions, S2SRequest, S2TRequest,
                    StreamEvent, TaskRequest, TaskResult, TTSRequest, Turn, UnderstandRequest)

__all__ = [
    "ASRRequest", "AudioInput", "ChatRequest", "ContinueRequest", "Conversation", "DialogueRequest",
    "EncodedAudio", "FewShotExample", "GenerationOptions", "Limits", "MimoAudio", "S2SRequest", "S2TRequest",
    "StreamEvent", "TASKS", "TTSRequest", "TaskRequest", "TaskResult", "TaskSpec", "Turn",
    "UnderstandRequest", "groups_for_seconds", "spec_of", "task_spec",
]


def __getattr__(name: str):
    if name == "MimoAudio":
        from .facade import MimoAudio
        return MimoAudio
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
