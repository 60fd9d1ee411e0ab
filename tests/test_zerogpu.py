"""ZeroGPU mode: every tab's endpoints through a forked-worker double of ``spaces.GPU`` on the
tiny model, and the app with the real ``spaces`` package installed outside a Space."""

from __future__ import annotations

import pickle
import queue
import sys
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from app.backend import (GPU_MAX_SECONDS, GPU_MIN_SECONDS, ZeroGpuBackend, gpu_seconds,
                         load_at_startup, make_backend, requested_groups)
from app.handlers import Handlers
from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import DeviceError
from mimo_core.runtime import ModelManager
from mimo_core.tasks import MimoAudio
from mimo_core.tasks.types import (ChatRequest, ContinueRequest, GenerationOptions, StreamEvent,
                                   TaskResult, TTSRequest)
from tests.zerogpu_double import ForkedGPU

MAX_SECONDS = 0.48                   # 3 groups per call: the tiny model's output is noise anyway
SAMPLER = dict(greedy=True, seed=0, max_seconds=MAX_SECONDS)     # short, reproducible runs
NO_LOADING_IN_WORKER = ((ModelManager, "_load_lm"), (ModelManager, "_load_codec"))


def session(name: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=name)


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMO_APP_TMP", str(tmp_path / "out"))


@pytest.fixture(scope="module")
def loaded(tiny):
    """The tiny facade as ZeroGPU mode opens it: synchronous, every model loaded at start-up."""
    model = MimoAudio.from_specs("tiny", device="cpu", synchronous=True)
    load_at_startup(model)
    yield model
    model.close()


@pytest.fixture(scope="module")
def gpu(loaded):
    double = ForkedGPU(forbid=NO_LOADING_IN_WORKER)
    yield double
    double.close()


@pytest.fixture(scope="module")
def backend(loaded, gpu):
    """Built once, as at start-up: a function decorated after the fork point is not in the
    worker (the double fails such a call)."""
    return ZeroGpuBackend(loaded, gpu)


@pytest.fixture(scope="module")
def handlers(backend):
    return Handlers(backend, presets={})


def drain(gen) -> list:
    return list(gen)


# ----------------------------------------------------------------------- every endpoint
def test_every_tab_runs_in_the_forked_worker(handlers, gpu, wav):
    h = handlers
    rows = dict(example1_input=wav, example1_output=wav, example1_transcript="hello")
    inputs = {
        "continue": dict(audio=wav, duration_s=1.0),
        "s2s": dict(audio=wav, instruction="same voice", n_examples=1, **rows),
        "tts": dict(text="Hello there.", mode="plain"),
        "asr": dict(audio=wav, language="English"),
        "understand": dict(audio=wav, question="What is this?"),
        "dialogue": dict(audio=wav, system_prompt=""),
        "s2t": dict(audio=wav),
        "chat": dict(text="hi"),
    }
    for task, values in inputs.items():
        before = len(gpu.durations)
        api = h.api(task)(None, **values, **SAMPLER)
        stream = drain(h.stream(task)(session("a"), **values, **SAMPLER))
        assert len(gpu.durations) == before + 2, task         # one GPU call each
        assert api is not None and len(stream) >= 3, task
    # audio tasks end with a file, dialogue tasks with a conversation that went both ways
    path, _text, _thinking = h.api("tts")(None, text="Hello there.", mode="plain", **SAMPLER)
    assert path is not None and sf.info(path).samplerate == SAMPLE_RATE
    _text, _thinking, conversation = h.api("chat")(None, text="hi", **SAMPLER)
    assert [t.role for t in conversation.turns] == ["user", "assistant"]


def test_streamed_results_came_through_pickle_and_match_a_direct_run(loaded, backend):
    request = TTSRequest(text="Hello.", options=GenerationOptions(greedy=True, max_new_groups=3))
    events = list(backend.stream(request))
    assert all(isinstance(e, StreamEvent) for e in events)
    through = events[-1].result
    direct = loaded.run(request)                             # in this process, same weights
    assert isinstance(through, TaskResult)
    np.testing.assert_array_equal(through.tokens, direct.tokens)
    np.testing.assert_array_equal(through.audio, direct.audio)
    assert pickle.loads(pickle.dumps(request)) == request


# ------------------------------------------------------------------------------ stop
def test_stop_ends_the_call_and_the_worker_serves_the_next(backend):
    cancel = threading.Event()
    request = ChatRequest(text="hi", options=GenerationOptions(greedy=True, max_new_groups=40,
                                                               min_new_groups=40))
    seen = []
    for event in backend.stream(request, cancel=cancel):
        seen.append(event)
        cancel.set()                               # the Stop button, after the first event
    assert len(seen) == 1 and seen[0].result is None
    # the engine was released inside the worker: a new call runs to its end
    again = list(backend.stream(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=2))))
    assert again[-1].result is not None and again[-1].result.new_groups == 2


