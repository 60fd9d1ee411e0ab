"""Every implementation of a declared seam has every member of its protocol, with the same
signature: parameter names, kinds, defaults and types, and the return type (the fakes too, so
that a fake cannot drift from what it stands in for).

Backend (mimo_core/tasks/backend.py): the facade, the remote backend, the ZeroGPU wrapper and
the test fakes. Decoder, Handle, Scheduler (mimo_core/engine/protocols.py): the engine's and the
lifecycle's (mimo_core/runtime/schedulers.py).
"""

from __future__ import annotations

import inspect
import threading
import typing

import pytest
import torch

from app.backend import ZeroGpuBackend
from mimo_core.engine import BatchScheduler, Engine, GenerationRequest, GenerationStream, RequestHandle
from mimo_core.engine.batch import BatchDecoder
from mimo_core.engine.eager import EagerDecoder
from mimo_core.engine.protocols import Decoder, Handle, Scheduler
from mimo_core.lm.tiny import build_tiny_lm
from mimo_core.remote.backend import RemoteBackend
from mimo_core.runtime.schedulers import InlineHandle, InlineScheduler, TurnHandle, TurnScheduler
from mimo_core.sampler_config import GREEDY
from mimo_core.tasks import MimoAudio
from mimo_core.tasks.backend import Backend
from tests.browser.fake_backend import FakeMimoAudio
from tests.test_voice_session import Failing

PROTOCOLS = (Backend, Decoder, Handle, Scheduler)
IMPLEMENTATIONS = {
    Backend: (MimoAudio, RemoteBackend, ZeroGpuBackend, FakeMimoAudio, Failing),
    Decoder: (BatchDecoder, EagerDecoder),
    Handle: (RequestHandle, GenerationStream, InlineHandle, TurnHandle),
    Scheduler: (BatchScheduler, InlineScheduler, TurnScheduler),
}


def methods(protocol: type) -> dict[str, typing.Callable]:
    return {name: value for name, value in vars(protocol).items()
            if inspect.isfunction(value) and (not name.startswith("_") or name == "__iter__")}


def attributes(protocol: type) -> dict[str, object]:
    """Data members and properties: name -> type."""
    hints = typing.get_type_hints(protocol)
    props = {name: typing.get_type_hints(value.fget)["return"]
             for name, value in vars(protocol).items() if isinstance(value, property)}
    return {**hints, **props}


def implements(cls: type, protocol: type) -> bool:
    return all(signature_drift(cls, protocol, name) is None for name in methods(protocol))


def same_type(ours, theirs) -> bool:
    """Equal types; for a protocol, any class that implements it."""
    if ours == theirs:
        return True
    return (inspect.isclass(ours) and ours in IMPLEMENTATIONS and inspect.isclass(theirs)
            and implements(theirs, ours))


def signature_drift(cls: type, protocol: type, name: str) -> str | None:
    """How ``cls.name`` differs from the protocol's (None: it does not). An implementation may
    add parameters after the protocol's, with defaults."""
    want = methods(protocol)[name]
    got = getattr(cls, name, None)
    if not callable(got):
        return f"{cls.__name__} has no method {name}"
    want_params = list(inspect.signature(want).parameters.values())
    got_params = list(inspect.signature(got).parameters.values())
    extra = got_params[len(want_params):]
    if [(p.name, p.kind, p.default) for p in got_params[:len(want_params)]] != \
            [(p.name, p.kind, p.default) for p in want_params] or \
            any(p.default is inspect.Parameter.empty for p in extra):
        return f"{cls.__name__}.{name}{inspect.signature(got)} != {protocol.__name__}.{name}{inspect.signature(want)}"
    want_types, got_types = typing.get_type_hints(want), typing.get_type_hints(got)
    for param in [p.name for p in want_params[1:]] + ["return"]:
        if not same_type(want_types.get(param), got_types.get(param)):
            return (f"{cls.__name__}.{name}: {param} is {got_types.get(param)}, "
                    f"the protocol says {want_types.get(param)}")
    return None


