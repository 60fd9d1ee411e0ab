"""The generation engine: ids in, ids out (prefill, per-group steps, samplers, streaming,
batching, cancellation). It never sees text or audio."""

from .engine import Engine, GenerationStream
from .protocols import Decoder, Handle, Scheduler
from .sampling import GREEDY, SamplerConfig
from .scheduler import BatchScheduler, RequestHandle
from .types import GenerationRequest, GenerationResult, GroupEvent, StopReason

__all__ = [
    "GREEDY", "BatchScheduler", "Decoder", "Engine", "GenerationRequest", "GenerationResult",
    "GenerationStream", "GroupEvent", "Handle", "RequestHandle", "SamplerConfig", "Scheduler", "StopReason",
]
