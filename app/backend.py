"""What the handlers call to reach the model, a :class:`~mimo_core.tasks.backend.Backend`: the
``MimoAudio`` facade itself, or, on Hugging Face ZeroGPU Spaces, :class:`ZeroGpuBackend` (the
same API with each call under ``spaces.GPU``), or remote engines (``--engine-url``).

Which one, from the command-line flags (``app`` and ``serve`` alike): :func:`open_engine`. With no
model flag the official repos are used (downloaded with progress bars on first use); when they
cannot be had (offline, no disk), the ``tiny`` demo model is used instead and a banner says so
(:func:`choose_models`); ``--tiny`` forces the demo model.

Normally the facade owns the model: one worker thread per loaded LM runs a continuous-batching
scheduler, so concurrent requests from several browser sessions are batched there, and a
stream's cancel event frees its slot at the next step.

On ZeroGPU a ``spaces.GPU`` call runs in a forked worker process that receives pickled
arguments and sends back pickled results, and CUDA exists only inside that call. So there:

* every model is loaded at start-up, placed on "cuda" before the server starts (ZeroGPU moves
  those weights into each worker; nothing is read from disk inside a user's GPU time);
* the facade runs with ``synchronous=True``: no worker thread (a forked child would not have
  it); a request runs in the decorated call itself, one at a time, so requests of different
  users are not batched (:attr:`ZeroGpuBackend.batching` is False; the UI says so);
* only the request (frozen dataclasses of numpy arrays and strings) crosses into the call and
  only ``StreamEvent`` s / ``TaskResult`` s come back; the Stop button's threading.Event stays
  in this process: :meth:`ZeroGpuBackend.stream` checks it after every event and closes the
  call's generator, which ``spaces`` turns into a stop of the worker's generator (gradio's
  ``cancels=`` closes the same generator);
* errors raised in the call become ``gr.Error`` there, since ``spaces`` replaces any other
  exception by a generic "ZeroGPU worker error";
* the GPU time asked for each call is estimated from the requested output length.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from mimo_core import resolve
from mimo_core.cli.common import model_options_from_args, resolve_device_dtype
from mimo_core.errors import DeviceError, ModelLoadError
from mimo_core.remote.cli import remote_from_args
from mimo_core.resolve import DEFAULT_SPECS, TINY, Role, fill_specs, is_tiny
from mimo_core.tasks.backend import Backend, EventStream, Progress
from mimo_core.tasks.defaults import groups_for_seconds
from mimo_core.tasks.types import ContinueRequest, TaskRequest, TaskResult, TTSRequest

if TYPE_CHECKING:       # annotation only: the facade's module imports torch
    from mimo_core.tasks import MimoAudio

log = logging.getLogger(__name__)

ZEROGPU_ENV = "SPACES_ZERO_GPU"      # what the spaces package reads to know it runs on ZeroGPU
# GPU-time estimate per call: a fixed part (worker start, CUDA init, weights moved in, prompt
# encoding, final audio decode) plus the groups asked for at a conservative speed for the 7B
# in bf16 on one ZeroGPU slice (one group = 0.16 s of audio or one text token).
GPU_FIXED_SECONDS = 15
GPU_GROUPS_PER_SECOND = 8.0
GPU_MIN_SECONDS = 20
GPU_MAX_SECONDS = 300
# When the request gives no length: what a long answer takes (80 s of speech / 500 tokens).
UNSPECIFIED_GROUPS = 500
TTS_CHARS_PER_SECOND = 8.0           # slow speech, so the estimate errs on the long side
TTS_SPARE_SECONDS = 5.0
ZEROGPU_NOTICE = ("Running on ZeroGPU: each request runs alone on a GPU lent for that call; "
                  "requests of different users are not batched together.")
TINY_BANNER = (
    "DEMO MODEL: this app is running the tiny random 'tiny' model, so every output is NOISE, "
    "not speech or meaningful text. {reason}To use the real MiMo-Audio weights, run it where "
    "huggingface.co is reachable (they download on first start: ~35 GB), or pass local copies: "
    "python run_mimo_audio.py --model-path DIR --base-model-path DIR --tokenizer-path DIR")


# ----------------------------------------------------------------------------------- which backend
@dataclass(frozen=True)
class ModelChoice:
    instruct: str
    base: str
    tokenizer: str
    banner: Optional[str] = None          # set when the demo model is used


def choose_models(args: argparse.Namespace) -> ModelChoice:
    """Which checkpoints to serve; falls back to ``tiny`` (with a banner) when the official
    repos cannot be had and no model flag was given."""
    if args.tiny:
        return ModelChoice(TINY, TINY, TINY, TINY_BANNER.format(reason="(--tiny was given.) "))
    given = (args.model_path, args.base_model_path, args.tokenizer_path)
    if any(given):
        # explicit choices are used as given; a missing one means the official repo, or
        # 'tiny' when any given one is 'tiny' (the same rule as the CLI)
        return ModelChoice(*fill_specs(*given), _banner_if_tiny(given))
    try:
        # fetch what the first page needs now (progress bars on stderr); Base on first use
        tokenizer = str(resolve.resolve_spec(None, Role.TOKENIZER))
        instruct = str(resolve.resolve_spec(None, Role.INSTRUCT))
    except ModelLoadError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        print("warning: falling back to the tiny DEMO model; its output is noise", file=sys.stderr)
        reason = f"(The official weights could not be had: {exc}.) "
        return ModelChoice(TINY, TINY, TINY, TINY_BANNER.format(reason=reason))
    return ModelChoice(instruct, DEFAULT_SPECS[Role.BASE], tokenizer)


def _banner_if_tiny(specs: tuple) -> Optional[str]:
    named = [s for s in specs if s and is_tiny(s)]
    if named:
        return TINY_BANNER.format(reason="('tiny' was chosen on the command line.) ")
    return None


def open_model(choice: ModelChoice, args: argparse.Namespace, *, synchronous: bool = False) -> MimoAudio:
    """The ``MimoAudio`` facade over the chosen checkpoints (models load on first use);
    ``synchronous``: no engine worker threads (ZeroGPU)."""
    from mimo_core.tasks import MimoAudio       # the facade imports torch: not with the parser

    device, dtype = resolve_device_dtype(args.device, args.dtype)
    # on ZeroGPU the main process has no CUDA to measure: no memory plan checks there
    return MimoAudio.from_specs(choice.instruct, choice.base, choice.tokenizer,
                                device=device, dtype=dtype, synchronous=synchronous,
                                measure_memory=not synchronous, **model_options_from_args(args))


def open_engine(args: argparse.Namespace, *, synchronous: bool = False) -> tuple[Backend, Optional[str], bool]:
    """(backend, demo banner or None, is local) for the model flags or ``--engine-url``;
    ``synchronous``: no engine worker threads (ZeroGPU)."""
    if args.engine_url:
        return remote_from_args(args), None, False
    choice = choose_models(args)
    return open_model(choice, args, synchronous=synchronous), choice.banner, True


# ----------------------------------------------------------------------------------- ZeroGPU


def on_zerogpu(forced: bool = False) -> bool:
    """ZeroGPU mode: forced (``--zerogpu``), or the Space says so the way ``spaces`` reads it."""
    return forced or os.environ.get(ZEROGPU_ENV, "").lower() in ("1", "t", "true")


def spaces_gpu() -> Callable:
    """``spaces.GPU``; a readable error when the package is missing."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        raise DeviceError("ZeroGPU mode needs the 'spaces' package (pip install spaces)") from None
    return spaces.GPU


