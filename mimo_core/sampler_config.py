"""The one sampler-settings type (docs/FORMAT.md section 7), torch-free.

Used by the task defaults (which the CLI parser reads without importing torch) and by the
engine's samplers (``mimo_core.engine.sampling`` re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PromptError


@dataclass(frozen=True)
class SamplerConfig:
    """One sampler: temperature, then top-k (None = off), then top-p; ``greedy`` = argmax."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    greedy: bool = False

    def __post_init__(self):
        if not self.greedy and not self.temperature > 0:
            raise PromptError(f"sampling temperature must be > 0 (got {self.temperature}); use greedy instead")
        if self.top_k is not None and self.top_k < 1:
            raise PromptError(f"top_k must be >= 1 or None (got {self.top_k})")
        if not 0.0 < self.top_p <= 1.0:
            raise PromptError(f"top_p must be in (0, 1] (got {self.top_p})")


GREEDY = SamplerConfig(greedy=True)
