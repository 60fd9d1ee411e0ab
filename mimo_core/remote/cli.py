"""The ``--engine-url`` flags, for every command that can run tasks on remote engines."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from .pool import PROTOCOLS

if TYPE_CHECKING:
    from .backend import RemoteBackend

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


def remote_from_args(args: argparse.Namespace) -> RemoteBackend:
    """The backend ``--engine-url`` asks for (call only when it was given)."""
    from .backend import RemoteBackend      # it imports torch: not when a parser is built
    return RemoteBackend.from_urls(args.engine_url, api_key=args.engine_api_key, protocol=args.engine_protocol)
