"""The two store contracts (:class:`rag.testing.StoreContract` holds the tests of the Store
contract, which tests/test_store_contract.py runs against every implementation; FaissStore,
the one VectorStore, is exercised through the folder store).

* :class:`VectorStore`: unit vectors keyed by integer chunk ids (FAISS inside an
  index folder).
* :class:`Store`: everything one index holds and the answer path reads: documents,
  chunks with their exact offsets, vectors, and lexical search. The index folder
  (:mod:`rag.stores.folder`, the default) and Milvus (:mod:`rag.stores.milvus_store`)
  implement it, so several API replicas can share one Milvus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.types import Chunk


class VectorStore(Protocol):
    """Unit vectors keyed by integer chunk ids; scores are inner products (cosine)."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (shape ``(n, dim)``) under ``ids``. Raises ``ValueError`` on bad shapes."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove the given ids; unknown ids are ignored. Returns how many were removed."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query: ``(scores, ids)`` of shape ``(q, k)``, id -1 where fewer."""
        ...

    def save(self, folder: Path) -> None:
        """Write the store into ``folder`` (which the caller makes atomic)."""
        ...

    def copy(self) -> VectorStore:
        """An independent copy, so a writer never changes what a reader searches."""
        ...


@dataclass(frozen=True)
class IndexMeta:
    """What an index was built with; a reader with another embedding model is refused."""

    embedding_model: str
    dim: int
    chunk_size: int
    chunk_overlap: int


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    source: str
    title: str
    hash: str
    date: str | None
    chunk_ids: tuple[int, ...]
    page_starts: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "hash": self.hash,
            "date": self.date,
            "chunk_ids": list(self.chunk_ids),
            "page_starts": list(self.page_starts),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DocRecord:
        return cls(
            doc_id=d["doc_id"],
            source=d["source"],
            title=d["title"],
            hash=d["hash"],
            date=d.get("date"),
            chunk_ids=tuple(d["chunk_ids"]),
            page_starts=tuple(d.get("page_starts", ())),
        )


@dataclass(frozen=True)
class NewDocument:
    """A document to write: its record and chunks (``chunk_id`` 0..n-1, the store renumbers)."""

    record: DocRecord
    chunks: tuple[Chunk, ...]
    lines: tuple[int, ...]


# One step of a write: documents and their vectors (one row per chunk, in order).
Batch = tuple[Sequence[NewDocument], np.ndarray]


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the answer path needs it: the span, its line and its document."""

    chunk: Chunk
    line: int
    document: DocRecord


class Store(Protocol):
    """One index: documents, chunks, vectors and lexical search, behind one contract."""

    @property
    def location(self) -> str:
        """Where the index lives, for messages (a folder or a Milvus URI and collection)."""
        ...

    def meta(self) -> IndexMeta | None:
        """What the index was built with; ``None`` before the first write."""
        ...

    def __len__(self) -> int:
        """Number of chunks."""
        ...

    def documents(self) -> dict[str, DocRecord]: ...

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The given chunks; unknown ids are left out."""
        ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top ``k`` chunks by cosine to the unit ``vector``, best first."""
        ...

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top ``k`` chunks by BM25 for ``query``, best first (scores > 0)."""
        ...

    def scripts(self) -> frozenset[str]:
        """Non-Latin scripts the indexed texts use (rag.scripts)."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Hold the writer lock and bring this handle up to the latest state."""
        ...

    def write(self, meta: IndexMeta, remove: Sequence[str], batches: Iterable[Batch]) -> None:
        """Delete documents ``remove``, then add the documents of each batch (replacing any
        that exist) with the batch's vectors. ``batches`` is consumed one batch at a time, so
        a caller can embed the next batch only when the store asks for it: nothing needs to
        hold every vector of a large write at once. Call inside :meth:`writing`."""
        ...

    def refresh(self) -> bool:
        """Pick up writes made by other processes; True when something changed."""
        ...

    def close(self) -> None: ...
