"""The ``app`` command: pick the models, build the UI, serve it.

    python run_mimo_audio.py [flags]          (no command = app)

With no model flag the official repos are used (downloaded with progress bars on first use);
when they cannot be had (offline, no disk), the app falls back to the ``tiny`` demo model and
says so in a red banner on every page. ``--tiny`` forces the demo model.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .outputs import DEFAULT_MAX_AGE_MIN, DEFAULT_MAX_MB

log = logging.getLogger(__name__)

DEFAULT_PORT = 7860
TINY_BANNER = (
    "DEMO MODEL: this app is running the tiny random 'tiny' model, so every output is NOISE, "
    "not speech or meaningful text. {reason}To use the real MiMo-Audio weights, run it where "
    "huggingface.co is reachable (they download on first start: ~35 GB), or pass local copies: "
    "python run_mimo_audio.py --model-path DIR --base-model-path DIR --tokenizer-path DIR")


@dataclass(frozen=True)
class ModelChoice:
    instruct: str
    base: str
    tokenizer: str
    banner: Optional[str] = None          # set when the demo model is used


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("app", help="launch the web UI (the default command)",
                              description="Launch the MiMo-Audio Studio web UI.")
    from mimo_core.cli.common import add_model_args

    add_model_args(p)           # --model-path --base-model-path --tokenizer-path --device --dtype
    p.add_argument("--tiny", action="store_true",
                   help="force the tiny random demo model (its output is noise)")
    p.add_argument("--zerogpu", action="store_true",
                   help="Hugging Face ZeroGPU mode (automatic on a ZeroGPU Space): models loaded "
                        "at start-up, each request run alone inside a spaces.GPU call")
    s = p.add_argument_group("server")
    s.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", DEFAULT_PORT)))
    s.add_argument("--server-name", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for every interface)")
    s.add_argument("--root-path", default=None, help="URL prefix when served behind a proxy")
    s.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    s.add_argument("--concurrency", type=int, default=4,
                   help="model requests run at once (the engine batches them)")
    s.add_argument("--max-queue", type=int, default=64, help="requests allowed to wait")
    o = p.add_argument_group("output files (results, and uploads in gradio's cache)")
    o.add_argument("--output-max-age-min", type=_positive, default=DEFAULT_MAX_AGE_MIN,
                   help="remove files no session was offered for this many minutes")
    o.add_argument("--output-max-mb", type=float, default=DEFAULT_MAX_MB,
                   help="beyond this total size remove such files oldest first (0: no size bound)")
    from mimo_core.remote.cli import add_engine_args

    from .serve import add_api_args
    add_api_args(p)             # --api-key --cors-origin --voices --max-upload-mb (the /v1 API)
    add_engine_args(p)          # --engine-url: remote engines instead of local weights
    p.set_defaults(func=main)


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return number


# ----------------------------------------------------------------------------------- models
PERSISTENT_DIR = Path("/data")          # a Space's persistent storage, when it has some
PERSISTENT_HF_HOME = PERSISTENT_DIR / ".huggingface"
PRELOADED_REPO = "models--XiaomiMiMo--MiMo-Audio-7B-Instruct"   # what preload_from_hub puts in the image


def use_persistent_cache(data: Path = PERSISTENT_DIR) -> Optional[str]:
    """On a Space with persistent storage (``/data``) whose image was not built with the
    weights (README ``preload_from_hub``), keep the Hugging Face cache there so the weights
    download once, not on every restart. Call before huggingface_hub is imported."""
    if "HF_HOME" in os.environ or not (data.is_dir() and os.access(data, os.W_OK)):
        return None
    if (Path.home() / ".cache" / "huggingface" / "hub" / PRELOADED_REPO).is_dir():
        return None                             # preloaded into the image: use those
    os.environ["HF_HOME"] = str(data / PERSISTENT_HF_HOME.name)
    return os.environ["HF_HOME"]


def choose_models(args: argparse.Namespace) -> ModelChoice:
    """Which checkpoints to serve; falls back to ``tiny`` (with a banner) when the official
    repos cannot be had and no model flag was given."""
    from mimo_core.errors import ModelLoadError
    from mimo_core.resolve import DEFAULT_SPECS, TINY, Role, fill_specs, resolve_spec

    if args.tiny:
        return ModelChoice(TINY, TINY, TINY, TINY_BANNER.format(reason="(--tiny was given.) "))
    given = (args.model_path, args.base_model_path, args.tokenizer_path)
    if any(given):
        # explicit choices are used as given; a missing one means the official repo, or
        # 'tiny' when any given one is 'tiny' (the same rule as the CLI)
        return ModelChoice(*fill_specs(*given), _banner_if_tiny(given))
    try:
        # fetch what the first page needs now (progress bars on stderr); Base on first use
        tokenizer = str(resolve_spec(None, Role.TOKENIZER))
        instruct = str(resolve_spec(None, Role.INSTRUCT))
    except ModelLoadError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        print("warning: falling back to the tiny DEMO model; its output is noise", file=sys.stderr)
        reason = f"(The official weights could not be had: {exc}.) "
        return ModelChoice(TINY, TINY, TINY, TINY_BANNER.format(reason=reason))
    return ModelChoice(instruct, DEFAULT_SPECS[Role.BASE], tokenizer)


def _banner_if_tiny(specs: tuple) -> Optional[str]:
    from mimo_core.resolve import is_tiny
    named = [s for s in specs if s and is_tiny(s)]
    if named:
        return TINY_BANNER.format(reason="('tiny' was chosen on the command line.) ")
    return None


def open_model(choice: ModelChoice, args: argparse.Namespace, *, synchronous: bool = False) -> Any:
    """The ``MimoAudio`` facade over the chosen checkpoints (models load on first use);
    ``synchronous``: no engine worker threads (ZeroGPU)."""
    from mimo_core.cli.common import model_options_from_args, resolve_device_dtype
    from mimo_core.tasks import MimoAudio

    device, dtype = resolve_device_dtype(args.device, args.dtype)
    # on ZeroGPU the main process has no CUDA to measure: no memory plan checks there
    return MimoAudio.from_specs(choice.instruct, choice.base, choice.tokenizer,
                                device=device, dtype=dtype, synchronous=synchronous,
                                measure_memory=not synchronous, **model_options_from_args(args))


# ----------------------------------------------------------------------------------- server
def share_reachable(timeout_s: float = 5.0) -> tuple[bool, str]:
    """Whether the Gradio share server answers from this network (and why not)."""
    import httpx
    from gradio import networking

    if os.environ.get("GRADIO_SHARE_SERVER_ADDRESS"):
        return True, ""
    try:
        httpx.get(networking.GRADIO_API_SERVER, timeout=timeout_s).raise_for_status()
    except Exception as exc:  # noqa: BLE001 - any network failure means no share link
        return False, f"{type(exc).__name__}"
    return True, ""


def allowed_paths() -> list[str]:
    """Folders the browser may fetch files from: our example clips and our output files."""
    from .inputs import output_dir
    from .presets import ASSETS_DIR
    return [str(ASSETS_DIR), str(output_dir())]


def launch(demo: Any, args: argparse.Namespace, *, block: bool = True, api: Any = None,
           routes: tuple = ()) -> Any:
    """Queue settings, then serve; ``--share`` degrades to local with one clear line.
    ``api``: the OpenAI-compatible FastAPI app, served under /v1 on the same port; ``routes``:
    more server routes (the voice-chat websocket)."""
    from .ui import CSS

    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=max(1, args.max_queue))
    share = bool(args.share)
    if share:
        ok, why = share_reachable()
        if not ok:
            print(f"--share: the Gradio share server cannot be reached from this network ({why}); "
                  f"serving locally only, on http://{args.server_name}:{args.port}", file=sys.stderr)
            share = False
    server_routes = list(routes)
    if api is not None:
        from .openai_api import mount_route
        from .serve import warn_if_exposed
        warn_if_exposed(args, share)
        server_routes.append(mount_route(api))
    return demo.launch(server_name=args.server_name, server_port=args.port, share=share,
                       root_path=args.root_path, allowed_paths=allowed_paths(), css=CSS,
                       show_error=True, prevent_thread_lock=not block,
                       footer_links=["api", "gradio"], app_kwargs={"routes": server_routes})


def start_output_cleaner(demo: Any, args: argparse.Namespace) -> Any:
    """Sweep our output folder and gradio's cache on a daemon thread (app/outputs.py). Call it
    after building the app, before serving: the files gradio has cached by then (example clips,
    default values) are what every page refers to, so they are kept."""
    from gradio.utils import get_upload_folder

    from .inputs import output_dir
    from .outputs import OutputBounds, OutputCleaner

    built = [p for block in demo.blocks.values()
             for p in (*getattr(block, "temp_files", ()), *getattr(block, "keep_in_cache", ()))]
    bounds = OutputBounds.from_flags(args.output_max_age_min, args.output_max_mb)
    return OutputCleaner([output_dir(), get_upload_folder()], bounds, keep=built).start()


def ffmpeg_available() -> bool:
    """gradio encodes streamed audio with ffmpeg; without it only the final audio plays."""
    return shutil.which("ffmpeg") is not None


def make_handlers(model: Any, banner: Optional[str], *, zerogpu: bool = False) -> Any:
    from .backend import make_backend
    from .handlers import Handlers
    stream_audio = ffmpeg_available()
    if not stream_audio:
        print("warning: ffmpeg not found; audio plays when generation ends instead of while it "
              "runs (install ffmpeg for live playback)", file=sys.stderr)
    return Handlers(make_backend(model, zerogpu=zerogpu), banner=banner, stream_audio=stream_audio)


def main(args: argparse.Namespace) -> int:
    from mimo_core.errors import MimoError
    from .backend import load_at_startup, on_zerogpu, spaces_gpu
    from .inputs import output_dir
    from .ui import build_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # gradio's cache in a folder of our own: the cleaner must not age another app's files
    os.environ.setdefault("GRADIO_TEMP_DIR", str(output_dir() / "gradio"))
    from .openai_api import build_api
    from .serve import api_config, open_engine
    from .voice import voice_routes
    zerogpu = on_zerogpu(getattr(args, "zerogpu", False))
    if use_persistent_cache():
        log.info("Hugging Face cache on persistent storage: %s", os.environ["HF_HOME"])
    try:
        if zerogpu:
            spaces_gpu()            # spaces must be imported before anything touches CUDA
        model, banner, local = open_engine(args, synchronous=zerogpu)   # local weights, or --engine-url
        if zerogpu and local:
            load_at_startup(model)
    except MimoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if banner:
        print(f"warning: {banner}", file=sys.stderr)
    handlers = make_handlers(model, banner, zerogpu=zerogpu and local)
    demo = build_app(handlers)
    start_output_cleaner(demo, args)
    api = build_api(handlers.backend if local else model, api_config(args))
    launch(demo, args, api=api, routes=voice_routes(handlers.backend, handlers.limits))
    return 0
