"""Slow clients cannot freeze the server: header deadline, connection cap, quiet logs.

The server here is uvicorn configured by ``api.serving`` (as `rag serve` runs it) in a
thread, over the fakes; tests/api/test_http_slow_clients.py does the same against a real
`rag serve`. Deadlines are short so the tests are quick; the timeouts in the tests only
tell a server that closed a connection from one that never would.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import LiveServer, make_rag

from api import serving
from api.app import create_app
from api.settings import ApiSettings, from_environment
from rag import BadInputError

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture
def guarded(tmp_path: Path) -> Callable[..., LiveServer]:
    """``guarded(**api_settings)``: a server over the fakes, configured as `rag serve` is."""

    def start(**api: Any) -> LiveServer:
        settings = ApiSettings(**api)
        rag = make_rag(tmp_path / "index")
        return LiveServer(create_app(rag.settings, rag, api_settings=settings), api=settings)

    return start


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for s in sockets:
        s.close()


def half_sent(port: int, sockets: list[socket.socket], n: int) -> list[socket.socket]:
    """``n`` connections that sent the start of a request and nothing more."""
    new = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(PARTIAL)
        new.append(s)
    sockets.extend(new)
    return new


def closed_by_server(s: socket.socket) -> bool:
    """True once the server has closed ``s`` (leaves it non-blocking)."""
    s.setblocking(False)
    try:
        return s.recv(1024) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def wait_until(predicate: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        time.sleep(0.05)


def test_half_sent_requests_are_closed_after_the_header_timeout(
    guarded: Callable[..., LiveServer], held: list[socket.socket]
) -> None:
    with guarded(header_timeout=0.5) as server:
        slow = half_sent(server.port, held, 20)
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert c.get("/healthz").status_code == 200
        wait_until(lambda: all(closed_by_server(s) for s in slow))


def test_a_trickle_of_header_bytes_does_not_extend_the_deadline(
    guarded: Callable[..., LiveServer], held: list[socket.socket]
) -> None:
    with guarded(header_timeout=0.5) as server:
        (s,) = half_sent(server.port, held, 1)
        deadline = time.monotonic() + 15
        ended = False
        while not ended and time.monotonic() < deadline:
            try:
                s.sendall(b"a")  # one more header byte every 50 ms
            except OSError:  # broken pipe or reset: the server closed it
                break
            time.sleep(0.05)
            ended = closed_by_server(s)
            s.settimeout(5)
        else:
            assert ended


def test_a_kept_alive_connection_has_a_deadline_for_its_next_headers(
    guarded: Callable[..., LiveServer], held: list[socket.socket]
) -> None:
    with guarded(header_timeout=0.5, keep_alive_seconds=60) as server:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        held.append(s)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.sendall(PARTIAL)
        wait_until(lambda: closed_by_server(s))


def test_beyond_max_connections_the_longest_waiting_is_closed(
    guarded: Callable[..., LiveServer], held: list[socket.socket]
) -> None:
    with guarded(header_timeout=60, max_connections=10) as server:
        old = half_sent(server.port, held, 25)
        new = half_sent(server.port, held, 5)
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for _ in range(3):
                assert c.get("/healthz").status_code == 200
                assert c.get("/v1/search", params={"q": "Iraq"}).status_code == 200
        wait_until(lambda: sum(closed_by_server(s) for s in old) >= 20)
        assert not any(closed_by_server(s) for s in new)  # the newest ones were spared


def test_endless_headers_are_refused(
    guarded: Callable[..., LiveServer], held: list[socket.socket]
) -> None:
    with guarded(max_header_bytes=2048) as server:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        held.append(s)
        s.sendall(PARTIAL + b"a" * 4096)  # headers that have not ended after 4 KiB
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
        with httpx.Client(base_url=server.url) as c:
            assert c.get("/healthz", headers={"X-Small": "a" * 512}).status_code == 200


def test_the_accept_failure_line_is_rate_limited() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("test.rate_limit")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.addFilter(serving.RateLimitFilter((serving.ACCEPT_FAILED,), 60, clock=lambda: now[0]))
    try:
        error = OSError(24, "Too many open files")
        for i in range(1000):
            now[0] = i * 0.03  # 1000 failures in 30 s
            logger.error(
                f"{serving.ACCEPT_FAILED}\nsocket: <fd=7>",
                exc_info=(OSError, error, None),
            )
            logger.warning("something else %d", i)
        now[0] = 61.0
        logger.error(serving.ACCEPT_FAILED)
    finally:
        logger.removeHandler(handler)
    accepts = [r for r in records if r.getMessage().startswith(serving.ACCEPT_FAILED)]
    assert len(accepts) == 2
    assert "Too many open files" in accepts[0].getMessage() and accepts[0].exc_info is None
    assert "\n" not in accepts[0].getMessage()
    assert "999 more" in accepts[1].getMessage()
    assert len(records) == 1002  # other lines pass untouched


def test_a_bad_limit_in_the_environment_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_HEADER_TIMEOUT", "soon")
    with pytest.raises(BadInputError, match=r"^RAG_HEADER_TIMEOUT: .*number"):
        from_environment()
    monkeypatch.setenv("RAG_HEADER_TIMEOUT", "2.5")
    assert from_environment().header_timeout == 2.5