def requested_groups(request: TaskRequest) -> int:
    """The output length a request asks for, in groups (an estimate when it gives none)."""
    if request.options.max_new_groups is not None:
        return int(request.options.max_new_groups)
    if isinstance(request, ContinueRequest):
        return groups_for_seconds(float(request.duration_s))
    if isinstance(request, TTSRequest):
        seconds = len(request.text) / TTS_CHARS_PER_SECOND + TTS_SPARE_SECONDS
        return groups_for_seconds(seconds)
    return UNSPECIFIED_GROUPS


def gpu_seconds(request: TaskRequest, *_: Any, **__: Any) -> int:
    """The GPU time to ask ZeroGPU for one call on ``request`` (``spaces.GPU(duration=...)``
    calls this with the call's own arguments)."""
    seconds = GPU_FIXED_SECONDS + requested_groups(request) / GPU_GROUPS_PER_SECOND
    return int(min(GPU_MAX_SECONDS, max(GPU_MIN_SECONDS, round(seconds))))


def load_at_startup(model: MimoAudio) -> None:
    """Load every configured model now (ZeroGPU expects the weights on "cuda" before the
    server starts; a fresh worker then reads nothing from disk)."""
    for role in (Role.TOKENIZER, Role.INSTRUCT, Role.BASE):
        if model.models.configured(role):
            log.info("ZeroGPU: loading the %s model at start-up", role.value)
            model.load(role.value)


