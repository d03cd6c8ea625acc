"""The OpenAI chat-completions wire format: requests, responses, stream chunks.

Only what clients need is modelled; unknown request fields (temperature,
max_tokens, ...) are accepted and ignored: the answer is always the checked one.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from rag.types import Answer, place

MODEL_ID = "rag"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(description="system, user, assistant, tool, ...")
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default=MODEL_ID, description="Any value; the service has one model.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Strict: JSON true is not the number 1 (pydantic's lax mode would take it as k=1).
    k: StrictInt | None = Field(default=None, ge=1, le=100, description="Passages to retrieve.")


def render(answer: Answer) -> str:
    """The message content: the answer with ``[n]`` markers, then its sources."""
    lines = [answer.answer]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            quote = " ".join(c.quote.split())
            lines.append(f'[{c.n}] {c.title} — "{quote}" ({place(c.source, c.line, c.page)})')
    elif answer.related:
        lines += ["", "Nearest passages (they do not answer it):"]
        for h in answer.related[:3]:
            text = " ".join(h.text.split())
            text = text if len(text) <= 160 else text[:159] + "…"
            lines.append(f'- {h.title} — "{text}" ({place(h.source, h.line, h.page)})')
    return "\n".join(lines)


class Completion:
    """Builds the response objects of one completion (shared id, time and model)."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model

    def _base(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def whole(self, answer: Answer) -> dict[str, Any]:
        return {
            **self._base("chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": render(answer)},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage(),
            **extras(answer),
        }

    def chunk(
        self, delta: dict[str, Any], finish: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._base("chat.completion.chunk"), "choices": [choice], **extra}

    def usage_chunk(self) -> dict[str, Any]:
        return {**self._base("chat.completion.chunk"), "choices": [], "usage": usage()}


def extras(answer: Answer) -> dict[str, Any]:
    """The structured citations, riding along beside the OpenAI fields."""
    return {
        "citations": [c.to_dict() for c in answer.citations],
        "answerable": answer.answerable,
    }


def usage() -> dict[str, int]:
    # Token counts are not tracked; zeros keep clients that read usage working.
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def pieces(text: str, words: int = 3) -> list[str]:
    """``text`` cut into small pieces (a few words each) for a stream."""
    parts = text.split(" ")
    return [
        " ".join(parts[i : i + words]) + (" " if i + words < len(parts) else "")
        for i in range(0, len(parts), words)
    ]


def data_line(value: dict[str, Any] | str) -> str:
    payload = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"data: {payload}\n\n"


def model_card(created: int) -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "rag"}
