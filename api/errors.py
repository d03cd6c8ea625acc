"""Every failure leaves the service as JSON ``{"error": {"type", "message"}}``, never a trace.

The shape is also what OpenAI clients expect, so they raise their usual errors.
Library errors map to status codes here, in one place::

    BadInputError        400 bad_input
    IndexNotFoundError   404 index_not_found     (an empty service: upload documents first)
    IndexCorruptError    503 index_corrupt       (never wrong hits: rag check --repair)
    other index errors   500 index_error
    ModelError           503 model_unavailable
    GenerationError      500 generation_failed
    anything else        500 internal_error      (logged with its trace, not sent)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BadInputError,
    GenerationError,
    IndexCorruptError,
    IndexNotFoundError,
    ModelError,
    RagError,
)

log = logging.getLogger("rag.api")

_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(StarletteHTTPException):
    """An error with a status, a machine-readable type and a message for a person."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,  # noqa: A002 - mirrors the JSON field
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.type = type or _TYPES.get(status, "error")
        self.message = message


def error_body(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message}}


def error_response(
    status: int, type_: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(type_, message), status_code=status, headers=headers)


def from_rag_error(exc: RagError) -> ApiError:
    """The HTTP form of a library error."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, BadInputError):
        return ApiError(400, message, type="bad_input")
    if isinstance(exc, IndexNotFoundError):
        return ApiError(404, "the index is empty: add documents first", type="index_not_found")
    if isinstance(exc, IndexCorruptError):
        return ApiError(503, message, type="index_corrupt")
    if isinstance(exc, ModelError):
        return ApiError(503, message, type="model_unavailable")
    if isinstance(exc, GenerationError):
        return ApiError(500, message, type="generation_failed")
    if exc.exit_code == 2:
        return ApiError(500, message, type="index_error")
    return ApiError(500, message, type="internal_error")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.type, exc.message, exc.headers)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    type_ = _TYPES.get(exc.status_code, "error")
    return error_response(exc.status_code, type_, message, exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", _validation_message(exc))


async def _on_rag_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagError)
    api = from_rag_error(exc)
    if api.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(api.status_code, api.type, api.message)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this response is sent, so the server logs the trace.
    return error_response(500, "internal_error", "internal error (see the server log)")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(RagError, _on_rag_error)
    app.add_exception_handler(Exception, _on_unexpected)


# Documented on every route so clients (and schema fuzzers) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": desc}
    for code, desc in {
        400: "Bad input",
        401: "Missing or wrong API key",
        404: "Not found",
        413: "Request body too large",
        422: "Invalid request",
        500: "Internal error",
        503: "Busy or not ready; see Retry-After",
    }.items()
}
