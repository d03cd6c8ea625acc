"""The typed objects the library returns; each serialises to the JSON of DESIGN.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A source document. For .txt/.md, ``text`` is the file's text unchanged."""

    doc_id: str
    source: str
    title: str
    text: str
    hash: str
    date: str | None = None
    # For PDFs: character offset where each page starts (page n starts at page_starts[n-1]).
    page_starts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A span ``[start, end)`` of a document; ``text == document.text[start:end]``."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    source: str
    title: str
    hash: str
    date: str | None
    chunks: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its score (higher is better)."""

    doc_id: str
    source: str
    title: str
    start: int
    end: int
    text: str
    score: float
    chunk_id: int = -1
    line: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("chunk_id")
        return d


@dataclass(frozen=True)
class Citation:
    """An exact span of a source: ``quote == document.text[start:end]``."""

    n: int
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    quote: str
    line: int = 1
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    answerable: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"
    evidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "answerable": self.answerable,
            "citations": [c.to_dict() for c in self.citations],
            "related": [h.to_dict() for h in self.related],
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "mode": self.mode,
            "evidence": round(self.evidence, 4),
        }


@dataclass(frozen=True)
class IndexSummary:
    documents: int
    added: int
    updated: int
    unchanged: int
    removed: int
    chunks: int
    embedded: int
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
