"""The ``app`` command: pick the models, build the UI, serve it.

    python run_mimo_audio.py [flags]          (no command = app)

With no model flag the official repos are used (downloaded with progress bars on first use);
when they cannot be had (offline, no disk), the app falls back to the ``tiny`` demo model and
says so in a red banner on every page (:func:`app.backend.choose_models`). ``--tiny`` forces
the demo model.

Gradio is imported by the functions that build and serve the UI, not by this module: building
the command-line parser (which registers this command) stays light.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from mimo_core.cli.common import add_model_args
from mimo_core.errors import MimoError
from mimo_core.remote.cli import add_engine_args

from .backend import load_at_startup, make_backend, on_zerogpu, open_engine, spaces_gpu
from .inputs import output_dir
from .openai_api import build_api, mount_route
from .outputs import DEFAULT_MAX_AGE_MIN, DEFAULT_MAX_MB, OutputBounds, OutputCleaner
from .presets import ASSETS_DIR
from .serve import add_api_args, api_config, warn_if_exposed
from .voice import voice_routes

if TYPE_CHECKING:
    from mimo_core.tasks.backend import Backend

    from .handlers import Handlers

log = logging.getLogger(__name__)

DEFAULT_PORT = 7860

def register(subparsers: Any) -> None:
    p = subparsers.add_parser("app", help="launch the web UI (the default command)",
                              description="Launch the MiMo-Audio Studio web UI.")
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


# ----------------------------------------------------------------------------------- server
def share_reachable(timeout_s: float = 5.0) -> tuple[bool, str]:
    """Whether the Gradio share server answers from this network (and why not)."""
    import httpx                            # (only this check needs it: not with the parser)
    from gradio import networking           # gradio

    if os.environ.get("GRADIO_SHARE_SERVER_ADDRESS"):
        return True, ""
    try:
        httpx.get(networking.GRADIO_API_SERVER, timeout=timeout_s).raise_for_status()
    except Exception as exc:  # noqa: BLE001 - any network failure means no share link
        return False, f"{type(exc).__name__}"
    return True, ""


def allowed_paths() -> list[str]:
    """Folders the browser may fetch files from: our example clips and our output files."""
    return [str(ASSETS_DIR), str(output_dir())]


def launch(demo: Any, args: argparse.Namespace, *, block: bool = True, api: Any = None,
           routes: tuple = ()) -> Any:
    """Queue settings, then serve; ``--share`` degrades to local with one clear line.
    ``api``: the OpenAI-compatible FastAPI app, served under /v1 on the same port; ``routes``:
    more server routes (the voice-chat websocket)."""
    from .ui import CSS                     # gradio

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
    from gradio.utils import get_upload_folder  # gradio

    built = [p for block in demo.blocks.values()
             for p in (*getattr(block, "temp_files", ()), *getattr(block, "keep_in_cache", ()))]
    bounds = OutputBounds.from_flags(args.output_max_age_min, args.output_max_mb)
    return OutputCleaner([output_dir(), get_upload_folder()], bounds, keep=built).start()


def ffmpeg_available() -> bool:
    """gradio encodes streamed audio with ffmpeg; without it only the final audio plays."""
    return shutil.which("ffmpeg") is not None


def make_handlers(model: Backend, banner: Optional[str], *, zerogpu: bool = False) -> Handlers:
    from .handlers import Handlers          # gradio
    stream_audio = ffmpeg_available()
    if not stream_audio:
        print("warning: ffmpeg not found; audio plays when generation ends instead of while it "
              "runs (install ffmpeg for live playback)", file=sys.stderr)
    return Handlers(make_backend(model, zerogpu=zerogpu), banner=banner, stream_audio=stream_audio)


def main(args: argparse.Namespace) -> int:
    from .ui import build_app               # gradio

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # gradio's cache in a folder of our own: the cleaner must not age another app's files
    os.environ.setdefault("GRADIO_TEMP_DIR", str(output_dir() / "gradio"))
    zerogpu = on_zerogpu(args.zerogpu)
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
