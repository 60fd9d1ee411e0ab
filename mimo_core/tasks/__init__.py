"""The task layer: typed requests -> prompts -> generation -> text / audio / tokens.

:class:`MimoAudio` is the facade; the request and result types live in :mod:`.types`.
"""

from .defaults import TASK_DEFAULTS, groups_for_seconds
from .facade import MimoAudio
from .limits import Limits
from .types import (ASRRequest, AudioInput, ChatRequest, ContinueRequest, Conversation,
                    DialogueRequest, FewShotExample, GenerationOptions, S2SRequest, S2TRequest,
                    StreamEvent, TaskRequest, TaskResult, TTSRequest, Turn, UnderstandRequest)

__all__ = [
    "ASRRequest", "AudioInput", "ChatRequest", "ContinueRequest", "Conversation", "DialogueRequest",
    "FewShotExample", "GenerationOptions", "Limits", "MimoAudio", "S2SRequest", "S2TRequest",
    "StreamEvent", "TASK_DEFAULTS", "TTSRequest", "TaskRequest", "TaskResult", "Turn",
    "UnderstandRequest", "groups_for_seconds",
]
