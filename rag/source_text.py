"""The text of an indexed document, so a citation can be shown in its place.

Offsets of citations and hits point into the *document text* (for .txt/.md the file's
text unchanged; for HTML and PDF the extracted text). :func:`document_text` gives that
text back, whole or as a window around a span:

* from the source file when it is still there and unchanged (its sha256 is the one
  indexed): read with the same reader as at indexing, so every offset holds exactly;
* otherwise (text added over HTTP, a file changed or gone since, a Milvus index shared
  by machines without the file) rebuilt from the stored chunks. Every character a chunk
  holds is exact, so a cited span always is; the whitespace between two chunks that do
  not overlap is not stored, and is filled in (``exact`` is then false).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.documents import page_of, read_document
from rag.errors import BadInputError, RagError
from rag.stores.base import DocRecord
from rag.types import Chunk

DEFAULT_CONTEXT = 300
MAX_CONTEXT = 1_000_000


@dataclass(frozen=True)
class DocumentText:
    """``text`` is ``document_text[offset : offset + len(text)]``; ``length`` is the whole
    text's. With a span asked for, ``start``/``end`` are its offsets in the document (so
    ``text[start - offset : end - offset]`` is the cited span) and ``page`` its page."""

    doc_id: str
    source: str
    title: str
    text: str
    offset: int
    length: int
    start: int | None = None
    end: int | None = None
    page: int | None = None
    exact: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_file(record: DocRecord) -> str | None:
    """The document text read again from its source file, or None when the file is gone,
    unreadable, or no longer the one indexed."""
    path = Path(record.source)
    if not path.is_absolute() or not path.is_file():
        return None
    try:
        doc = read_document(path)
    except (RagError, OSError):
        return None
    return doc.text if doc.hash == record.hash else None


def from_chunks(chunks: Iterable[Chunk]) -> str:
    """The document text rebuilt from its chunks (overlapping or not). A gap between two
    chunks holds only whitespace (chunks are whole sentences): one character reads as a
    space, more as line breaks, which is what a gap between paragraphs usually is."""
    parts: list[str] = []
    at = 0
    for c in sorted(chunks, key=lambda c: c.start):
        if c.end <= at:
            continue
        if c.start > at:
            gap = c.start - at
            parts.append(" " if gap == 1 else "\n" * gap)
            at = c.start
        parts.append(c.text[at - c.start :])
        at = c.end
    return "".join(parts)


def window(
    record: DocRecord,
    text: str,
    *,
    exact: bool,
    start: int | None = None,
    end: int | None = None,
    context: int | None = None,
) -> DocumentText:
    """The whole ``text`` or, with ``start`` and ``end``, the span and ``context``
    characters each side (default :data:`DEFAULT_CONTEXT`). Raises BadInputError for a
    span that is not inside the text."""
    if start is None and end is None:
        return DocumentText(
            record.doc_id, record.source, record.title, text, 0, len(text), exact=exact
        )
    if start is None or end is None:
        raise BadInputError("give both start and end of the span")
    if not 0 <= start <= end <= len(text):
        raise BadInputError(
            f"span {start}:{end} is not inside the document (its text has {len(text)} characters)"
        )
    context = DEFAULT_CONTEXT if context is None else context
    if not 0 <= context <= MAX_CONTEXT:
        raise BadInputError(f"context must be between 0 and {MAX_CONTEXT}")
    a, b = max(0, start - context), min(len(text), end + context)
    return DocumentText(
        record.doc_id, record.source, record.title, text[a:b], a, len(text), start, end,
        page=page_of(record.page_starts, start), exact=exact,
    )  # fmt: skip