class ZeroGpuBackend:
    """The facade's API for ZeroGPU (see module docstring), a
    :class:`~mimo_core.tasks.backend.Backend` over another one. ``gpu``: ``spaces.GPU`` (or a
    test double with its interface)."""

    batching = False
    notice = ZEROGPU_NOTICE

    def __init__(self, model: Backend, gpu: Callable):
        if model.batching:
            raise DeviceError("ZeroGPU needs the models opened with synchronous=True "
                              "(a forked GPU worker has no engine worker thread)")
        self.model = model
        self.limits = model.limits
        self._run = gpu(duration=gpu_seconds)(self._run_call)
        self._stream = gpu(duration=gpu_seconds)(self._stream_call)

    # -- inside the GPU call (a forked worker on ZeroGPU) ------------------------------
    def _run_call(self, request: TaskRequest) -> TaskResult:
        try:
            return self.model.run(request)
        except Exception as exc:  # noqa: BLE001 - spaces would replace it by a generic error
            raise _gr_error(exc) from None

    def _stream_call(self, request: TaskRequest) -> EventStream:
        try:
            yield from self.model.stream(request)
        except Exception as exc:  # noqa: BLE001 - as in _run_call
            raise _gr_error(exc) from None

    # -- the handlers' API (this process) ---------------------------------------------
    def run(self, request: TaskRequest, cancel: Optional[threading.Event] = None,
            progress: Optional[Progress] = None) -> TaskResult:
        """One call to its end. ``cancel`` / ``progress`` cannot cross into the worker: a
        cancellable run goes through :meth:`stream`."""
        return self._run(request)

    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> EventStream:
        """The call's events; a set ``cancel`` (checked after every event) or closing this
        iterator stops the call (the last event then carries no result)."""
        events = self._stream(request)
        try:
            for event in events:
                yield event
                if cancel is not None and cancel.is_set():
                    return
        finally:
            events.close()

    def status(self) -> dict:
        info = self.model.status()
        info["zerogpu"] = True
        return info

    def load(self, role: str) -> None:
        raise DeviceError("on ZeroGPU every model is loaded at start-up; loading and unloading "
                          "from the page is not available")

    unload = load

    def close(self) -> None:
        self.model.close()


def _gr_error(exc: BaseException) -> BaseException:
    from .handler_base import to_gr_error     # gradio: only inside a ZeroGPU call
    return to_gr_error(exc)


def make_backend(model: Backend, *, zerogpu: bool = False) -> Backend:
    """The object the handlers use: ``model`` itself, or a :class:`ZeroGpuBackend` in ZeroGPU
    mode (``zerogpu`` forces it; else the Space's environment decides)."""
    if not on_zerogpu(zerogpu):
        return model
    log.info("ZeroGPU mode: model calls run synchronously under spaces.GPU")
    return ZeroGpuBackend(model, spaces_gpu())
