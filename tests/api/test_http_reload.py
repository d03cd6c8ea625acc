"""A generation another process wrote: loaded off the event loop, seen by writes at once.

"Another process" is a second :class:`rag.Rag` on the same folder: it writes through the
same files, lock and ``CURRENT`` pointer as `rag index` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from api_support import LiveServer, make_rag
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from rag import IndexCorruptError, Rag, Settings
from rag import storage as storage_module
from rag.storage import Snapshot
from rag.testing import HashEmbedder

KIWI = "Kiwi birds cannot fly. They live in New Zealand forests."


def other_process(folder: Path) -> Rag:
    return Rag.open(folder, Settings(index=folder, llm="none"), embedder=HashEmbedder())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    folder = tmp_path / "index"
    rag = make_rag(folder)
    with LiveServer(create_app(rag.settings, rag, api_settings=ApiSettings())) as server:
        yield server, folder


class GatedLoad:
    """``storage.load`` that waits for ``gate`` before loading: a very large index."""

    def __init__(self, load: Callable[[Path], Snapshot]) -> None:
        self.load = load
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def __call__(self, folder: Path) -> Snapshot:
        self.waiting.set()
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the gate never opened")
        return self.load(folder)


def titles(c: httpx.Client) -> set[str]:
    return {d["title"] for d in c.get("/v1/documents").json()}


def test_a_slow_reload_does_not_hold_up_other_requests(
    served: tuple[LiveServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, folder = served
    other_process(folder).add_text(KIWI, "Kiwi")
    slow = GatedLoad(storage_module.load)
    monkeypatch.setattr(storage_module, "load", slow)
    # A timeout well above any normal answer: it only tells a frozen server from a live one.
    with httpx.Client(base_url=server.url, timeout=10) as c:
        first = c.get("/v1/search", params={"q": "kiwi birds"})  # sees the write: starts a reload
        assert first.status_code == 200
        assert slow.waiting.wait(10)  # the reload is under way, stuck in the load
        assert c.get("/healthz").status_code == 200
        # Meanwhile every endpoint answers from the generation it had.
        assert c.get("/v1/search", params={"q": "Iraq"}).status_code == 200
        assert titles(c) == {"US leaves Iraq", "Bananas"}
        assert c.get("/readyz").status_code == 200
        slow.gate.set()
        for _ in range(200):
            if "Kiwi" in titles(c):
                break
            threading.Event().wait(0.05)
        assert titles(c) == {"US leaves Iraq", "Bananas", "Kiwi"}


def test_a_document_added_elsewhere_is_deletable_at_once(make_app: Callable[..., object]) -> None:
    app = make_app()
    with TestClient(app) as client:  # type: ignore[arg-type]
        folder = app.state.service.rag.path  # type: ignore[attr-defined]
        summary = other_process(folder).add_text(KIWI, "Kiwi")
        assert summary.added == 1
        (doc_id,) = {d.doc_id for d in other_process(folder).documents() if d.title == "Kiwi"}
        # No read came first: the delete itself picks up the new generation.
        r = client.delete(f"/v1/documents/{doc_id}")
        assert r.status_code == 200, r.text
        assert r.json()["removed"] == 1
        assert "Kiwi" not in {d["title"] for d in client.get("/v1/documents").json()}
        assert client.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_a_generation_that_fails_to_load_leaves_the_old_one_serving(
    served: tuple[LiveServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, folder = served
    calls: list[Path] = []

    def broken(path: Path) -> Snapshot:
        calls.append(path)
        raise IndexCorruptError(f"{path}/gen-x/chunks.jsonl is corrupt")

    writer = other_process(folder)
    monkeypatch.setattr(storage_module, "load", broken)
    writer.add_text(KIWI, "Kiwi")
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for _ in range(20):
            assert c.get("/v1/search", params={"q": "Iraq"}).status_code == 200
            assert titles(c) == {"US leaves Iraq", "Bananas"}
    assert len(calls) == 1  # the broken generation is tried once, not once per request
