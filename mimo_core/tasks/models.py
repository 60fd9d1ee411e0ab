"""Lazy, thread-safe ownership of the models behind a :class:`~.facade.MimoAudio`.

* The audio tokenizer is loaded once, on first use, and shared by every task.
* Each LM (Instruct, Base) is loaded on first use together with its text tokenizer and a
  continuous-batching scheduler: one worker thread owns the model, and every request for it
  goes through that worker, so concurrent requests batch.
* When Base and Instruct name the same checkpoint, they share one loaded model.
* ``synchronous=True`` (ZeroGPU Spaces, where a call runs in a forked process that has no
  worker thread): no worker; a request runs in the thread that iterates its handle.
* Placement: each role may have its own device (``devices``); LM weights may be quantized
  (``quantize``). At the first load a memory plan is made (:mod:`.placement`) from the
  meta-device sizes and the devices' free memory. When Base and Instruct do not both fit on
  their shared device they take turns: a request for the unloaded one waits until the loaded
  one has no request left, then the models swap (requests wait, none is lost).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..constants import MAX_CONTEXT_GROUPS
from ..errors import DeviceError, ModelNotConfiguredError
from ..resolve import Role, is_tiny, resolve_spec, same_spec
from .lm_schedulers import InlineScheduler, TurnScheduler
from .placement import (LM_ROLES, MemoryPlan, Need, codec_weight_bytes, free_bytes, kv_cache_bytes,
                        lm_weight_bytes, plan_memory, reserve_for)

log = logging.getLogger(__name__)


def torch_dtype(dtype) -> torch.dtype:
    from ..lm.loading import resolve_dtype
    return resolve_dtype(dtype)


@dataclass
class LoadedLM:
    """One LM ready to serve: model, its text side, its prompt builder and its worker.

    While swapped out (turns), ``model`` is the meta-device module (its config is still there
    for the prompt side) and ``resident`` is False; the text side stays loaded."""

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


class ModelManager:
    """Holds the specs and, once used, the loaded models (see module docstring).

    ``devices``: a device per role (``{"tokenizer": "cpu", "base": "cuda:1"}``; unnamed roles use
    ``device``); ``quantize``: "int8" / "int4" LM weights; ``budgets``: bytes per device our
    models may use (tests simulate a card with it; default: measured free memory);
    ``measure_memory=False``: no plan checks (ZeroGPU, where the main process has no CUDA).
    """

    def __init__(self, instruct=None, base=None, tokenizer=None, *, device: str = "cpu",
                 dtype="float32", attn: str = "auto", max_batch: int = 4, synchronous: bool = False,
                 devices: Optional[dict] = None, quantize: Optional[str] = None,
                 budgets: Optional[dict] = None, measure_memory: bool = True):
        from ..lm.quantize import check_mode

        self.specs = {Role.INSTRUCT: instruct, Role.BASE: base, Role.TOKENIZER: tokenizer}
        self.device = str(device)
        given = {Role(k): v for k, v in (devices or {}).items() if v}
        self.devices = {role: str(given.get(role, self.device)) for role in Role}
        self.dtype = torch_dtype(dtype)                     # the LMs' dtype
        if self.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise DeviceError(f"unsupported dtype {dtype} (use float32, bfloat16 or float16)")
        # The audio tokenizer runs in float32 or bfloat16 (as the reference, which casts it to
        # bf16 beside a bf16 LM); a float16 LM gets a float32 tokenizer.
        self.codec_dtype = torch.bfloat16 if self.dtype == torch.bfloat16 else torch.float32
        self.quantize = check_mode(quantize)
        if self.quantize == "int4" and any(not self.devices[r].startswith("cuda") for r in LM_ROLES
                                           if self.specs[r] is not None):
            raise DeviceError("--quantize int4 needs the LMs on CUDA (torchao has no CPU int4 "
                              "kernel); use --quantize int8 on the CPU")
        self.attn = attn
        self.max_batch = max_batch
        self.synchronous = synchronous            # no worker threads (see module docstring)
        self._budgets, self._measure = budgets, measure_memory
        self.plan: Optional[MemoryPlan] = None
        self._lms: dict[Role, LoadedLM] = {}
        self._codec = None
        self._codec_info: dict = {}
        self._locks = {role: threading.Lock() for role in Role}
        self.codec_lock = threading.RLock()       # serialises audio-tokenizer calls
        self._plan_lock = threading.Lock()
        self._turns = threading.Condition()       # guards the counts below and every swap
        self._in_flight = {role: 0 for role in LM_ROLES}
        self._wanted = {role: 0 for role in LM_ROLES}
        self.swaps = 0

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

    def _other(self, role: Role) -> Role:
        return Role.BASE if role == Role.INSTRUCT else Role.INSTRUCT

    def _shared_role(self, role: Role) -> Optional[Role]:
        """The other LM role holding the same checkpoint, if any."""
        other = self._other(role)
        if self.specs[other] is not None and same_spec(self.specs[role], self.specs[other]):
            return other
        return None

    # ------------------------------------------------------------------ memory plan
    def memory_plan(self) -> MemoryPlan:
        """The plan (made once, before the first model loads; DeviceError when a model
        cannot fit)."""
        with self._plan_lock:
            if self.plan is None:
                needs = self._needs()
                budgets = self._budgets if self._budgets is not None else self._measured_budgets(needs)
                self.plan = plan_memory(needs, self.devices, budgets)
                if self.plan.swap:
                    log.warning("Base and Instruct do not both fit on %s: they will take turns",
                                self.devices[Role.INSTRUCT])
        return self.plan

    def _needs(self) -> dict:
        from ..codec.loading import load_config as codec_config
        from ..lm.config import MimoLMConfig
        from .placement import config_dir

        needs = {Role.TOKENIZER: Need(codec_weight_bytes(
            codec_config(config_dir(self.specs[Role.TOKENIZER], Role.TOKENIZER)), self.codec_dtype))}
        rows = 1 if self.synchronous else self.max_batch
        for role in LM_ROLES:
            if self.specs[role] is None or (role == Role.BASE and self._shared_role(role)):
                continue
            config = MimoLMConfig.from_json_file(config_dir(self.specs[role], role) / "config.json")
            context = min(MAX_CONTEXT_GROUPS, config.max_position_embeddings)
            needs[role] = Need(lm_weight_bytes(config, self.dtype, self.quantize),
                               kv_cache_bytes(config, self.dtype, rows, context))
        return needs

    def _measured_budgets(self, needs: dict) -> dict:
        if not self._measure:
            return {d: None for d in set(self.devices.values())}
        budgets = {}
        for device in set(self.devices[r] for r in needs):
            free = free_bytes(device)
            # what we already hold there counts as available to us
            ours = sum(n.total for r, n in needs.items()
                       if self.devices[r] == device and self._holds(r))
            budgets[device] = None if free is None else max(0, free + ours - reserve_for(device))
        return budgets

    def _holds(self, role: Role) -> bool:
        if role == Role.TOKENIZER:
            return self._codec is not None
        loaded = self._lms.get(role)
        return loaded is not None and loaded.resident

    # ------------------------------------------------------------------ audio tokenizer
    def audio_tokenizer(self):
        if self._codec is not None:
            return self._codec
        self.memory_plan()
        with self._locks[Role.TOKENIZER]:
            if self._codec is None:
                self._codec = self._load_codec()
        return self._codec

    def _load_codec(self):
        from ..codec import load_audio_tokenizer
        spec = self.specs[Role.TOKENIZER]
        t0 = time.perf_counter()
        path = resolve_spec(spec, Role.TOKENIZER)
        codec = load_audio_tokenizer(path, device=self.devices[Role.TOKENIZER], dtype=self.codec_dtype)
        self._codec_info = {"spec": str(spec) if spec is not None else None, "path": str(path),
                            "load_seconds": round(time.perf_counter() - t0, 3)}
        return codec

    # ------------------------------------------------------------------ language models
    def lm(self, role: Role) -> LoadedLM:
        """The LM of ``role``, loaded and (when Base and Instruct take turns) on its device."""
        role = Role(role)
        if role == Role.TOKENIZER:
            raise ValueError("the tokenizer role is not an LM")
        self.require(role, role.value)
        self.memory_plan()
        loaded = self._lms.get(role)
        if loaded is None:
            with self._locks[role]:
                loaded = self._lms.get(role)
                if loaded is None:
                    shared = self._shared_role(role)
                    loaded = self._lms.get(shared) if shared is not None else None
                    if loaded is None:
                        loaded = self._first_load(role)
                    self._lms[role] = loaded
        if not loaded.resident:
            self._take_turn(role, count=False)
        return loaded

    def _first_load(self, role: Role) -> LoadedLM:
        if not self.plan.swap:
            return self._load_lm(role)
        with self._turns:
            self._wanted[role] += 1
            try:
                self._wait_and_swap(role, None)          # the other model leaves first
            finally:
                self._wanted[role] -= 1
            return self._load_lm(role)

    def _load_lm(self, role: Role) -> LoadedLM:
        from ..lm import load_mimo_lm
        from ..prompts import PromptBuilder
        from ..text import load_text_tokenizer

        spec = self.specs[role]
        t0 = time.perf_counter()
        path = resolve_spec(spec, role)
        tokenizer, special_ids = load_text_tokenizer(path)
        model = load_mimo_lm(path, device=self.devices[role], dtype=self.dtype, attn=self.attn,
                             quantize=self.quantize)
        builder = PromptBuilder(tokenizer, special_ids, empty_ids=model.config.speech_empty_ids)
        params = sum(p.numel() for p in model.parameters())
        seconds = time.perf_counter() - t0
        log.info("loaded %s LM from %s (%.1f M parameters) in %.1f s", role.value, path, params / 1e6, seconds)
        loaded = LoadedLM(str(spec), str(path), model, tokenizer, special_ids, builder, None, None,
                          params, round(seconds, 3), device=self.devices[role])
        self._serve(loaded, role)
        return loaded

    def _serve(self, loaded: LoadedLM, role: Role) -> None:
        """A fresh engine and scheduler for ``loaded.model`` (after a load or a swap-in)."""
        from ..engine import Engine

        loaded.engine = Engine(loaded.model, loaded.special_ids.empty, max_batch=self.max_batch)
        inner = InlineScheduler(loaded.engine) if self.synchronous else loaded.engine.scheduler()
        if loaded.scheduler is None:
            loaded.scheduler = TurnScheduler(inner, lambda: self._take_turn(role, count=True),
                                             lambda: self._leave(role))
        else:       # swapped back in: a request holding this LoadedLM reaches the new worker
            loaded.scheduler.inner = inner

    # ------------------------------------------------------------------ turns (swap)
    def _take_turn(self, role: Role, *, count: bool) -> None:
        """Before a request of ``role`` runs: its model on the device (when the plan swaps,
        after the other model's requests have ended); ``count``: it is now in flight."""
        with self._turns:
            if self.plan is not None and self.plan.swap:
                self._wanted[role] += 1
                try:
                    self._wait_and_swap(role, self._lms.get(role))
                finally:
                    self._wanted[role] -= 1
            if count:
                self._in_flight[role] += 1

    def _wait_and_swap(self, role: Role, loaded: Optional[LoadedLM]) -> None:
        """(Holding ``_turns``.) Wait until ``role``'s model may be on the device, swapping if
        needed. While requests of the other model wait, new requests of the loaded one queue
        behind them, so neither side starves."""
        other = self._other(role)
        while True:
            theirs = self._lms.get(other)
            theirs_resident = theirs is not None and theirs is not loaded and theirs.resident
            if loaded is not None and loaded.resident:
                if not self._wanted[other]:
                    return
            elif not theirs_resident or self._in_flight[other] == 0:
                if theirs_resident:
                    self._swap_out(other, theirs)
                if loaded is not None:
                    self._swap_in(role, loaded)
                return
            self._turns.wait()

    def _swap_out(self, role: Role, loaded: LoadedLM) -> None:
        from ..engine import Engine
        from ..lm.loading import build_meta_model

        loaded.scheduler.close()
        # the meta-device module keeps the config the prompt side reads; the weights go
        loaded.model = build_meta_model(loaded.model.config)
        loaded.engine = Engine(loaded.model, loaded.special_ids.empty, max_batch=self.max_batch)
        loaded.resident = False
        self._free_memory()
        self.swaps += 1
        log.info("swapped the %s model out to make room", role.value)

    def _swap_in(self, role: Role, loaded: LoadedLM) -> None:
        from ..lm import load_mimo_lm

        t0 = time.perf_counter()
        loaded.model = load_mimo_lm(loaded.path, device=self.devices[role], dtype=self.dtype,
                                    attn=self.attn, quantize=self.quantize)
        self._serve(loaded, role)
        loaded.resident = True
        loaded.load_seconds = round(time.perf_counter() - t0, 3)
        log.info("swapped the %s model in (%.1f s)", role.value, loaded.load_seconds)

    def _leave(self, role: Role) -> None:
        with self._turns:
            self._in_flight[role] -= 1
            self._turns.notify_all()

    # ------------------------------------------------------------------ load / unload
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
            self._free_memory()

    @staticmethod
    def _free_memory() -> None:
        gc.collect()
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    def close(self) -> None:
        """Stop the LM workers (the models go with this object)."""
        for role in (Role.INSTRUCT, Role.BASE):
            self.unload(role, collect=False)

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        out = {"device": self.device, "batching": not self.synchronous,
               "dtype": str(self.dtype).replace("torch.", ""),
               "tokenizer_dtype": str(self.codec_dtype).replace("torch.", ""),
               "quantize": self.quantize or "none", "tiny": self.uses_tiny(), "models": {}}
        for role in Role:
            spec = self.specs[role]
            entry = {"spec": str(spec) if spec is not None else None, "configured": self.configured(role),
                     "device": self.devices[role]}
            if role == Role.TOKENIZER:
                codec = self._codec
                entry["loaded"] = codec is not None
                if codec is not None:
                    entry.update(self._codec_info)
                    entry["parameters"] = sum(p.numel() for p in codec.model.parameters())
            else:
                lm = self._lms.get(role)
                entry["loaded"] = lm is not None and lm.resident
                entry["waiting_for_turn"] = self._wanted[role]
                if lm is not None:
                    entry.update(path=lm.path, parameters=lm.parameters, load_seconds=lm.load_seconds,
                                 active_requests=lm.scheduler.active_count if lm.resident else 0,
                                 waiting_requests=lm.scheduler.waiting_count if lm.resident else 0,
                                 shared_with=[r.value for r, v in self._lms.items() if v is lm and r != role])
            out["models"][role.value] = entry
        if self.plan is not None:
            out["memory_plan"] = self.plan.describe() | {"swaps": self.swaps}
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
