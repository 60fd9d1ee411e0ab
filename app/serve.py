"""The ``serve`` command: the OpenAI-compatible API (/v1) alone, no web UI.

    python run_mimo_audio.py serve [--model-path ...] [--port 8000] [--api-key KEY]

It listens at once and loads the Instruct LM and the audio tokenizer in the background;
until they are loaded, requests get 503 with Retry-After. The same API is also served by
the web app (``app`` command) on the UI's port. See docs/OPENAI_API.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Optional

from fastapi import FastAPI

from mimo_core.cli.common import add_model_args
from mimo_core.errors import MimoError
from mimo_core.remote.cli import add_engine_args
from mimo_core.tasks.backend import Backend

from .backend import make_backend, open_engine
from .openai_api import API_KEY_ENV, ApiConfig, build_api, exposure_warning, mount_route
from .openai_api.admission import BYTES_PER_MB, ReadyGate

DEFAULT_PORT = 8000


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve the OpenAI-compatible API only (no UI)",
                              description="Serve the OpenAI-compatible HTTP API (/v1) without the web UI.")
    add_model_args(p)
    p.add_argument("--tiny", action="store_true", help="force the tiny random demo model (its output is noise)")
    s = p.add_argument_group("server")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--server-name", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    s.add_argument("--root-path", default=None, help="URL prefix when served behind a proxy")
    s.add_argument("--max-queue", type=int, default=64, help="API requests allowed in flight (429 beyond)")
    add_api_args(p)
    add_engine_args(p)
    p.set_defaults(func=main)


def add_api_args(parser: argparse.ArgumentParser) -> None:
    """The API's flags, shared by ``serve`` and ``app``."""
    g = parser.add_argument_group("OpenAI-compatible API (/v1)")
    g.add_argument("--api-key", default=os.environ.get(API_KEY_ENV),
                   help=f"require 'Authorization: Bearer KEY' on every /v1 call (default: ${API_KEY_ENV})")
    g.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser calls to /v1 from this origin (repeatable; CORS is off by default)")
    g.add_argument("--voices", default=None, metavar="DIR",
                   help="folder of voice clips, each usable as `voice` by its file name "
                        "(default: the voice prompts in assets/)")
    g.add_argument("--max-upload-mb", type=float, default=None,
                   help="largest request body in MB (default: enough for the longest allowed audio)")
    g.add_argument("--max-tokens", type=int, default=None,
                   help="most groups one request may generate (1 group = 0.16 s of speech; "
                        "default: the model's context)")


def api_config(args: argparse.Namespace) -> ApiConfig:
    cap = int(args.max_upload_mb * BYTES_PER_MB) if args.max_upload_mb else None
    return ApiConfig(api_key=args.api_key or None, max_in_flight=args.max_queue, max_upload_bytes=cap,
                     cors_origins=tuple(args.cors_origin), voices_dir=args.voices,
                     max_tokens=args.max_tokens)


def warn_if_exposed(args: argparse.Namespace, share: bool = False) -> Optional[str]:
    """Print (and return) the loud warning for a keyless API reachable from other machines."""
    line = exposure_warning("a public share link" if share else args.server_name, args.api_key)
    if line:
        print("\n" + "!" * 100 + f"\n{line}\n" + "!" * 100 + "\n", file=sys.stderr)
    return line


def build_server_app(backend: Backend, config: ApiConfig, ready: Optional[ReadyGate] = None) -> FastAPI:
    """A FastAPI app with the API under /v1 (what ``serve`` runs)."""
    return FastAPI(docs_url=None, redoc_url=None, openapi_url=None,
                   routes=[mount_route(build_api(backend, config, ready))])


def preload(model: Backend) -> None:
    """Load what the OpenAI endpoints need (Instruct LM, audio tokenizer) before serving them."""
    model.load("tokenizer")
    model.load("instruct")


def main(args: argparse.Namespace) -> int:
    import uvicorn                          # (only serving needs it: not with the parser)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        model, banner, local = open_engine(args)
    except MimoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if banner:
        print(f"warning: {banner}", file=sys.stderr)
    warn_if_exposed(args)
    backend = make_backend(model) if local else model
    ready = ReadyGate(lambda: preload(backend) if local else None).start()
    app = build_server_app(backend, api_config(args), ready)
    uvicorn.run(app, host=args.server_name, port=args.port, root_path=args.root_path or "",
                log_level="info")
    model.close()
    return 0
