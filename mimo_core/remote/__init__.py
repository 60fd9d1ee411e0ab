"""Remote engines: the task API served by other MiMo-Audio servers over HTTP (``--engine-url``).

:class:`RemoteBackend` speaks our own OpenAI-compatible API (``run_mimo_audio.py serve`` or the
web app's /v1); :class:`EnginePool` spreads calls over several servers and retries elsewhere.
"""

from .backend import RemoteBackend
from .pool import EnginePool, RemoteError, parse_urls

__all__ = ["EnginePool", "RemoteBackend", "RemoteError", "parse_urls"]
