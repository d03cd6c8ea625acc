"""How ``rag serve`` runs uvicorn: timeouts and limits that keep slow clients from freezing it.

uvicorn (0.54) closes idle kept-alive connections and bounds a request's header size, but
it has no deadline for the headers themselves and accepts connections until the process
runs out of file descriptors. :func:`guarded_protocol` adds both to its h11 protocol:

- a request's headers must arrive within ``header_timeout`` seconds of the connection
  opening (or of the previous response on a kept-alive connection), else it is closed;
- beyond ``max_connections`` open connections, the one that has waited longest for its
  headers is closed to make room (the new one itself when no other is waiting), so
  a flood of half-sent requests never exhausts descriptors and real requests still get in.

:class:`RateLimitFilter` keeps a message that can repeat many times a second (asyncio's
"socket.accept() out of system resource") from filling the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import ApiSettings

log = logging.getLogger("rag.api")

ACCEPT_FAILED = "socket.accept() out of system resource"
FD_MARGIN = 100  # descriptors the process needs besides connections (index, models, log)


@dataclass
class _Guard:
    """The limits and the shared state of one server's connections."""

    header_timeout: float
    max_connections: int
    # Connections waiting for a request's headers, longest-waiting first.
    waiting: dict[_GuardedH11, None] = field(default_factory=dict)
    closing: int = 0  # closed by the guard, not yet gone from uvicorn's connection set


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a cap on open connections."""

    guard: ClassVar[_Guard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._evicted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        if len(self.connections) - self.guard.closing > self.guard.max_connections:
            next(iter(self.guard.waiting))._evict()  # never empty: this one is waiting

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        if self._evicted:
            self._evicted = False
            self.guard.closing -= 1
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the request's headers are in
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_headers()  # kept alive: the next request's headers have a deadline too

    def _await_headers(self) -> None:
        self._stop_waiting()
        self.guard.waiting[self] = None
        self._header_timer = self.loop.call_later(self.guard.header_timeout, self._evict)

    def _stop_waiting(self) -> None:
        self.guard.waiting.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _evict(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self._evicted = True
            self.guard.closing += 1
            self.transport.close()


def guarded_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """An h11 protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    guard = _Guard(header_timeout, max_connections)
    return type("GuardedH11Protocol", (_GuardedH11,), {"guard": guard})


def server_config(
    app: Any, api: ApiSettings, *, host: str, port: int, log_level: str = "info"
) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the limits of ``api`` (see docs/http.md)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=guarded_protocol(api.header_timeout, api.max_connections),
        timeout_keep_alive=api.keep_alive_seconds,
        # Connections are capped by the guard; uvicorn's cap (503 beyond it) then bounds
        # requests still running, such as ones whose client has gone.
        limit_concurrency=api.max_connections + FD_MARGIN,
        h11_max_incomplete_event_size=api.max_header_bytes,
        timeout_graceful_shutdown=5,
    )


class RateLimitFilter(logging.Filter):
    """Passes a record starting with one of ``prefixes`` at most once per ``seconds``.

    The record let through says how many like it were dropped, and loses its traceback
    (one line instead of twenty). Other records pass untouched.
    """

    def __init__(
        self,
        prefixes: tuple[str, ...],
        seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.seconds = seconds
        self.clock = clock
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        prefix = next((p for p in self.prefixes if message.startswith(p)), None)
        if prefix is None:
            return True
        now = self.clock()
        last = self._last.get(prefix)
        if last is not None and now - last < self.seconds:
            self._dropped[prefix] = self._dropped.get(prefix, 0) + 1
            return False
        self._last[prefix] = now
        line = message.splitlines()[0]
        if record.exc_info and record.exc_info[1] is not None:
            line += f": {record.exc_info[1]}"
        dropped = self._dropped.pop(prefix, 0)
        if dropped:
            line += f" ({dropped} more in the last {now - (last or now):.0f} s)"
        line += f"; at most one such line per {self.seconds:.0f} s"
        record.msg, record.args, record.exc_info, record.exc_text = line, None, None, None
        return True


def install_log_limits() -> None:
    """Rate-limit asyncio's accept failures (they repeat while descriptors are exhausted)."""
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, RateLimitFilter) for f in asyncio_log.filters):
        asyncio_log.addFilter(RateLimitFilter((ACCEPT_FAILED,)))


def ensure_descriptors(max_connections: int) -> None:
    """Raise the soft descriptor limit to what ``max_connections`` needs, if the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max_connections + FD_MARGIN
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < need:
            log.warning(
                "open files are limited to %d (ulimit -n): lower RAG_MAX_CONNECTIONS below %d",
                target, target - FD_MARGIN,
            )  # fmt: skip


def run(app: Any, api: ApiSettings, *, host: str, port: int) -> None:
    """Serve ``app`` until interrupted."""
    install_log_limits()
    ensure_descriptors(api.max_connections)
    server = uvicorn.Server(server_config(app, api, host=host, port=port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(1)
