"""Lazy, thread-safe ownership of the models behind a :class:`~.facade.MimoAudio`.

* The audio tokenizer is loaded once, on first use, and shared by every task.
* Each LM (Instruct, Base) is loaded on first use together with its text tokenizer and a
  continuous-batching scheduler: one worker thread owns the model, and every request for it
  goes through that worker, so concurrent requests batch.
* When Base and Instruct name the same checkpoint, they share one loaded model.
* ``synchronous=True`` (ZeroGPU Spaces, where a call runs in a forked process that has no
  worker thread): no worker; a request runs in the thread that iterates its handle.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..errors import DeviceError, ModelNotConfiguredError
from ..resolve import Role, is_tiny, resolve_spec, same_spec

log = logging.getLogger(__name__)


def torch_dtype(dtype) -> torch.dtype:
    from ..lm.loading import resolve_dtype
    return resolve_dtype(dtype)


class InlineHandle:
    """A request that runs in the thread iterating it (the scheduler-handle protocol:
    GroupEvents, then the GenerationResult; ``cancel()`` from any thread)."""

    def __init__(self, scheduler: "InlineScheduler", req):
        self._scheduler = scheduler
        self._stream = scheduler.engine.stream(req)     # validates here, in the caller's thread
        self.result = None

    def cancel(self) -> None:
        self._stream.cancel()

    def __iter__(self):
        events = iter(self._stream)
        self._scheduler._count(+1)
        try:
            for item in events:
                yield item
            self.result = self._stream.result
        finally:
            events.close()                      # the consumer left early: free the engine
            self._scheduler._count(-1)

    def wait(self):
        for _ in self:
            pass
        return self.result


class InlineScheduler:
    """The scheduler interface without a worker thread: a request runs when its caller
    iterates the handle (concurrent callers wait on the engine's lock; nothing is batched)."""

    waiting_count = 0

    def __init__(self, engine):
        self.engine = engine
        self.active_count = 0
        self._lock = threading.Lock()

    def submit(self, req) -> InlineHandle:
        return InlineHandle(self, req)

    def _count(self, delta: int) -> None:
        with self._lock:
            self.active_count += delta

    def close(self) -> None:
        """Nothing to stop: there is no worker."""


@dataclass
class LoadedLM:
    """One LM ready to serve: model, its text side, its prompt builder and its worker."""

    spec: str
    path: str
    model: object
    tokenizer: object
    special_ids: object
    builder: object
    engine: object
    scheduler: object
    parameters: int
    load_seconds: float
    # Fast tokenizers can refuse concurrent encodes ("Already borrowed"): prompts are built
    # under this lock.
    text_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def empty_ids(self) -> tuple[int, ...]:
        return tuple(self.model.config.speech_empty_ids)

    def close(self) -> None:
        self.scheduler.close()


class ModelManager:
    """Holds the specs and, once used, the loaded models (see module docstring)."""

    def __init__(self, instruct=None, base=None, tokenizer=None, *, device: str = "cpu",
                 dtype="float32", attn: str = "auto", max_batch: int = 4, synchronous: bool = False):
        self.specs = {Role.INSTRUCT: instruct, Role.BASE: base, Role.TOKENIZER: tokenizer}
        self.device = str(device)
        self.dtype = torch_dtype(dtype)                     # the LMs' dtype
        if self.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise DeviceError(f"unsupported dtype {dtype} (use float32, bfloat16 or float16)")
        # The audio tokenizer runs in float32 or bfloat16 (as the reference, which casts it to
        # bf16 beside a bf16 LM); a float16 LM gets a float32 tokenizer.
        self.codec_dtype = torch.bfloat16 if self.dtype == torch.bfloat16 else torch.float32
        self.attn = attn
        self.max_batch = max_batch
        self.synchronous = synchronous            # no worker threads (see module docstring)
        self._lms: dict[Role, LoadedLM] = {}
        self._codec = None
        self._codec_info: dict = {}
        self._locks = {role: threading.Lock() for role in Role}
        self.codec_lock = threading.RLock()       # serialises audio-tokenizer calls

    # ------------------------------------------------------------------ configuration
    def configured(self, role: Role) -> bool:
        return role == Role.TOKENIZER or self.specs[role] is not None

    def tokenizer_is_tiny(self) -> bool:
        return is_tiny(self.specs[Role.TOKENIZER])

    def uses_tiny(self) -> bool:
        return any(is_tiny(s) for s in self.specs.values() if s is not None)

    def require(self, role: Role, task: str) -> None:
        """ModelNotConfiguredError (before any work) when ``task`` needs an unconfigured LM."""
        if not self.configured(role):
            flag = "--base-model-path" if role == Role.BASE else "--model-path"
            raise ModelNotConfiguredError(
                f"the {task!r} task needs the {role.value.capitalize()} model, which is not configured "
                f"(pass {flag}, e.g. XiaomiMiMo/MiMo-Audio-7B-{role.value.capitalize()})")

    def _shared_role(self, role: Role) -> Optional[Role]:
        """The other LM role holding the same checkpoint, if any."""
        other = Role.BASE if role == Role.INSTRUCT else Role.INSTRUCT
        if self.specs[other] is not None and same_spec(self.specs[role], self.specs[other]):
            return other
        return None

    # ------------------------------------------------------------------ audio tokenizer
    def audio_tokenizer(self):
        if self._codec is not None:
            return self._codec
        with self._locks[Role.TOKENIZER]:
            if self._codec is None:
                self._codec = self._load_codec()
        return self._codec

    def _load_codec(self):
        from ..codec import load_audio_tokenizer
        spec = self.specs[Role.TOKENIZER]
        t0 = time.perf_counter()
        path = resolve_spec(spec, Role.TOKENIZER)
        codec = load_audio_tokenizer(path, device=self.device, dtype=self.codec_dtype)
        self._codec_info = {"spec": str(spec) if spec is not None else None, "path": str(path),
                            "load_seconds": round(time.perf_counter() - t0, 3)}
        return codec

    # ------------------------------------------------------------------ language models
    def lm(self, role: Role) -> LoadedLM:
        role = Role(role)
        if role == Role.TOKENIZER:
            raise ValueError("the tokenizer role is not an LM")
        self.require(role, role.value)
        loaded = self._lms.get(role)
        if loaded is None:
            with self._locks[role]:
                loaded = self._lms.get(role)
                if loaded is None:
                    shared = self._shared_role(role)
                    loaded = self._lms.get(shared) if shared is not None else None
                    if loaded is None:
                        loaded = self._load_lm(role)
                    self._lms[role] = loaded
        return loaded

    def _load_lm(self, role: Role) -> LoadedLM:
        from ..engine import Engine
        from ..lm import load_mimo_lm
        from ..prompts import PromptBuilder
        from ..text import load_text_tokenizer

        spec = self.specs[role]
        t0 = time.perf_counter()
        path = resolve_spec(spec, role)
        tokenizer, special_ids = load_text_tokenizer(path)
        model = load_mimo_lm(path, device=self.device, dtype=self.dtype, attn=self.attn)
        builder = PromptBuilder(tokenizer, special_ids, empty_ids=model.config.speech_empty_ids)
        engine = Engine(model, special_ids.empty, max_batch=self.max_batch)
        scheduler = InlineScheduler(engine) if self.synchronous else engine.scheduler()
        params = sum(p.numel() for p in model.parameters())
        seconds = time.perf_counter() - t0
        log.info("loaded %s LM from %s (%.1f M parameters) in %.1f s", role.value, path, params / 1e6, seconds)
        return LoadedLM(str(spec), str(path), model, tokenizer, special_ids, builder, engine, scheduler,
                        params, round(seconds, 3))

    def load(self, role) -> None:
        role = Role(role)
        if role == Role.TOKENIZER:
            self.audio_tokenizer()
        else:
            self.lm(role)

    def unload(self, role, *, collect: bool = True) -> None:
        """Free a model (the next task that needs it loads it again); ``collect`` runs the
        garbage collector so the memory is returned at once."""
        role = Role(role)
        with self._locks[role]:
            if role == Role.TOKENIZER:
                with self.codec_lock:
                    self._codec, self._codec_info = None, {}
            else:
                loaded = self._lms.pop(role, None)
                if loaded is not None and all(v is not loaded for v in self._lms.values()):
                    loaded.close()
        if collect:
            gc.collect()
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()

    def close(self) -> None:
        """Stop the LM workers (the models go with this object)."""
        for role in (Role.INSTRUCT, Role.BASE):
            self.unload(role, collect=False)

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        out = {"device": self.device, "batching": not self.synchronous, "dtype": str(self.dtype).replace("torch.", ""),
               "tokenizer_dtype": str(self.codec_dtype).replace("torch.", ""),
               "tiny": self.uses_tiny(), "models": {}}
        for role in Role:
            spec = self.specs[role]
            entry = {"spec": str(spec) if spec is not None else None, "configured": self.configured(role)}
            if role == Role.TOKENIZER:
                codec = self._codec
                entry["loaded"] = codec is not None
                if codec is not None:
                    entry.update(self._codec_info)
                    entry["parameters"] = sum(p.numel() for p in codec.model.parameters())
            else:
                lm = self._lms.get(role)
                entry["loaded"] = lm is not None
                if lm is not None:
                    entry.update(path=lm.path, parameters=lm.parameters, load_seconds=lm.load_seconds,
                                 active_requests=lm.scheduler.active_count,
                                 waiting_requests=lm.scheduler.waiting_count,
                                 shared_with=[r.value for r, v in self._lms.items() if v is lm and r != role])
            out["models"][role.value] = entry
        out["memory"] = _memory()
        return out


def _memory() -> dict:
    mem = {}
    try:
        import resource
        mem["process_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):          # pragma: no cover - non-POSIX
        pass
    # is_initialized, not is_available: status must not start CUDA (on ZeroGPU the main
    # process may not touch it at all)
    if torch.cuda.is_initialized():
        mem["cuda_allocated_mb"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        mem["cuda_reserved_mb"] = round(torch.cuda.memory_reserved() / 2**20, 1)
    return mem
