"""Loading and wiring: checkpoints in, models ready to serve out.

:class:`Loader` knows how this process runs its models (a device per role, the dtypes,
attention kernel, quantization, rows per worker, worker threads or not) and

* loads the audio tokenizer;
* loads an LM with its text tokenizer and prompt builder and wires it to serve: an
  :class:`~mimo_core.engine.Engine` and its scheduler (a continuous-batching worker, or
  :class:`~.schedulers.InlineScheduler` when ``synchronous``) behind a
  :class:`~.schedulers.TurnScheduler`, whose turns the caller supplies (:mod:`.swapper`);
* evicts an LM's weights (the meta-device module stays) and restores them (swap out / in).

This module imports the model stack (torch, transformers); the manager imports it on the first
load, so that building a facade does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from ..codec import AudioTokenizer, load_audio_tokenizer
from ..engine import Engine
from ..engine.protocols import Scheduler
from ..lm import MimoAudioLM, load_mimo_lm
from ..lm.loading import build_meta_model
from ..prompts import PromptBuilder
from ..resolve import Role, resolve_spec
from ..text import load_text_tokenizer
from .dtypes import Dtypes
from .loaded import LoadedLM
from .schedulers import InlineScheduler, TurnScheduler

log = logging.getLogger(__name__)


class Loader:
    def __init__(self, devices: dict[Role, str], dtypes: Dtypes, *, attn: str, quantize: Optional[str],
                 max_batch: int, synchronous: bool):
        self.devices, self.dtypes, self.attn, self.quantize = devices, dtypes, attn, quantize
        self.max_batch, self.synchronous = max_batch, synchronous

    # ------------------------------------------------------------------ audio tokenizer
    def codec(self, spec: Optional[str]) -> tuple[AudioTokenizer, dict]:
        """The audio tokenizer of ``spec`` and what the status report says of its loading."""
        t0 = time.perf_counter()
        path = resolve_spec(spec, Role.TOKENIZER)
        codec = load_audio_tokenizer(path, device=self.devices[Role.TOKENIZER], dtype=self.dtypes.codec)
        info = {"spec": str(spec) if spec is not None else None, "path": str(path),
                "load_seconds": round(time.perf_counter() - t0, 3)}
        return codec, info

    # ------------------------------------------------------------------ language models
    def lm(self, role: Role, spec: str, enter: Callable[[], None], leave: Callable[[], None]) -> LoadedLM:
        """``role``'s LM from ``spec``, serving; ``enter()`` / ``leave()`` around every request
        (the swapper's turns)."""
        t0 = time.perf_counter()
        path = resolve_spec(spec, role)
        tokenizer, special_ids = load_text_tokenizer(path)
        model = self._weights(path, role)
        builder = PromptBuilder(tokenizer, special_ids, empty_ids=model.config.speech_empty_ids)
        params = sum(p.numel() for p in model.parameters())
        seconds = time.perf_counter() - t0
        log.info("loaded %s LM from %s (%.1f M parameters) in %.1f s", role.value, path, params / 1e6, seconds)
        engine, inner = self._serve(model, special_ids.empty)
        return LoadedLM(str(spec), str(path), model, tokenizer, special_ids, builder, engine,
                        TurnScheduler(inner, enter, leave), params, round(seconds, 3),
                        device=self.devices[role])

    def evict(self, loaded: LoadedLM) -> None:
        """Stop ``loaded``'s worker and drop its weights (the caller frees the memory)."""
        loaded.scheduler.close()
        # the meta-device module keeps the config the prompt side reads; the weights go
        loaded.model = build_meta_model(loaded.model.config)
        loaded.engine = self._engine(loaded.model, loaded.special_ids.empty)
        loaded.resident = False

    def restore(self, role: Role, loaded: LoadedLM) -> None:
        """Read ``loaded``'s weights again and give it a fresh engine and worker."""
        t0 = time.perf_counter()
        loaded.model = self._weights(loaded.path, role)
        loaded.engine, loaded.scheduler.inner = self._serve(loaded.model, loaded.special_ids.empty)
        loaded.resident = True
        loaded.load_seconds = round(time.perf_counter() - t0, 3)

    def _weights(self, path: str | Path, role: Role) -> MimoAudioLM:
        return load_mimo_lm(path, device=self.devices[role], dtype=self.dtypes.lm, attn=self.attn,
                            quantize=self.quantize)

    def _engine(self, model: MimoAudioLM, empty_text_id: int) -> Engine:
        return Engine(model, empty_text_id, max_batch=self.max_batch)

    def _serve(self, model: MimoAudioLM, empty_text_id: int) -> tuple[Engine, Scheduler]:
        """A fresh engine for ``model`` and the scheduler in front of it."""
        engine = self._engine(model, empty_text_id)
        return engine, InlineScheduler(engine) if self.synchronous else engine.scheduler()
