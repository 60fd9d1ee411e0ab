"""The /v1 FastAPI app: shared state, API-key check, error shape, CORS, and the helpers the
routes use to call the model (whole result, or a stream of events).

``build_api(backend, config)`` returns a FastAPI app whose paths are relative to /v1; the web
app mounts it beside the UI on the same port, ``run_mimo_audio.py serve`` serves it alone.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mimo_core.errors import MimoError
from mimo_core.tasks.backend import Backend

from .admission import InFlight, ReadyGate, default_upload_cap, read_body
from .audio_cache import AudioCache
from .catalog import INSTRUCT, Catalog
from .errors import ApiError, as_api_error
from .params import options, parse_json
from .streaming import model_events
from .voices import Voices

API_PREFIX = "/v1"
API_KEY_ENV = "MIMO_API_KEY"
DEFAULT_MAX_IN_FLIGHT = 64
CATALOG_RETRY_S = 5


@dataclass
class ApiConfig:
    api_key: Optional[str] = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_upload_bytes: Optional[int] = None          # None: from the backend's audio length limit
    cors_origins: tuple[str, ...] = ()
    voices_dir: Optional[str] = None
    max_tokens: Optional[int] = None                # cap on generated groups per request
    audio_cache: AudioCache = field(default_factory=AudioCache)


class ApiContext:
    """Everything a route needs, built once per server."""

    def __init__(self, backend: Backend, config: ApiConfig, ready: ReadyGate):
        self.backend, self.config, self.ready = backend, config, ready
        self.upload_cap = config.max_upload_bytes or default_upload_cap(backend.limits.max_audio_seconds)
        self.in_flight = InFlight(config.max_in_flight)
        self._catalog = Catalog.from_status(backend.status())
        self.voices = Voices.from_folder(config.voices_dir)
        self.cache = config.audio_cache

    @property
    def catalog(self) -> Catalog:
        """The models served; asked again (at most every few seconds) while none is known,
        e.g. when remote engines were not up yet when this server started."""
        if not self._catalog.roles and time.time() - self._catalog.created >= CATALOG_RETRY_S:
            self._catalog = Catalog.from_status(self.backend.status())
        return self._catalog

    async def json_body(self, request: Request) -> dict:
        """Ready check, then the capped body parsed as a JSON object."""
        self.ready.check()
        return parse_json(await read_body(request, self.upload_cap))

    def options(self, data: dict, task_groups: Optional[int] = None) -> Any:
        """The request's generation options, its length capped by ``--max-tokens``
        (``task_groups``: the length the task itself asks for, e.g. a continuation's)."""
        opts = options(data)
        cap = self.config.max_tokens
        if cap is None:
            return opts
        return replace(opts, max_new_groups=min(opts.max_new_groups or task_groups or cap, cap))

    def require_instruct(self, data: dict, task: str) -> None:
        self.catalog.role_of(data.get("model"), needs=INSTRUCT, task=task)

    async def run(self, request: Any) -> Any:
        """Run one task to its end in a worker thread (holding an in-flight slot)."""
        slot = self.in_flight.acquire()
        try:
            return await run_in_threadpool(self.backend.run, request)
        finally:
            slot.release()

    async def stream(self, request: Any) -> AsyncIterator:
        """Start a task's stream; bad input raises here, before any response is sent."""
        slot = self.in_flight.acquire()
        cancel = threading.Event()
        try:
            events = await run_in_threadpool(self.backend.stream, request, cancel)
        except BaseException:
            slot.release()
            raise
        return model_events(events, cancel, slot)


def build_api(backend: Backend, config: Optional[ApiConfig] = None, ready: Optional[ReadyGate] = None) -> FastAPI:
    """The /v1 app over ``backend`` (the facade, or what ``app.backend.make_backend`` gives)."""
    from . import routes_audio, routes_chat, routes_mimo

    config = config or ApiConfig()
    ctx = ApiContext(backend, config, ready or ReadyGate())
    api = FastAPI(title="MiMo-Audio OpenAI-compatible API", docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(_auth_check(config.api_key))])
    api.state.ctx = ctx
    api.add_exception_handler(ApiError, lambda _req, exc: exc.response())
    # MimoError by name: handlers for Exception run in the outermost middleware, which
    # re-raises after answering (the connection is then dropped); these are answered cleanly
    api.add_exception_handler(MimoError, lambda _req, exc: as_api_error(exc).response())
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(Exception, lambda _req, exc: as_api_error(exc).response())
    if config.cors_origins:
        api.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])

    @api.get("/models")
    async def list_models() -> dict:
        return ctx.catalog.listing()

    for module in (routes_audio, routes_chat, routes_mimo):
        module.add_routes(api, ctx)
    return api


def _auth_check(key: Optional[str]):
    expected = key.encode() if key else None

    async def check(request: Request) -> None:
        if expected is None or request.method == "OPTIONS":
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "missing API key: send the header 'Authorization: Bearer <key>'",
                           code="missing_api_key")
        if not hmac.compare_digest(token.strip().encode(), expected):
            raise ApiError(401, "incorrect API key", code="invalid_api_key")
    return check


async def _http_error(_request: Request, exc: StarletteHTTPException):
    message = {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return ApiError(exc.status_code, message).response()


def mount_route(api: FastAPI):
    """A Starlette route serving ``api`` under /v1 (for the gradio app's route list)."""
    from starlette.routing import Mount
    return Mount(API_PREFIX, app=api)


def exposure_warning(server_name: str, api_key: Optional[str]) -> Optional[str]:
    """The loud line to print when /v1 is reachable beyond this machine without a key."""
    if api_key or server_name in ("127.0.0.1", "localhost", "::1"):
        return None
    return (f"WARNING: the OpenAI-compatible API (/v1) is served on {server_name} WITHOUT an API key: "
            f"anyone who can reach this port can use the model. Pass --api-key KEY (or set "
            f"{API_KEY_ENV}).")
