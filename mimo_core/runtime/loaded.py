"""``LoadedLM``: one LM ready to serve, every part of it typed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..prompts import PromptBuilder
from ..text import SpecialIds

if TYPE_CHECKING:       # annotations only: these modules import transformers
    from transformers import PreTrainedTokenizerBase

    from ..engine import Engine
    from ..lm import MimoAudioLM
    from .schedulers import TurnScheduler


@dataclass
class LoadedLM:
    """One LM ready to serve: model, its text side, its prompt builder and its worker.

    While swapped out (Base and Instruct taking turns, :mod:`.swapper`), ``model`` is the
    meta-device module (its config is still there for the prompt side), ``engine`` runs over it
    (it validates requests, it never generates) and ``resident`` is False; the text side stays
    loaded. ``scheduler`` stays the same object across swaps (a request holding this LoadedLM
    reaches the new worker): a :class:`~.schedulers.TurnScheduler`, a
    :class:`~mimo_core.engine.protocols.Scheduler` in front of the engine's own."""

    spec: str
    path: str
    model: MimoAudioLM
    tokenizer: PreTrainedTokenizerBase
    special_ids: SpecialIds
    builder: PromptBuilder
    engine: Engine
    scheduler: TurnScheduler
    parameters: int
    load_seconds: float
    device: str = "cpu"
    resident: bool = True
    # Fast tokenizers can refuse concurrent encodes ("Already borrowed"): prompts are built
    # under this lock.
    text_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def empty_ids(self) -> tuple[int, ...]:
        return tuple(self.model.config.speech_empty_ids)

    def close(self) -> None:
        self.scheduler.close()
