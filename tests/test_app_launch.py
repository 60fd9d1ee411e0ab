"""The ``app`` command: flags, model choice with the demo fallback, --share, spaces.GPU."""

from __future__ import annotations

import sys
import types


import app.backend as backend
import app.launch as launch
from app.backend import ZeroGpuBackend, make_backend
from tests.browser.fake_backend import FakeMimoAudio
from mimo_core.errors import ModelLoadError
from mimo_core.tasks.types import ChatRequest
from run_mimo_audio import build_parser


def parse(*argv):
    return build_parser().parse_args(["app", *argv])


def test_every_flag_is_there():
    args = parse("--model-path", "m", "--base-model-path", "b", "--tokenizer-path", "t",
                 "--device", "cpu", "--dtype", "float32", "--port", "7000", "--server-name",
                 "0.0.0.0", "--root-path", "/mimo", "--share", "--concurrency", "3",
                 "--max-queue", "9", "--tiny")
    assert (args.model_path, args.base_model_path, args.tokenizer_path) == ("m", "b", "t")
    assert (args.device, args.dtype, args.port, args.server_name) == ("cpu", "float32", 7000, "0.0.0.0")
    assert (args.root_path, args.share, args.concurrency, args.max_queue, args.tiny) == \
        ("/mimo", True, 3, 9, True)
    assert args.func is launch.main


def test_tiny_flag_forces_the_demo_model_with_a_banner():
    choice = backend.choose_models(parse("--tiny"))
    assert (choice.instruct, choice.base, choice.tokenizer) == ("tiny", "tiny", "tiny")
    assert "NOISE" in choice.banner and "--model-path" in choice.banner


def test_offline_falls_back_to_tiny_and_says_why(monkeypatch, capsys):
    def offline(spec, role):
        raise ModelLoadError("the Hugging Face Hub is unreachable (offline?)")
    monkeypatch.setattr("mimo_core.resolve.resolve_spec", offline)
    choice = backend.choose_models(parse())
    assert choice.instruct == "tiny" and "unreachable" in choice.banner
    assert "falling back to the tiny DEMO model" in capsys.readouterr().err


def test_official_repos_when_they_can_be_had(monkeypatch, tmp_path):
    monkeypatch.setattr("mimo_core.resolve.resolve_spec", lambda spec, role: tmp_path / str(role.value))
    choice = backend.choose_models(parse())
    assert choice.banner is None
    assert choice.instruct == str(tmp_path / "instruct") and choice.tokenizer == str(tmp_path / "tokenizer")
    assert choice.base == "XiaomiMiMo/MiMo-Audio-7B-Base"          # fetched on first use


def test_explicit_paths_are_used_as_given():
    choice = backend.choose_models(parse("--model-path", "/models/instruct"))
    assert choice.instruct == "/models/instruct" and choice.banner is None
    assert backend.choose_models(parse("--model-path", "tiny")).banner


def test_model_path_tiny_serves_tiny_in_every_role(monkeypatch):
    """As in the CLI: 'tiny' for one role fills the unset ones with 'tiny' (no official download)."""
    def no_download(spec, role):
        raise AssertionError(f"resolved {spec} for {role}")
    monkeypatch.setattr("mimo_core.resolve.resolve_spec", no_download)
    choice = backend.choose_models(parse("--model-path", "tiny"))
    assert (choice.instruct, choice.base, choice.tokenizer) == ("tiny", "tiny", "tiny")
    assert "NOISE" in choice.banner
    mixed = backend.choose_models(parse("--model-path", "/models/instruct", "--tokenizer-path", "tiny"))
    assert (mixed.instruct, mixed.base, mixed.tokenizer) == ("/models/instruct", "tiny", "tiny")


class FakeDemo:
    def __init__(self):
        self.queued, self.launched = None, None

    def queue(self, **kwargs):
        self.queued = kwargs

    def launch(self, **kwargs):
        self.launched = kwargs


def test_share_without_network_is_one_clear_line_and_serves_locally(monkeypatch, capsys):
    monkeypatch.setattr(launch, "share_reachable", lambda: (False, "ConnectError"))
    demo = FakeDemo()
    launch.launch(demo, parse("--share", "--concurrency", "2", "--max-queue", "5", "--port", "7001"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("--share: the Gradio share server cannot be reached")
    assert "http://127.0.0.1:7001" in err[0]
    assert demo.launched["share"] is False and demo.launched["server_port"] == 7001
    assert demo.queued == {"default_concurrency_limit": 2, "max_size": 5}


def test_share_with_network_asks_gradio_for_a_link(monkeypatch):
    monkeypatch.setattr(launch, "share_reachable", lambda: (True, ""))
    demo = FakeDemo()
    launch.launch(demo, parse("--share"))
    assert demo.launched["share"] is True
    assert any(p.endswith("assets") for p in demo.launched["allowed_paths"])


def test_zerogpu_only_on_a_zerogpu_space_or_when_forced(monkeypatch):
    model = FakeMimoAudio(groups=2, step_s=0, batching=False)     # as a synchronous facade
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert make_backend(model) is model                    # spaces installed or not
    seen = []

    def GPU(duration):
        def wrap(fn):
            def run(*a, **k):
                seen.append(fn.__name__)
                return fn(*a, **k)
            return run
        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    backend = make_backend(model)
    assert isinstance(backend, ZeroGpuBackend) and backend.batching is False
    assert backend.run(ChatRequest(text="hi")).text.startswith("[chat")
    assert list(backend.stream(ChatRequest(text="hi")))[-1].result is not None
    assert seen == ["_run_call", "_stream_call"]


def test_main_reports_a_bad_model_in_one_line(monkeypatch, capsys):
    def broken(choice, args, **options):
        raise ModelLoadError("no such directory: /nope")
    monkeypatch.setattr(backend, "open_model", broken)
    assert launch.main(parse("--model-path", "/nope")) == 1
    assert capsys.readouterr().err.strip() == "error: no such directory: /nope"


def test_ffmpeg_missing_turns_off_live_playback(monkeypatch, capsys):
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    handlers = launch.make_handlers(FakeMimoAudio(), banner=None)
    assert handlers.stream_audio is False and "ffmpeg not found" in capsys.readouterr().err
