"""Against a real `rag serve` (no LLM): slow clients and other writers never freeze it.

The server runs with a 3 s header deadline and room for 200 connections, so the 300
held-open, half-sent requests below both hit the cap and time out. Client timeouts only
tell a frozen server from a live one; nothing here asserts how fast it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import RealServer, rag_bin, start_real_server

from rag.documents import doc_id_for

pytestmark = pytest.mark.integration

SLOW_CLIENTS = 300
HANG = 5.0  # seconds: far above a normal answer, only catches a server that stopped answering


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    served = start_real_server(
        tmp_path_factory.mktemp("limits"),
        llm="none",
        RAG_HEADER_TIMEOUT="3",
        RAG_MAX_CONNECTIONS="200",
    )
    try:
        yield served
    finally:
        served.stop()


def test_hundreds_of_half_sent_requests_do_not_freeze_the_server(server: RealServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", port), timeout=HANG)
            s.sendall(b"GET /v1/search?q=Iraq HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Be")
            held.append(s)
        with server.client(timeout=HANG) as c:
            for _ in range(3):
                assert c.get("/healthz").status_code == 200
                hits = c.get("/v1/search", params={"q": "withdrawal from Iraq"})
                assert hits.status_code == 200 and hits.json()
        # Every held connection is closed by the server (cap, then header deadline).
        deadline = time.monotonic() + 15
        for s in held:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1024) == b""
    finally:
        for s in held:
            s.close()
    with server.client(timeout=HANG) as c:
        assert c.get("/healthz").status_code == 200
    assert "out of system resource" not in server.log.read_text(errors="replace")


def test_a_document_the_cli_adds_is_deletable_over_http_at_once(
    server: RealServer, tmp_path: Path
) -> None:
    note = tmp_path / "heron.txt"
    note.write_text("Herons\n\nGrey herons nest in tall trees near lakes.\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    added = subprocess.run(
        [rag_bin(), "index", str(note), "--index", str(server.index), "--json"],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert json.loads(added.stdout)["added"] == 1
    doc_id = doc_id_for(str(note.resolve()))
    with server.client(timeout=60) as c:
        r = c.delete(f"/v1/documents/{doc_id}")  # no read came first
        assert r.status_code == 200, r.text
        assert r.json()["removed"] == 1
        assert doc_id not in {d["doc_id"] for d in c.get("/v1/documents").json()}
