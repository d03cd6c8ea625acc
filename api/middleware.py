"""Pure ASGI middleware: the bearer key check and the request body limit.

The key is checked here, in front of every route (documentation included), so
no route can forget it. Only ``/healthz`` and static files (the web page, which
asks for the key, and Swagger UI's scripts; they hold no data) are open.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response

OPEN_PATHS = frozenset({"/healthz", "/", "/favicon.ico"})
OPEN_PREFIXES = ("/static/", "/docs-static/")


class BearerAuthMiddleware:
    """401 unless ``Authorization: Bearer <key>`` matches, compared in constant time."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, "unauthorized", "missing or wrong API key (send 'Authorization: Bearer <key>')",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
        await response(scope, receive, send)

    @staticmethod
    def _open(path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    def _authorized(self, scope: Scope) -> bool:
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return secrets.compare_digest(token.strip().encode("utf-8"), self._key)


class BodyTooLargeError(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by ``Content-Length``, or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            err = BodyTooLargeError(self.max_bytes)
            await error_response(413, err.type, err.message)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException: FastAPI re-raises it and our handler answers 413.
                    raise BodyTooLargeError(self.max_bytes)
            return message

        await self.app(scope, limited, send)
