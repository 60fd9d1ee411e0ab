"""The ``--engine-url`` flags, for every command that can run tasks on remote engines."""

from __future__ import annotations

import argparse
import os

PROTOCOLS = ("mimo", "vllm-omni")      # what --engine-protocol accepts (RemoteBackend checks it)

ENGINE_KEY_ENV = "MIMO_ENGINE_API_KEY"


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("remote engines")
    g.add_argument("--engine-url", default=None, metavar="URL[,URL...]",
                   help="run every task on these MiMo-Audio servers (our `serve` or the app's /v1) "
                        "instead of loading the model here; calls go to the least busy one")
    g.add_argument("--engine-protocol", default=PROTOCOLS[0], choices=PROTOCOLS,
                   help="what the engines speak: our API (serve / app) or vLLM-Omni's chat endpoint")
    g.add_argument("--engine-api-key", default=os.environ.get(ENGINE_KEY_ENV),
                   help=f"the engines' API key (default: ${ENGINE_KEY_ENV})")


def remote_from_args(args: argparse.Namespace):
    """The backend ``--engine-url`` asks for (call only when it was given); imported here, so
    building a parser costs no torch import."""
    from .backend import RemoteBackend
    return RemoteBackend.from_urls(args.engine_url, api_key=args.engine_api_key, protocol=args.engine_protocol)
