"""Two `rag serve` processes share one Milvus server: what one writes, the other serves.

The replicas are real subprocesses with the packaged embedding model and extractive
answers (``--llm none``); each has its own ``--index`` folder (where its uploads are
kept), as replicas on separate machines would. The server is ``milvus-lite server``
over TCP (tests/milvus_server.py says why not Milvus standalone).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import KEY, RealServer, free_port, rag_bin, wait_ready
from milvus_server import MilvusServer

pytestmark = pytest.mark.integration

IRAQ = (
    "US Leaves Iraq\n\nIn September 2024, the United States announced the end of its "
    "mission in Iraq. About 2,500 troops were still there.\n"
)
FESTIVAL = (
    "The Zorblax Festival\n\n"
    "The Zorblax festival is held every March in the mountain town of Quillhaven. "
    "Visitors come from far away to see thousands of glowing paper lanterns.\n"
)
FESTIVAL_QUESTION = "When is the Zorblax festival held?"
BRIDGE = (
    "The Glimmerford Bridge\n\n"
    "The Glimmerford bridge over the river Pell was finished in 1887 and is built of red granite."
)
BRIDGE_QUESTION = "When was the Glimmerford bridge finished?"


def _env(store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "RAG_STORE": store, "RAG_API_KEY": KEY}


def _start(folder: Path, store: str) -> RealServer:
    folder.mkdir()
    port, log = free_port(), folder / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [rag_bin(), "serve", "--index", str(folder / "index"), "--port", str(port),
             "--llm", "none"],
            env=_env(store), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return RealServer(f"http://127.0.0.1:{port}", KEY, folder / "index", process, log)


def _wait_ready(servers: list[RealServer], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    for server in servers:
        wait_ready(server, deadline=deadline)


@pytest.fixture
def replicas(milvus_server: MilvusServer, tmp_path: Path) -> Iterator[list[RealServer]]:
    store = milvus_server.url()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "iraq.txt").write_text(IRAQ, encoding="utf-8")
    subprocess.run(
        [rag_bin(), "index", str(docs)], env=_env(store), check=True, capture_output=True,
        timeout=300,
    )  # fmt: skip
    servers = [_start(tmp_path / name, store) for name in ("a", "b")]
    try:
        _wait_ready(servers)
        yield servers
    finally:
        for s in servers:
            s.stop()


def _ask(server: RealServer, question: str) -> dict[str, Any]:
    with server.client() as c:
        r = c.post("/v1/ask", json={"question": question})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _everywhere(server: RealServer, question: str) -> set[str]:
    """Every doc_id the replica returns for ``question``: citations, related, search, list."""
    answer = _ask(server, question)
    ids = {c["doc_id"] for c in answer["citations"]} | {h["doc_id"] for h in answer["related"]}
    with server.client() as c:
        hits = c.get("/v1/search", params={"q": question, "k": 10})
        listed = c.get("/v1/documents")
    assert hits.status_code == listed.status_code == 200
    return ids | {h["doc_id"] for h in hits.json()} | {d["doc_id"] for d in listed.json()}


def test_two_replicas_share_one_milvus_server(replicas: list[RealServer]) -> None:
    a, b = replicas
    # A file uploaded through A is cited by B, at an exact span of the uploaded text.
    with a.client() as c:
        r = c.post("/v1/documents", files=[("files", ("festival.md", FESTIVAL.encode()))])
    assert r.status_code == 200, r.text
    (festival,) = r.json()["doc_ids"]
    answer = _ask(b, FESTIVAL_QUESTION)
    assert answer["answerable"] and "March" in answer["answer"]
    cited = [c for c in answer["citations"] if c["doc_id"] == festival]
    assert cited and all(FESTIVAL[c["start"] : c["end"]] == c["quote"] for c in cited)
    with b.client() as c:
        view = c.get(f"/v1/documents/{festival}/text")
    assert view.status_code == 200 and view.json()["text"] == FESTIVAL

    # Text added through B is cited by A.
    with b.client() as c:
        r = c.post("/v1/documents", json={"text": BRIDGE, "title": "Glimmerford"})
    assert r.status_code == 200, r.text
    (bridge,) = r.json()["doc_ids"]
    answer = _ask(a, BRIDGE_QUESTION)
    assert [c["doc_id"] for c in answer["citations"]] == [bridge] and "1887" in answer["answer"]

    # A delete through B: neither replica returns the document again, in any form.
    with b.client() as c:
        assert c.delete(f"/v1/documents/{festival}").json()["removed"] == 1
    for server in (a, b):
        assert festival not in _everywhere(server, FESTIVAL_QUESTION)
        assert festival not in _everywhere(server, "paper lanterns in Quillhaven")
        with server.client() as c:
            assert c.get(f"/v1/documents/{festival}/text").status_code == 404
            assert c.delete(f"/v1/documents/{festival}").status_code == 404

    # The others are untouched, on both replicas.
    for server in (a, b):
        with server.client() as c:
            titles = sorted(d["title"] for d in c.get("/v1/documents").json())
        assert titles == ["Glimmerford", "US Leaves Iraq"]