# ------------------------------------------------------------------------ GPU duration
def test_gpu_duration_follows_the_requested_length(gpu, handlers):
    short = gpu_seconds(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=10)))
    long = gpu_seconds(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=1500)))
    assert GPU_MIN_SECONDS <= short < long <= GPU_MAX_SECONDS
    assert requested_groups(ContinueRequest(audio=np.zeros(10, np.float32), duration_s=8.0)) == 50
    assert (requested_groups(TTSRequest(text="x" * 400))
            > requested_groups(TTSRequest(text="x" * 40)))
    handlers.api("chat")(None, text="hi", **SAMPLER)
    assert gpu.durations[-1] == gpu_seconds(ChatRequest(
        text="hi", options=GenerationOptions(greedy=True, seed=0, max_new_groups=3)))


# ---------------------------------------------------------------------------- errors
def test_an_error_inside_the_call_keeps_its_message(backend):
    too_long = ChatRequest(text="hi " * 20000)               # over the facade's own text limit
    with pytest.raises(gr.Error) as info:
        backend.run(too_long)
    assert info.value.message == "message has 60000 characters; the limit is 4000"
    with pytest.raises(gr.Error):
        list(backend.stream(too_long))
    assert backend.run(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=1))).new_groups == 1


def test_load_and_unload_from_the_page_are_refused_with_a_reason(backend):
    with pytest.raises(DeviceError, match="start-up"):
        backend.unload("instruct")
    status = backend.status()
    assert status["zerogpu"] is True and status["batching"] is False
    assert status["models"]["instruct"]["loaded"] is True


# ------------------------------------------------------- the double catches the old ways
def test_the_double_fails_a_call_that_waits_on_a_parent_thread():
    jobs: queue.Queue = queue.Queue()
    answers: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: answers.put(jobs.get() * 2), daemon=True).start()
    double = ForkedGPU(timeout_s=3)

    def via_worker_thread(x):
        jobs.put(x)
        return answers.get()

    call = double(duration=10)(via_worker_thread)
    try:
        with pytest.raises(AssertionError, match="thread started before the fork"):
            call(21)
    finally:
        double.close()


def test_the_double_fails_a_facade_with_engine_worker_threads(tiny):
    threaded = MimoAudio.from_specs("tiny", device="cpu")          # the default: worker threads
    load_at_startup(threaded)
    double = ForkedGPU(timeout_s=5, forbid=NO_LOADING_IN_WORKER)
    try:
        with pytest.raises(DeviceError, match="synchronous"):
            ZeroGpuBackend(threaded, double)
        run = double(duration=10)(threaded.run)                    # what the old GpuCalls did
        with pytest.raises(AssertionError, match="thread"):
            run(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=2)))
    finally:
        double.close()
        threaded.close()


def test_the_double_fails_models_loaded_lazily_inside_the_call(tiny):
    lazy = MimoAudio.from_specs("tiny", device="cpu", synchronous=True)   # nothing loaded yet
    double = ForkedGPU(forbid=NO_LOADING_IN_WORKER)
    try:
        backend = ZeroGpuBackend(lazy, double)
        with pytest.raises(gr.Error, match="before the fork"):
            backend.run(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=2)))
        # a model the parent loads after the fork point is not in the worker either
        lazy.load("instruct")
        lazy.load("tokenizer")
        with pytest.raises(gr.Error, match="before the fork"):
            backend.run(ChatRequest(text="hi", options=GenerationOptions(max_new_groups=2)))
    finally:
        double.close()
        lazy.close()


# ------------------------------------------------------- the real spaces package, no Space
def test_the_app_with_the_real_spaces_package_outside_a_space(tiny, monkeypatch):
    spaces = pytest.importorskip("spaces")
    import app.launch as launch
    import app.ui as ui
    from run_mimo_audio import build_parser

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert spaces.GPU(duration=5)(len) is len           # outside a Space: a no-op decorator
    built = {}

    def capture(handlers):
        built["handlers"] = handlers
        return SimpleNamespace(queue=lambda **k: None)

    monkeypatch.setattr(ui, "build_app", capture)
    monkeypatch.setattr(launch, "launch", lambda demo, args, **kw: built.setdefault("launched", True))
    monkeypatch.setattr(launch, "start_output_cleaner", lambda demo, args: None)
    args = build_parser().parse_args(["app", "--tiny", "--zerogpu", "--device", "cpu"])
    assert launch.main(args) == 0 and built["launched"]
    h = built["handlers"]
    assert isinstance(h.backend, ZeroGpuBackend)
    assert h.backend.model.status()["models"]["base"]["loaded"] is True       # loaded at start-up
    text = h.api("chat")(None, text="hi", **SAMPLER)[0]
    assert isinstance(text, str)
    events = drain(h.stream("tts")(session("a"), text="Hi.", mode="plain", **SAMPLER))
    assert events[-1].full is not None                       # the whole audio file at the end
    h.backend.model.close()
    assert make_backend(h.backend.model) is h.backend.model  # no env, not forced: the facade
    assert "spaces" in sys.modules
