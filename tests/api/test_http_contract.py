"""The native endpoints' contract, over fakes: shapes of DESIGN.md, errors as JSON."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import ANSWER, QUESTION, AppFactory, make_rag
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from rag import Rag, Settings
from rag.testing import CannedGenerator


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        name = next((ln[6:].strip() for ln in lines if ln.startswith("event:")), "message")
        data = [ln[5:].lstrip() for ln in lines if ln.startswith("data:")]
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["documents"] == 2
    assert ready["queue"] == {"pending": 0, "capacity": 5}


def test_ask_returns_the_answer_object(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": QUESTION, "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert {"question", "answer", "answerable", "citations", "related", "timings"} <= set(body)
    assert body["answerable"] is True
    assert body["answer"] == f"{ANSWER} [1]"
    (cite,) = body["citations"]
    assert cite["n"] == 1 and cite["quote"] == ANSWER and cite["title"] == "US leaves Iraq"
    assert {"doc_id", "source", "start", "end", "line"} <= set(cite)
    assert body["timings"]["total_ms"] >= 0


def test_ask_abstains_with_related_passages(make_app: AppFactory) -> None:
    # the model read the passages and found no answer
    with TestClient(make_app(CannedGenerator('{"answer": "NOT FOUND"}'))) as client:
        body = client.post("/v1/ask", json={"question": "Who painted the Mona Lisa?"}).json()
    assert body["answerable"] is False
    assert body["citations"] == []
    assert body["related"]


def test_ask_stream_sends_sources_tokens_then_the_checked_answer(client: TestClient) -> None:
    with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "answer"
    assert set(names[1:-1]) == {"token"}
    assert events[0][1]["sources"][0]["title"] == "US leaves Iraq"
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert streamed == ANSWER  # the decoded answer text, not the raw JSON
    final = events[-1][1]
    assert final["answer"] == f"{ANSWER} [1]" and final["citations"][0]["n"] == 1


def test_ask_stream_reports_library_errors_as_an_event(client: TestClient) -> None:
    # A script no document uses is refused by the library after the stream started.
    r = client.post("/v1/ask", json={"question": "Когда США объявили?", "stream": True})
    assert r.status_code == 200
    name, data = sse_events(r.text)[-1]
    assert name == "error" and data["error"]["type"] == "bad_input"


def test_search_returns_hits_like_the_cli(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "Iraq withdrawal", "k": 2})
    assert r.status_code == 200
    hits = r.json()
    assert 1 <= len(hits) <= 2
    assert set(hits[0]) >= {"doc_id", "source", "title", "start", "end", "text", "score"}
    assert hits[0]["title"] == "US leaves Iraq"


def test_documents_json_list_and_delete(client: TestClient) -> None:
    r = client.post("/v1/documents", json={"text": "Kiwis are small brown fruit.", "title": "Kiwi"})
    assert r.status_code == 200
    summary = r.json()
    assert summary["added"] == 1 and summary["documents"] == 3
    assert set(summary) >= {"documents", "added", "updated", "unchanged", "removed", "chunks",
                            "embedded"}  # fmt: skip
    (doc_id,) = summary["doc_ids"]
    listed = {d["doc_id"]: d for d in client.get("/v1/documents").json()}
    assert listed[doc_id]["title"] == "Kiwi"
    r = client.delete(f"/v1/documents/{doc_id}")
    assert r.status_code == 200 and r.json()["removed"] == 1
    assert doc_id not in {d["doc_id"] for d in client.get("/v1/documents").json()}
    assert client.delete(f"/v1/documents/{doc_id}").json()["error"]["type"] == "not_found"


def test_upload_then_answer_then_delete(make_app: AppFactory, tmp_path: Any) -> None:
    with TestClient(make_app()) as client:
        files = [("files", ("kiwi notes.md", b"# Kiwi\n\nKiwi birds cannot fly at all.\n"))]
        summary = client.post("/v1/documents", files=files).json()
        (doc_id,) = summary["doc_ids"]
        stored = tmp_path / "index" / "uploads" / "kiwi_notes.md"
        assert stored.read_bytes().startswith(b"# Kiwi")
        hits = client.get("/v1/search", params={"q": "Can kiwi birds fly?"}).json()
        assert hits[0]["doc_id"] == doc_id and hits[0]["source"] == str(stored)
        client.delete(f"/v1/documents/{doc_id}")
        assert not stored.exists()
        hits = client.get("/v1/search", params={"q": "Can kiwi birds fly?"}).json()
        assert doc_id not in {h["doc_id"] for h in hits}


def test_empty_service_lists_nothing_and_says_why_it_cannot_answer(make_app: AppFactory) -> None:
    with TestClient(make_app(documents=False)) as client:
        assert client.get("/v1/documents").json() == []
        r = client.post("/v1/ask", json={"question": QUESTION})
        assert r.status_code == 404 and r.json()["error"]["type"] == "index_not_found"


def test_errors_are_json_with_type_and_message(client: TestClient) -> None:
    cases = [
        (client.get("/nowhere"), 404, "not_found"),
        (client.put("/v1/ask", json={}), 405, "method_not_allowed"),
        (client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"}),
         422, "invalid_request"),
        (client.post("/v1/ask", json={"question": "x", "k": 0}), 422, "invalid_request"),
        (client.post("/v1/ask", json={"question": "   "}), 400, "bad_input"),
        (client.post("/v1/ask", json={"question": "x", "extra": 1}), 422, "invalid_request"),
        (client.get("/v1/search"), 422, "invalid_request"),
        (client.post("/v1/documents", content=b"x", headers={"content-type": "text/csv"}),
         415, "unsupported_media_type"),
        (client.post("/v1/documents", json={"text": "   "}), 400, "bad_input"),
    ]  # fmt: skip
    for r, status, kind in cases:
        assert r.status_code == status, r.text
        body = r.json()
        assert set(body) == {"error"} and body["error"]["type"] == kind
        assert body["error"]["message"] and "Traceback" not in r.text


def test_limits_on_question_and_k(make_app: AppFactory) -> None:
    with TestClient(make_app(max_question_chars=20, max_k=3)) as client:
        r = client.post("/v1/ask", json={"question": "x" * 21})
        assert r.status_code == 422 and "20 characters" in r.json()["error"]["message"]
        assert client.get("/v1/search", params={"q": "Iraq", "k": 4}).status_code == 422
        assert client.get("/v1/search", params={"q": "Iraq", "k": 3}).status_code == 200


def test_unexpected_failures_are_500_without_a_trace(make_app: AppFactory) -> None:
    from api_fakes import FailingGenerator

    with TestClient(make_app(FailingGenerator(RuntimeError("boom /secret/path")))) as client:
        r = client.post("/v1/ask", json={"question": QUESTION})
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "internal_error"
        assert "secret" not in r.text and "Traceback" not in r.text


def test_a_failing_llm_falls_back_to_an_extractive_answer(make_app: AppFactory) -> None:
    from api_fakes import FailingGenerator

    from rag import GenerationError

    failing = FailingGenerator(GenerationError("the LLM returned malformed JSON"))
    with TestClient(make_app(failing)) as client:
        body = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert body["mode"] == "extractive-fallback"
        assert body["answerable"] and body["citations"][0]["quote"] == ANSWER


def test_openapi_describes_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/v1/documents", "/v1/documents/{doc_id}",
            "/v1/chat/completions", "/v1/models", "/healthz", "/readyz"} <= set(paths)  # fmt: skip
    assert set(paths["/v1/documents"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data", "application/json"}  # fmt: skip
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_healthz_answers_while_models_load_and_readyz_waits(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from api.service import Service

    gate = threading.Event()
    load = Service.load

    def slow_load(self: Service, rag: Rag | None = None) -> None:
        gate.wait(10)
        load(self, make_rag(tmp_path / "slow"))

    monkeypatch.setattr(Service, "load", slow_load)
    app = create_app(Settings(index=tmp_path / "slow", llm="none"), api_settings=ApiSettings())
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        for path in ("/readyz", "/v1/documents"):
            r = client.get(path)
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert r.json()["error"]["type"] == "not_ready"
        gate.set()
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(client.get("/v1/documents").json()) == 2


def test_a_model_that_cannot_load_is_reported_by_readyz(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rag import ModelError

    def fail(self: Rag) -> None:
        raise ModelError("cannot load embedding model 'missing'")

    monkeypatch.setattr(Rag, "warm_up", fail)
    settings = Settings(index=tmp_path / "index", llm="none")
    with TestClient(create_app(settings, api_settings=ApiSettings())) as client:
        deadline = time.monotonic() + 10
        while "failed" not in (r := client.get("/readyz")).text:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert r.status_code == 503 and "embedding model" in r.json()["error"]["message"]
        assert client.get("/v1/search", params={"q": "x"}).status_code == 503
        assert client.get("/healthz").status_code == 200
