"""``RemoteBackend``: the ``MimoAudio`` API (run / stream / status / load / unload / limits)
served by remote MiMo-Audio engines (our ``serve`` or web app's /v1) instead of local weights.

    backend = RemoteBackend.from_urls("http://gpu1:8000,http://gpu2:8000", api_key="...")
    for event in backend.stream(TTSRequest(text="Hello")): ...

Results carry text and audio (``tokens`` is empty: the token matrix stays on the engine);
dialogue results carry a ``Conversation`` of display turns, which the next request sends as
history. A call that fails before any output is retried on another engine.
"""

from __future__ import annotations

import threading
from typing import Optional

import httpx

from ..errors import InputTooLongError, ModelNotConfiguredError, PromptError
from ..tasks.backend import EventStream, Progress, final_result
from ..tasks.limits import Limits
from ..tasks.types import TaskRequest, TaskResult
from . import vllm_omni
from .answers import SseReader, once_result
from .pool import PROTOCOLS, EnginePool, RemoteError, parse_urls
from .wire import Call, to_call

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0
RETRY_STATUSES = (429, 500, 502, 503, 504)


class _Retry(Exception):
    """This engine failed before producing output: try another."""


class RemoteBackend:
    """A :class:`~mimo_core.tasks.backend.Backend` over remote engines. ``protocol``: "mimo"
    (our API) or "vllm-omni" (its chat endpoint, see :mod:`.vllm_omni`)."""

    batching = True         # the engines batch concurrent requests (ours do; so does vLLM)

    def __init__(self, pool: EnginePool, api_key: Optional[str] = None, limits: Optional[Limits] = None,
                 protocol: str = "mimo"):
        if protocol not in PROTOCOLS:
            raise RemoteError(f"unknown engine protocol {protocol!r}; use one of: {', '.join(PROTOCOLS)}")
        self.pool, self.protocol = pool, protocol
        self.limits = limits or Limits()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))
        self._served: dict[str, str] = {}            # engine URL -> its model name (vLLM-Omni)
        if protocol == "vllm-omni":
            self._to_call, self.reader = vllm_omni.to_call, vllm_omni.OmniReader
        else:
            self._to_call, self.reader = to_call, SseReader

    @classmethod
    def from_urls(cls, urls: str, api_key: Optional[str] = None, **kwargs) -> "RemoteBackend":
        return cls(EnginePool(parse_urls(urls)), api_key, **kwargs)

    # ------------------------------------------------------------------ the facade's API
    def run(self, request: TaskRequest, cancel: Optional[threading.Event] = None,
            progress: Optional[Progress] = None) -> TaskResult:
        return final_result(self.stream(request, cancel))

    def stream(self, request: TaskRequest, cancel: Optional[threading.Event] = None) -> EventStream:
        call = self._to_call(request)           # bad input raises here, before any network
        return self._events(call, cancel or threading.Event())

    def status(self) -> dict:
        models: dict[str, dict] = {"instruct": {"configured": False}, "base": {"configured": False},
                                   "tokenizer": {"configured": True}}
        for engine in self.pool.engines:
            try:
                listed = self._http.get(f"{engine.url}/v1/models", timeout=CONNECT_TIMEOUT_S).json()
            except (httpx.HTTPError, ValueError):
                continue
            for item in listed.get("data", []):
                role = item.get("id", "").rsplit("-", 1)[-1].lower()
                if role in ("instruct", "base"):
                    models[role] = {"configured": True, "loaded": True, "spec": f"remote: {item['id']}"}
        return {"device": "remote", "dtype": "remote", "tiny": False, "models": models,
                "remote": self.pool.status()}

    def load(self, role: str) -> None:
        """Models are loaded on the engines; nothing to do here."""

    def unload(self, role: str) -> None:
        raise RemoteError("models run on the remote engines; unload them there")

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ calling engines
    def _events(self, call: Call, cancel: threading.Event) -> EventStream:
        tried: set[str] = set()
        while True:
            engine = self.pool.acquire(tried)
            tried.add(engine.url)
            started, error = False, None
            try:
                for event in self._call(engine.url, call, cancel):
                    started = True
                    yield event
                return
            except _Retry as exc:
                error = str(exc)
                if started or len(tried) >= len(self.pool.engines):
                    raise RemoteError(f"remote engine {engine.url} failed: {error}") from None
            finally:
                self.pool.release(engine, error)

    def _call(self, url: str, call: Call, cancel: threading.Event) -> EventStream:
        kwargs = ({"json": call.json} if call.json is not None
                  else {"data": call.form, "files": call.files})
        try:
            if call.json is not None and call.json.get("model") is None:    # vLLM-Omni: its name
                kwargs["json"] = {**call.json, "model": self._served_model(url)}
            with self._http.stream("POST", url + call.path, **kwargs) as response:
                if response.status_code != 200:
                    response.read()
                    _raise_for(response)
                if call.kind == "once":
                    yield once_result(call, response.read())
                    return
                yield from self.reader(call).read(response, cancel)
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None

    def _served_model(self, url: str) -> str:
        """The model name an engine serves (the first of GET /v1/models), asked once."""
        if url not in self._served:
            response = self._http.get(f"{url}/v1/models", timeout=CONNECT_TIMEOUT_S)
            if response.status_code != 200:
                _raise_for(response)
            try:
                data = response.json().get("data") or []
            except ValueError:
                raise _Retry("GET /v1/models did not answer JSON") from None
            if not data:
                raise _Retry("the engine serves no model")
            self._served[url] = data[0]["id"]
        return self._served[url]


def _raise_for(response: httpx.Response) -> None:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or f"HTTP {response.status_code}"
    status = response.status_code
    if status in RETRY_STATUSES:
        raise _Retry(f"HTTP {status}: {message}")
    if status == 413:
        raise InputTooLongError(message)
    if status == 404:
        raise ModelNotConfiguredError(f"the remote engine: {message}")
    if status == 401:
        raise RemoteError(f"the remote engine refused the API key: {message}")
    raise PromptError(message)
