"""What the handlers call to reach the model: the ``MimoAudio`` facade itself, or, on Hugging
Face ZeroGPU Spaces, the same API with each call under ``spaces.GPU``.

The facade already owns the model: one worker thread per loaded LM runs a continuous-batching
scheduler, so concurrent requests from several browser sessions are batched there, and a
stream's cancel event frees its slot at the next step. The app therefore adds no thread of
its own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterator, Optional

log = logging.getLogger(__name__)

GPU_SECONDS = 120               # ZeroGPU time requested per call


def spaces_gpu() -> Optional[Callable]:
    """``spaces.GPU`` when the ``spaces`` package is importable, else None."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return None
    return getattr(spaces, "GPU", None)


class GpuCalls:
    """The facade's API with ``run`` and ``stream`` each wrapped in ``spaces.GPU``."""

    def __init__(self, model: Any, gpu: Callable):
        self.model = model
        decorate = gpu(duration=GPU_SECONDS)
        self.run = decorate(model.run)
        self._stream = decorate(self._stream_events)
        self.load, self.unload, self.status = model.load, model.unload, model.status
        self.limits = getattr(model, "limits", None)

    def _stream_events(self, request: Any, cancel: Optional[threading.Event] = None) -> Iterator[Any]:
        yield from self.model.stream(request, cancel=cancel)

    def stream(self, request: Any, cancel: Optional[threading.Event] = None) -> Iterator[Any]:
        return self._stream(request, cancel)


def make_backend(model: Any) -> Any:
    """The object the handlers use: ``model`` itself, or :class:`GpuCalls` on ZeroGPU Spaces."""
    gpu = spaces_gpu()
    if gpu is None:
        return model
    log.info("the spaces package is present: model calls run under spaces.GPU")
    return GpuCalls(model, gpu)
