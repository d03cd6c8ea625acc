"""``POST /v1/ask`` with ``history``: a follow-up is searched with the questions it leans on.

The field is optional; an empty history changes nothing; its size and types are
checked with a clear 422 naming the field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_support import ANSWER, QUESTION, AppFactory
from fastapi.testclient import TestClient

FOLLOW_UP = "And when was that?"


def _same(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without its timings (which differ from run to run)."""
    return {key: value for key, value in body.items() if key != "timings"}


def test_a_follow_up_is_asked_with_the_question_it_leans_on(client: TestClient) -> None:
    alone = client.post("/v1/ask", json={"question": FOLLOW_UP}).json()
    assert alone["question"] == FOLLOW_UP

    r = client.post("/v1/ask", json={"question": FOLLOW_UP, "history": [QUESTION]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["question"] == f"When was that? (context: {QUESTION})"
    assert body["answerable"] is True
    assert body["answer"] == f"{ANSWER} [1]"
    assert body["citations"][0]["title"] == "US leaves Iraq"


def test_a_streamed_follow_up_carries_its_history(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": FOLLOW_UP, "history": [QUESTION], "stream": True})
    assert r.status_code == 200
    blocks = [b.splitlines() for b in r.text.split("\n\n")]
    answers = [json.loads(b[1][len("data: ") :]) for b in blocks if b and b[0] == "event: answer"]
    assert [a["question"] for a in answers] == [f"When was that? (context: {QUESTION})"]


def test_an_empty_history_changes_nothing(client: TestClient) -> None:
    none = client.post("/v1/ask", json={"question": QUESTION}).json()
    empty = client.post("/v1/ask", json={"question": QUESTION, "history": []}).json()
    blank = client.post("/v1/ask", json={"question": QUESTION, "history": ["", "  "]}).json()
    assert _same(empty) == _same(none) == _same(blank)
    assert none["answer"] == f"{ANSWER} [1]"


def test_a_question_that_stands_alone_ignores_the_history(client: TestClient) -> None:
    none = client.post("/v1/ask", json={"question": QUESTION}).json()
    other = client.post(
        "/v1/ask", json={"question": QUESTION, "history": ["What colour are bananas?"]}
    ).json()
    assert _same(other) == _same(none)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("When?", "history: Input should be a valid list"),
        ({"0": QUESTION}, "history: Input should be a valid list"),
        ([1], "history.0: Input should be a valid string"),
        ([QUESTION, None], "history.1: Input should be a valid string"),
        ([["nested"]], "history.0: Input should be a valid string"),
        ([QUESTION] * 65, "history: List should have at most 64 items"),
        (["x" * 2001], "history.0: String should have at most 2000 characters"),
    ],
)
def test_bad_history_is_a_422_naming_the_field(
    client: TestClient, history: object, message: str
) -> None:
    r = client.post("/v1/ask", json={"question": FOLLOW_UP, "history": history})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["message"].startswith(message), error["message"]


def test_history_keeps_within_the_services_own_limits(make_app: AppFactory) -> None:
    app = make_app(max_messages=3, max_question_chars=60)
    with TestClient(app) as client:
        ok = client.post("/v1/ask", json={"question": FOLLOW_UP, "history": [QUESTION] * 3})
        assert ok.status_code == 200

        r = client.post("/v1/ask", json={"question": FOLLOW_UP, "history": [QUESTION] * 4})
        assert r.status_code == 422
        assert r.json()["error"]["message"] == "history: more than 3 earlier questions"

        r = client.post("/v1/ask", json={"question": FOLLOW_UP, "history": [QUESTION, "y" * 61]})
        assert r.status_code == 422
        assert r.json()["error"]["message"] == "history.1: longer than 60 characters"
