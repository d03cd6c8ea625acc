"""The OpenAI-compatible endpoints, driven by the official ``openai`` client (fake models)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import openai
import pytest
from api_support import ANSWER, KEY, QUESTION, LiveServer
from fastapi.testclient import TestClient

from api.conversation import is_follow_up, question_from

Live = Callable[..., LiveServer]


@pytest.fixture
def oai(live: Live) -> Iterator[openai.OpenAI]:
    with live(api_key=KEY) as server:
        yield openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)


def test_chat_completion(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": QUESTION}]
    )
    assert done.object == "chat.completion" and done.model == "anything"
    content = done.choices[0].message.content or ""
    assert content.startswith(f"{ANSWER} [1]")
    assert "Sources:\n[1] US leaves Iraq" in content
    assert done.choices[0].finish_reason == "stop"
    citations = (done.model_extra or {})["citations"]
    assert citations[0]["n"] == 1 and citations[0]["quote"] == ANSWER


def test_chat_completion_stream(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(f"{ANSWER} [1]\n\nSources:\n[1] US leaves Iraq")
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1
    assert (finals[0].model_extra or {})["citations"][0]["n"] == 1
    assert chunks[-1].usage is not None and chunks[0].choices[0].delta.role == "assistant"


def test_models_and_errors(oai: openai.OpenAI, live: Live) -> None:
    assert [m.id for m in oai.models.list()] == ["rag"]
    assert oai.models.retrieve("rag").id == "rag"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("gpt-4")
    with pytest.raises(openai.UnprocessableEntityError):
        oai.chat.completions.create(model="rag", messages=[{"role": "system", "content": "hi"}])
    bad = openai.OpenAI(base_url=str(oai.base_url), api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}])


def test_content_parts_and_extra_fields_are_accepted(client: TestClient) -> None:
    body = {
        "model": "rag",
        "temperature": 0.3,
        "max_tokens": 50,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        ],
    }
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"].startswith(ANSWER)


@dataclass
class Msg:
    role: str
    content: str

    def text(self) -> str:
        return self.content


def test_the_last_user_message_is_the_question() -> None:
    turns = [Msg("system", "You are helpful."), Msg("user", "Who won?"),
             Msg("assistant", "Someone [1]."), Msg("user", QUESTION)]  # fmt: skip
    assert question_from(turns, 2000) == QUESTION


def test_a_follow_up_carries_the_earlier_question() -> None:
    turns = [Msg("user", QUESTION), Msg("assistant", "In September 2024 [1]."),
             Msg("user", "and who announced that?")]  # fmt: skip
    assert question_from(turns, 2000) == f"Who announced that? (context: {QUESTION})"
    turns.append(Msg("user", "and when was it?"))
    question = question_from(turns, 2000)
    assert question.startswith("When was it? (context: ")
    assert QUESTION in question and "who announced that?" in question


def test_follow_up_context_is_trimmed_to_the_limit() -> None:
    turns = [Msg("user", "Tell me about " + "the big river " * 50), Msg("user", "and its length?")]
    question = question_from(turns, 120)
    assert len(question) <= 120 and question.startswith("Its length? (context: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("and when was that?", True), ("What about France?", True), ("Who is he?", True),
     (QUESTION, False), ("Which company made the first electric car in Europe?", False)],
)  # fmt: skip
def test_is_follow_up(text: str, expected: bool) -> None:
    assert is_follow_up(text) is expected
