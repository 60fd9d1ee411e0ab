"""The status report: what is configured and loaded, where, in which dtype, and the memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..resolve import Role

if TYPE_CHECKING:
    from .manager import ModelManager


def status_report(models: ModelManager) -> dict:
    out = {"device": models.device, "batching": not models.synchronous, **models.dtypes.describe(),
           "quantize": models.quantize or "none", "tiny": models.uses_tiny(), "models": {}}
    lms = models.loaded_lms()
    for role in Role:
        spec = models.specs[role]
        entry = {"spec": str(spec) if spec is not None else None, "configured": models.configured(role),
                 "device": models.devices[role]}
        if role == Role.TOKENIZER:
            codec, info = models.loaded_codec()
            entry["loaded"] = codec is not None
            if codec is not None:
                entry.update(info)
                entry["parameters"] = sum(p.numel() for p in codec.model.parameters())
        else:
            lm = lms.get(role)
            entry["loaded"] = lm is not None and lm.resident
            entry["waiting_for_turn"] = models.swapper.waiting(role)
            if lm is not None:
                entry.update(path=lm.path, parameters=lm.parameters, load_seconds=lm.load_seconds,
                             active_requests=lm.scheduler.active_count if lm.resident else 0,
                             waiting_requests=lm.scheduler.waiting_count if lm.resident else 0,
                             shared_with=[r.value for r, v in lms.items() if v is lm and r != role])
        out["models"][role.value] = entry
    if models.plan is not None:
        out["memory_plan"] = models.plan.describe() | {"swaps": models.swapper.swaps}
    out["memory"] = memory()
    return out


def memory() -> dict:
    mem = {}
    try:
        import resource         # POSIX only
        mem["process_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):          # pragma: no cover - non-POSIX
        pass
    # is_initialized, not is_available: status must not start CUDA (on ZeroGPU the main
    # process may not touch it at all)
    if torch.cuda.is_initialized():
        mem["cuda_allocated_mb"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        mem["cuda_reserved_mb"] = round(torch.cuda.memory_reserved() / 2**20, 1)
    return mem
