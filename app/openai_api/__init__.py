"""The OpenAI-compatible HTTP API (/v1), served beside the UI or alone (``serve``).

Modules: :mod:`.service` (the FastAPI app, auth, calling the model), :mod:`.routes_audio`
(speech, transcriptions), :mod:`.routes_chat` (chat completions), :mod:`.routes_mimo`
(continuation, few-shot s2s), :mod:`.chat` (messages -> task), :mod:`.params` (fields),
:mod:`.audio` (encoding), :mod:`.voices`, :mod:`.catalog` (model ids), :mod:`.admission`
(ready / in-flight / size limits), :mod:`.audio_cache`, :mod:`.streaming` (SSE), :mod:`.errors`.
See docs/OPENAI_API.md.
"""

from .service import API_KEY_ENV, API_PREFIX, ApiConfig, build_api, exposure_warning, mount_route

__all__ = ["API_KEY_ENV", "API_PREFIX", "ApiConfig", "build_api", "exposure_warning", "mount_route"]
