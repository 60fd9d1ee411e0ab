"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with an HTTP status.

Every failure a client can cause leaves the API as one of these, with our one-line message;
anything unexpected becomes a 500 whose body says only that (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import Optional

from fastapi.responses import JSONResponse

from mimo_core.errors import (AudioInputError, InputTooLongError, MimoError, ModelLoadError,
                              ModelNotConfiguredError, PromptError)

log = logging.getLogger(__name__)

# HTTP status -> OpenAI's error "type" for it
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
          503: "service_unavailable"}


class ApiError(Exception):
    """A client-visible failure: status, one-line message, and OpenAI's ``param`` / ``code``."""

    def __init__(self, status: int, message: str, *, param: Optional[str] = None,
                 code: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: Optional[str] = None, code: Optional[str] = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def from_mimo_error(exc: MimoError) -> ApiError:
    """Our typed errors -> statuses: too long = 413, a model that cannot load = 503, the rest 400."""
    if isinstance(exc, InputTooLongError):
        return ApiError(413, str(exc), code="input_too_long")
    if isinstance(exc, ModelLoadError):
        return ApiError(503, str(exc), code="model_unavailable")
    if isinstance(exc, ModelNotConfiguredError):
        return ApiError(400, str(exc), code="model_not_configured")
    if isinstance(exc, AudioInputError):
        return ApiError(400, str(exc), code="invalid_audio")
    if isinstance(exc, PromptError):
        return ApiError(400, str(exc), code="invalid_input")
    return ApiError(400, str(exc))


def as_api_error(exc: BaseException) -> ApiError:
    """Any exception -> the ApiError to send (unexpected ones logged, their text not sent)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, MimoError):
        return from_mimo_error(exc)
    log.exception("unexpected error in an API request", exc_info=exc)
    return ApiError(500, f"internal server error ({type(exc).__name__}); see the server log",
                    code="internal_error")
