"""A damaged index never gives wrong hits over HTTP: 503 with a JSON error naming the
file, or the previous good generation while one is loaded."""

from __future__ import annotations

import time
from pathlib import Path

from api_support import make_rag
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import from_rag_error
from rag import IndexCorruptError, Rag, Settings
from rag.testing import HashEmbedder


def _garble(path: Path) -> None:
    data = path.read_bytes()
    mid = len(data) // 2
    path.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :])


def _live_generation(folder: Path) -> Path:
    return folder / (folder / "CURRENT").read_text().strip()


def test_a_server_started_on_a_damaged_index_answers_503(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    rag = make_rag(folder)
    damaged = _live_generation(folder) / "chunks.jsonl"
    _garble(damaged)
    with TestClient(create_app(rag.settings)) as c:  # the service opens the folder itself
        deadline = time.monotonic() + 30
        while "still loading" in c.get("/readyz").text and time.monotonic() < deadline:
            time.sleep(0.05)
        for request in (c.get("/v1/search", params={"q": "Iraq"}), c.get("/v1/documents")):
            assert request.status_code == 503
            assert request.json()["error"]["type"] == "index_corrupt"
            assert str(damaged) in request.json()["error"]["message"]


def test_a_damaged_new_generation_leaves_the_good_one_serving(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    rag = make_rag(folder)
    with TestClient(create_app(rag.settings, rag)) as c:
        before = c.get("/v1/search", params={"q": "Iraq"}).json()
        writer = Rag.open(folder, Settings(index=folder, llm="none"), embedder=HashEmbedder())
        writer.add_text("Iraq: kiwi birds cannot fly.", "Kiwi")  # written by "another process"
        _garble(_live_generation(folder) / "bm25" / "data.npy")
        for _ in range(5):
            r = c.get("/v1/search", params={"q": "Iraq"})
            assert r.status_code == 200 and r.json() == before
        # A write must not build on the damaged generation: 503, nothing written.
        doc_id = c.get("/v1/documents").json()[0]["doc_id"]
        r = c.delete(f"/v1/documents/{doc_id}")
        assert r.status_code == 503 and r.json()["error"]["type"] == "index_corrupt"
        assert "data.npy" in r.json()["error"]["message"]


def test_corruption_maps_to_503() -> None:
    err = from_rag_error(IndexCorruptError.at("/i/gen-000001/vectors.faiss", "missing"))
    assert (err.status_code, err.type) == (503, "index_corrupt")