@pytest.mark.parametrize("protocol,cls", [(p, c) for p in PROTOCOLS for c in IMPLEMENTATIONS[p]],
                         ids=lambda x: x.__name__)
def test_every_method_has_the_protocols_signature(protocol, cls):
    assert methods(protocol), protocol
    drift = [d for d in (signature_drift(cls, protocol, name) for name in methods(protocol)) if d]
    assert drift == []


def test_the_check_catches_a_drifted_fake():
    class Drifted(FakeMimoAudio):
        def run(self, request):                                     # cancel, progress dropped
            return super().run(request)

        def stream(self, request, cancel=None):                     # types dropped
            return super().stream(request, cancel)

    assert "run(self, request)" in signature_drift(Drifted, Backend, "run")
    assert "request is" in signature_drift(Drifted, Backend, "stream")
    assert signature_drift(object, Backend, "close") == "object has no method close"


# ------------------------------------------------------------------ data members, on instances
def check_attributes(obj: object, protocol: type) -> None:
    for name, kind in attributes(protocol).items():
        assert hasattr(obj, name), f"{type(obj).__name__} has no {name}"
        assert isinstance(getattr(obj, name), kind), f"{type(obj).__name__}.{name}: {getattr(obj, name)!r}"


def test_every_backend_has_limits_and_says_whether_it_batches(tiny):
    assert set(attributes(Backend)) == {"limits", "batching"}
    facade = MimoAudio.from_specs("tiny", device="cpu")
    synchronous = MimoAudio.from_specs("tiny", device="cpu", synchronous=True)
    remote = RemoteBackend.from_urls("http://127.0.0.1:9")               # nothing is called
    zerogpu = ZeroGpuBackend(synchronous, lambda duration: lambda fn: fn)
    try:
        for backend in (facade, synchronous, remote, zerogpu, FakeMimoAudio(), Failing()):
            check_attributes(backend, Backend)
        assert facade.batching and not synchronous.batching and not zerogpu.batching
        assert zerogpu.limits is synchronous.limits
    finally:
        for backend in (facade, remote, zerogpu):
            backend.close()


def test_engine_seams_on_live_objects():
    torch.set_num_threads(1)
    model = build_tiny_lm(512, seed=5)
    engine = Engine(model, 500, max_batch=2)
    prompt = torch.full((9, 8), 128, dtype=torch.long)
    prompt[0] = torch.tensor([7, -100, -100, -100, 8, -100, -100, -100])
    prompt[1:3] = 1024
    req = GenerationRequest(prompt, GREEDY, GREEDY, frozenset(), 2)
    for decoder in (engine.new_decoder(), Engine(model, 500, fast=False).new_decoder()):
        check_attributes(decoder, Decoder)
    batch = engine.scheduler()
    inline = InlineScheduler(engine)
    left = []
    turn = TurnScheduler(inline, lambda: None, lambda: left.append(1))
    try:
        for scheduler in (batch, inline, turn):
            check_attributes(scheduler, Scheduler)
            handle = scheduler.submit(req)
            check_attributes(handle, Handle)
            results = list(handle)
            assert results[-1] is handle.result and results[-1].new_groups == 2
        check_attributes(engine.stream(req), Handle)
        assert left == [1]
    finally:
        batch.close()


def test_a_closed_stream_leaves_its_turn_once():
    left = []
    engine = Engine(build_tiny_lm(512, seed=5), 500)
    prompt = torch.full((9, 4), 128, dtype=torch.long)
    prompt[0] = torch.tensor([7, -100, -100, -100])
    prompt[1:3] = 1024
    handle = TurnScheduler(InlineScheduler(engine), lambda: None, lambda: left.append(1)).submit(
        GenerationRequest(prompt, GREEDY, GREEDY, frozenset(), 5, cancel=threading.Event()))
    events = iter(handle)
    next(events)
    events.close()
    assert left == [1] and handle.result is None
