"""Request and response bodies of the native endpoints (the JSON of DESIGN.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

# The most a request may carry; the service's own limits (RAG_MAX_MESSAGES,
# RAG_MAX_QUESTION_CHARS) may be lower and are checked by the endpoint.
MAX_HISTORY = 64
MAX_QUESTION = 2000


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION, examples=["When did the US announce leaving Iraq?"]
    )
    # Strict: JSON true is not the number 1 (pydantic's lax mode would take it as k=1).
    k: StrictInt | None = Field(default=None, ge=1, le=100, description="Passages to retrieve.")
    stream: bool = Field(
        default=False,
        description="Server-Sent Events: 'sources', then 'token' pieces, then 'answer' "
        "(the checked answer) or 'error'.",
    )
    history: list[Annotated[str, Field(max_length=MAX_QUESTION)]] = Field(
        default=[],
        max_length=MAX_HISTORY,
        description="The earlier questions of the conversation, oldest first. A short "
        "follow-up that leans on them ('and who announced it?') is searched with them as "
        "context; a question that stands alone is unchanged, and so is any question when "
        "the history is empty.",
        examples=[["When did the US announce leaving Iraq?"]],
    )


class TextDocumentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="The document text.")
    title: str = Field(default="", max_length=500)
    source: str | None = Field(
        default=None, max_length=1000, description="A label for the source (default: text:<hash>)."
    )


class HitOut(BaseModel):
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    text: str
    score: float
    line: int = 1
    page: int | None = Field(default=None, description="1-based PDF page of start; null otherwise.")


class CitationOut(BaseModel):
    n: int
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    quote: str
    line: int = 1
    date: str | None = None
    page: int | None = Field(default=None, description="1-based PDF page of start; null otherwise.")


class AnswerOut(BaseModel):
    question: str
    answer: str
    answerable: bool
    citations: list[CitationOut]
    related: list[HitOut]
    timings: dict[str, float]
    mode: str
    evidence: float


class DocumentOut(BaseModel):
    doc_id: str
    source: str
    title: str
    hash: str
    date: str | None
    chunks: int


class DocumentTextOut(BaseModel):
    doc_id: str
    source: str
    title: str
    text: str = Field(description="The document text from `offset` on: whole, or the window.")
    offset: int = Field(description="Where `text` starts in the document text.")
    length: int = Field(description="Length of the whole document text.")
    start: int | None = Field(default=None, description="The span asked for (a citation's).")
    end: int | None = None
    page: int | None = Field(default=None, description="1-based PDF page of `start`.")
    exact: bool = Field(
        description="False when the source file is gone or changed and the text was rebuilt "
        "from the index: every span is exact, whitespace between chunks may not be."
    )


class SkippedOut(BaseModel):
    path: str
    reason: str


class SummaryOut(BaseModel):
    documents: int
    added: int
    updated: int
    unchanged: int
    removed: int
    chunks: int
    embedded: int
    skipped: list[SkippedOut] = Field(
        default=[], description="Files of a folder left out, each with the reason."
    )
    doc_ids: list[str] = Field(
        default=[], description="Ids of the documents this request added, updated or removed."
    )


class Status(BaseModel):
    status: str
