"""Against a real `rag serve` (seeds indexed, a small packaged LLM answering) on a loopback port."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from api_support import KEY, QUESTION, RealServer
from httpx_sse import connect_sse

pytestmark = pytest.mark.integration

FESTIVAL = (
    "The Zorblax Festival\n\n"
    "The Zorblax festival is held every March in the mountain town of Quillhaven. "
    "Visitors come from far away to see thousands of glowing paper lanterns.\n"
)
FESTIVAL_QUESTION = "When is the Zorblax festival held?"


def check_citations(answer: str, citations: list[dict[str, Any]]) -> None:
    """Every [n] has a citation, every citation is cited, and quotes are exact spans."""
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    assert markers == {c["n"] for c in citations}
    for c in citations:
        if c["source"].startswith("/"):
            text = Path(c["source"]).read_text(encoding="utf-8")
            assert text[c["start"] : c["end"]] == c["quote"]


def test_the_key_is_required(real_server: RealServer) -> None:
    assert httpx.get(f"{real_server.url}/healthz").status_code == 200
    r = httpx.post(f"{real_server.url}/v1/ask", json={"question": QUESTION})
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{real_server.url}/v1", api_key="wrong").models.list()


def test_openai_client_chat_completion(real_server: RealServer) -> None:
    client = openai.OpenAI(base_url=f"{real_server.url}/v1", api_key=KEY, timeout=300)
    done = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}]
    )
    content = done.choices[0].message.content or ""
    citations = (done.model_extra or {})["citations"]
    assert citations and "2024" in content
    answer, _, sources = content.partition("\n\nSources:\n")
    check_citations(answer, citations)
    assert sources.startswith("[1] ")


def test_openai_client_chat_completion_stream_with_a_follow_up(real_server: RealServer) -> None:
    client = openai.OpenAI(base_url=f"{real_server.url}/v1", api_key=KEY, timeout=300)
    messages: Any = [
        {"role": "user", "content": "Which country announced it would withdraw from Iraq?"},
        {"role": "assistant", "content": "The United States [1]."},
        {"role": "user", "content": "and when was that announced?"},
    ]
    chunks = list(client.chat.completions.create(model="rag", messages=messages, stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    citations = (final[0].model_extra or {})["citations"]
    assert citations, content
    check_citations(content.partition("\n\nSources:\n")[0], citations)
    assert "2024" in content


def test_sse_client_on_ask(real_server: RealServer) -> None:
    with (
        real_server.client() as client,
        connect_sse(
            client, "POST", "/v1/ask", json={"question": QUESTION, "stream": True}
        ) as source,
    ):
        events = [(e.event, e.json()) for e in source.iter_sse()]
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "answer"
    assert "token" in names  # the real model streams its draft
    assert all(name == "token" for name in names[1:-1])
    final = events[-1][1]
    assert final["answerable"] is True
    check_citations(final["answer"], final["citations"])


def test_a_full_queue_answers_503(real_server: RealServer) -> None:
    real_server.wait_idle()
    questions = [
        QUESTION,
        "Who announced the withdrawal from Iraq?",
        "What did officials call the withdrawal?",
        "When will the mission end?",
    ]
    with real_server.client() as client, ThreadPoolExecutor(len(questions)) as pool:
        replies = list(pool.map(lambda q: client.post("/v1/ask", json={"question": q}), questions))
    codes = sorted(r.status_code for r in replies)
    assert codes.count(200) >= 2 and 503 in codes, codes  # one running + one waiting fit
    busy = next(r for r in replies if r.status_code == 503)
    assert int(busy.headers["retry-after"]) >= 1
    assert busy.json()["error"]["type"] == "queue_full"
    real_server.wait_idle()


def test_upload_answer_delete_never_cited(real_server: RealServer) -> None:
    real_server.wait_idle()
    with real_server.client() as client:
        files = [("files", ("../zorblax festival.txt", FESTIVAL.encode()))]
        summary = client.post("/v1/documents", files=files).json()
        (doc_id,) = summary["doc_ids"]
        assert summary["added"] == 1
        stored = real_server.index / "uploads" / "zorblax_festival.txt"
        assert stored.read_text() == FESTIVAL
        assert doc_id in {d["doc_id"] for d in client.get("/v1/documents").json()}

        answer = client.post("/v1/ask", json={"question": FESTIVAL_QUESTION}).json()
        assert answer["answerable"] is True, answer
        assert answer["citations"][0]["doc_id"] == doc_id
        check_citations(answer["answer"], answer["citations"])
        assert "March" in answer["answer"]

        assert client.delete(f"/v1/documents/{doc_id}").json()["removed"] == 1
        assert not stored.exists()
        for question in (FESTIVAL_QUESTION, "Where are the glowing paper lanterns?"):
            after = client.post("/v1/ask", json={"question": question}).json()
            cited = {c["doc_id"] for c in after["citations"]}
            related = {h["doc_id"] for h in after["related"]}
            assert doc_id not in cited | related
        hits = client.get("/v1/search", params={"q": "Zorblax festival Quillhaven"}).json()
        assert doc_id not in {h["doc_id"] for h in hits}


def test_a_disconnect_mid_stream_frees_the_model(real_server: RealServer) -> None:
    real_server.wait_idle()
    with real_server.client() as client:
        body = {"question": QUESTION, "stream": True}
        with client.stream("POST", "/v1/ask", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break
        real_server.wait_idle(timeout=30)
        # The interrupted generation left llama.cpp usable for the next question.
        answer = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert answer["answerable"] is True
        check_citations(answer["answer"], answer["citations"])
