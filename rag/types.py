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
    # 1-based page its start lies on (PDFs), set once at ingest; None for other formats.
    page: int | None = None


def place(source: str, line: int, page: int | None = None) -> str:
    """Where a span is, for a person: ``report.pdf p. 7`` in a paged format (PDF), else
    ``notes.md:12`` (file name and line); a source that is not a path is kept whole."""
    name = source.rsplit("/", 1)[-1] if source.startswith("/") else source
    return f"{name} p. {page}" if page is not None else f"{name}:{line}"


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
    # 1-based page of ``start`` in a paged format (PDF); None otherwise.
    page: int | None = None

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
    # 1-based page of ``start`` in a paged format (PDF); None otherwise.
    page: int | None = None

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
class Skipped:
    """A file a folder run left out, and why (``rag index --json``: ``skipped``)."""

    path: str
    reason: str

    @classmethod
    def of(cls, path: str, message: str) -> Skipped:
        """From an error message that starts with the path, as the readers' do."""
        prefix = f"{path}: "
        return cls(path, message[len(prefix) :] if message.startswith(prefix) else message)


@dataclass(frozen=True)
class IndexSummary:
    documents: int
    added: int
    updated: int
    unchanged: int
    removed: int
    chunks: int
    embedded: int
    skipped: list[Skipped] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
