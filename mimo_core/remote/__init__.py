"""Remote engines: the task API served by other MiMo-Audio servers over HTTP (``--engine-url``).

:class:`RemoteBackend` speaks our own OpenAI-compatible API (``run_mimo_audio.py serve`` or the
web app's /v1); :class:`EnginePool` spreads calls over several servers and retries elsewhere.
Imported on first use, so the flags (:mod:`.cli`) cost no torch import when a parser is built.
"""

__all__ = ["EnginePool", "RemoteBackend", "RemoteError", "parse_urls"]


def __getattr__(name: str):
    if name == "RemoteBackend":
        from .backend import RemoteBackend
        return RemoteBackend
    if name in ("EnginePool", "RemoteError", "parse_urls"):
        from . import pool
        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
