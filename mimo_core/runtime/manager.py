"""Lazy, thread-safe ownership of the models behind a :class:`~mimo_core.tasks.MimoAudio`.

* The audio tokenizer is loaded once, on first use, and shared by every task.
* Each LM (Instruct, Base) is loaded on first use together with its text tokenizer and a
  continuous-batching scheduler: one worker thread owns the model, and every request for it
  goes through that worker, so concurrent requests batch (:mod:`.loading`).
* When Base and Instruct name the same checkpoint, they share one loaded model.
* ``synchronous=True`` (ZeroGPU Spaces, where a call runs in a forked process that has no
  worker thread): no worker; a request runs in the thread that iterates its handle.
* Placement: each role may have its own device (``devices``); LM weights may be quantized
  (``quantize``). At the first load a memory plan is made (:mod:`.placement`) from the
  meta-device sizes and the devices' free memory. When Base and Instruct do not both fit on
  their shared device they take turns (:mod:`.swapper`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Optional

from ..context import model_context_groups
from ..errors import DeviceError, ModelNotConfiguredError
from ..resolve import Role, is_tiny, same_spec
from .dtypes import Dtypes
from .loaded import LoadedLM
from .placement import (LM_ROLES, MemoryPlan, Need, codec_weight_bytes, config_dir, free_bytes, free_memory,
                        kv_cache_bytes, lm_weight_bytes, plan_memory, reserve_for)
from .status import status_report
from .swapper import Swapper, other_lm

if TYPE_CHECKING:       # annotations only: these import transformers
    from ..codec import AudioTokenizer
    from .loading import Loader

log = logging.getLogger(__name__)


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
        from ..lm.quantize import check_mode        # mimo_core.lm imports transformers

        self.specs = {Role.INSTRUCT: instruct, Role.BASE: base, Role.TOKENIZER: tokenizer}
        self.device = str(device)
        given = {Role(k): v for k, v in (devices or {}).items() if v}
        self.devices = {role: str(given.get(role, self.device)) for role in Role}
        self.dtypes = Dtypes.choose(dtype)
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
        self._codec: Optional[AudioTokenizer] = None
        self._codec_info: dict = {}
        self._loader: Optional[Loader] = None
        self._locks = {role: threading.Lock() for role in Role}
        self.codec_lock = threading.RLock()       # serialises audio-tokenizer calls
        self._plan_lock = threading.Lock()
        self.swapper = Swapper(self._lms, lambda lm: self.loader.evict(lm),
                               lambda role, lm: self.loader.restore(role, lm))

    @property
    def loader(self) -> Loader:
        """How models load here (made on first use: it imports the model stack)."""
        if self._loader is None:
            from .loading import Loader             # torch + transformers, on the first load
            self._loader = Loader(self.devices, self.dtypes, attn=self.attn, quantize=self.quantize,
                                  max_batch=self.max_batch, synchronous=self.synchronous)
        return self._loader

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
        other = other_lm(role)
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
                self.swapper.enabled = self.plan.swap
                if self.plan.swap:
                    log.warning("Base and Instruct do not both fit on %s: they will take turns",
                                self.devices[Role.INSTRUCT])
        return self.plan

    def _needs(self) -> dict[Role, Need]:
        from ..codec.loading import load_config as codec_config    # mimo_core.codec and .lm
        from ..lm.config import MimoLMConfig                        # import transformers

        needs = {Role.TOKENIZER: Need(codec_weight_bytes(
            codec_config(config_dir(self.specs[Role.TOKENIZER], Role.TOKENIZER)), self.dtypes.codec))}
        rows = 1 if self.synchronous else self.max_batch
        for role in LM_ROLES:
            if self.specs[role] is None or (role == Role.BASE and self._shared_role(role)):
                continue
            config = MimoLMConfig.from_json_file(config_dir(self.specs[role], role) / "config.json")
            context = model_context_groups(config)                 # the engine's own limit
            needs[role] = Need(lm_weight_bytes(config, self.dtypes.lm, self.quantize),
                               kv_cache_bytes(config, self.dtypes.lm, rows, context))
        return needs

    def _measured_budgets(self, needs: dict[Role, Need]) -> dict:
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
    def audio_tokenizer(self) -> AudioTokenizer:
        if self._codec is not None:
            return self._codec
        self.memory_plan()
        with self._locks[Role.TOKENIZER]:
            if self._codec is None:
                self._codec, self._codec_info = self._load_codec()
        return self._codec

    def _load_codec(self) -> tuple[AudioTokenizer, dict]:
        return self.loader.codec(self.specs[Role.TOKENIZER])

    def loaded_codec(self) -> tuple[Optional[AudioTokenizer], dict]:
        """The audio tokenizer if it is loaded (None otherwise), and how it was loaded."""
        return self._codec, self._codec_info

    # ------------------------------------------------------------------ language models
    def lm(self, role: Role | str) -> LoadedLM:
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
                        loaded = self.swapper.first_load(role, lambda: self._load_lm(role))
                    self._lms[role] = loaded
        if not loaded.resident:
            self.swapper.take_turn(role, count=False)
        return loaded

    def _load_lm(self, role: Role) -> LoadedLM:
        return self.loader.lm(role, self.specs[role], lambda: self.swapper.take_turn(role, count=True),
                              lambda: self.swapper.leave(role))

    def loaded_lms(self) -> dict[Role, LoadedLM]:
        """The LMs loaded so far (resident or swapped out), by role."""
        return dict(self._lms)

    # ------------------------------------------------------------------ load / unload
    def load(self, role: Role | str) -> None:
        role = Role(role)
        if role == Role.TOKENIZER:
            self.audio_tokenizer()
        else:
            self.lm(role)

    def unload(self, role: Role | str, *, collect: bool = True) -> None:
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
            free_memory()

    def close(self) -> None:
        """Stop the LM workers (the models go with this object)."""
        for role in LM_ROLES:
            self.unload(role, collect=False)

    def status(self) -> dict:
        return status_report(self)
