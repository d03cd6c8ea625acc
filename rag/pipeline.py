"""The :class:`Rag` facade: open an index, add and remove documents, search, ask.

Models are passed in (``Rag(embedder=..., generator=...)``) or built from
:class:`Settings` on first use; nothing loads at import time. Readers work on an
immutable snapshot; a write builds a new snapshot, saves it as a new generation
and swaps it in, so concurrent readers see the old index or the new one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag import storage
from rag.answering import Answerer, Passage
from rag.chunking import chunk_document, line_of
from rag.config import Settings
from rag.documents import doc_id_for, iter_files, read_document, text_document
from rag.embedding import Embedder, make_embedder
from rag.errors import (
    BadInputError,
    EmbeddingMismatchError,
    EmptyQuestionError,
    IndexNotFoundError,
    RagError,
    UnreadableDocumentError,
)
from rag.generation import Generator, LlamaCppGenerator, TokenCallback
from rag.lexical import Bm25
from rag.retrieval import fuse
from rag.scripts import script_profile, unseen_scripts
from rag.storage import DocRecord, Snapshot
from rag.stores.faiss_store import FaissStore
from rag.types import Answer, Chunk, Document, DocumentInfo, Hit, IndexSummary

log = logging.getLogger("rag")

MAX_QUESTION_CHARS = 2000
Progress = Callable[[str], None]


class _View:
    """A snapshot plus the lexical index built over it; never mutated after creation."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        ids = sorted(snap.chunks)
        self.bm25 = Bm25(ids, [snap.chunks[i].text for i in ids])
        self.scripts = script_profile(c.text for c in snap.chunks.values())


class Rag:
    """Question answering over one index folder."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.path = Path(self.settings.index).expanduser().resolve()
        self._embedder = embedder
        self._generator = generator
        self._write_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._view: _View | None = None
        self._bm25_pool: ThreadPoolExecutor | None = None

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        settings: Settings | None = None,
        *,
        create: bool = False,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> Rag:
        """Open the index at ``path``; with ``create=True`` a missing index starts empty."""
        settings = settings or Settings()
        if path is not None:
            settings = settings.model_copy(update={"index": Path(path)})
        rag = cls(settings, embedder=embedder, generator=generator)
        if storage.exists(rag.path):
            rag._view = _View(storage.load(rag.path))
            rag._check_embedder(rag._view.snap)
        elif not create:
            raise IndexNotFoundError(
                f"no index at {rag.path} (build one with: rag index PATH --index {rag.path})"
            )
        return rag

    @property
    def embedder(self) -> Embedder:
        with self._model_lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    @property
    def generator(self) -> Generator | None:
        """The LLM, resolved and verified on first use; ``None`` in extractive mode."""
        with self._model_lock:
            if self._generator is None and self.settings.llm_enabled and self.settings.llm_url:
                from rag.remote import RemoteGenerator

                s = self.settings
                assert s.llm_url is not None
                self._generator = RemoteGenerator(
                    s.llm_url, model=s.llm, timeout=s.llm_timeout, api_key=s.llm_api_key
                )
            elif self._generator is None and self.settings.llm_enabled:
                from rag.models import resolve_llm

                path = resolve_llm(self.settings.llm, self.settings.cache_dir)
                self._generator = LlamaCppGenerator(
                    path, n_ctx=self.settings.context_size, n_threads=self.settings.threads
                )
            return self._generator

    def warm_up(self) -> None:
        """Load every model now instead of on the first question."""
        self.embedder.embed(["warm up"])
        gen = self.generator
        if isinstance(gen, LlamaCppGenerator):
            gen.warm_up()

    def _check_embedder(self, snap: Snapshot) -> None:
        name = self.embedder.name
        if snap.embedding_model != name:
            raise EmbeddingMismatchError(
                f"index at {self.path} was built with embedding model '{snap.embedding_model}', "
                f"not '{name}' (set RAG_EMBEDDING_MODEL or RAG_EMBEDDING_BACKEND, "
                "or rebuild the index)"
            )

    def _snapshot(self) -> Snapshot:
        if self._view is None:
            raise IndexNotFoundError(f"no index at {self.path}")
        return self._view.snap

    def _empty_snapshot(self) -> Snapshot:
        dim = self.embedder.dim
        return Snapshot(
            embedding_model=self.embedder.name,
            dim=dim,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            store=FaissStore(dim),
        )

    # -- writing -------------------------------------------------------------------------

    def add(
        self,
        paths: Iterable[str | Path],
        *,
        progress: bool = False,
        on_skip: Callable[[str], None] | None = None,
    ) -> IndexSummary:
        """Add or update files and folders. Unreadable files inside folders are skipped.

        A file named directly that cannot be read raises
        :class:`UnreadableDocumentError`; nothing is written in that case.
        """
        path_list = [Path(p) for p in paths]
        named = {p.expanduser().resolve() for p in path_list if not p.is_dir()}
        docs: list[Document] = []
        skipped: list[str] = []
        for f in iter_files(path_list):
            try:
                docs.append(read_document(f))
            except UnreadableDocumentError as exc:
                if f in named:
                    raise
                skipped.append(str(exc))
                if on_skip:
                    on_skip(str(exc))
        return self._write(docs, remove=(), progress=progress, skipped=skipped)

    def add_documents(self, docs: Sequence[Document], *, progress: bool = False) -> IndexSummary:
        return self._write(list(docs), remove=(), progress=progress)

    def add_text(self, text: str, title: str = "", source: str | None = None) -> IndexSummary:
        return self.add_documents([text_document(text, title, source)])

    def remove(self, doc_id_or_path: str) -> IndexSummary:
        """Delete a document by id or by source path."""
        snap = self._snapshot()
        key = doc_id_or_path
        if key not in snap.documents:
            key = doc_id_for(str(Path(doc_id_or_path).expanduser().resolve()))
        if key not in snap.documents:
            matches = [d for d in snap.documents.values() if d.source == doc_id_or_path]
            if not matches:
                raise BadInputError(f"no document '{doc_id_or_path}' in the index")
            key = matches[0].doc_id
        return self._write([], remove=(key,))

    def _write(
        self,
        docs: list[Document],
        *,
        remove: Sequence[str],
        progress: bool = False,
        skipped: list[str] | None = None,
    ) -> IndexSummary:
        with self._write_lock, storage.writer_lock(self.path):
            # Another process may have written since we opened: start from the latest.
            if storage.exists(self.path):
                base = storage.load(self.path)
                self._check_embedder(base)
            else:
                base = self._empty_snapshot()
            snap = _copy(base)
            added = updated = unchanged = removed = 0
            new_chunks: list[tuple[str, Chunk]] = []
            for doc_id in remove:
                removed += _drop(snap, doc_id)
            for doc in _dedupe(docs):
                old = snap.documents.get(doc.doc_id)
                if old is not None and old.hash == doc.hash:
                    unchanged += 1
                    continue
                if old is not None:
                    _drop(snap, doc.doc_id)
                    updated += 1
                else:
                    added += 1
                chunks = chunk_document(
                    doc.doc_id, doc.text, snap.chunk_size, snap.chunk_overlap, snap.next_chunk_id
                )
                snap.next_chunk_id += len(chunks)
                for c in chunks:
                    snap.chunks[c.chunk_id] = c
                    snap.lines[c.chunk_id] = line_of(doc.text, c.start)
                snap.documents[doc.doc_id] = DocRecord(
                    doc.doc_id, doc.source, doc.title, doc.hash, doc.date,
                    tuple(c.chunk_id for c in chunks), doc.page_starts,
                )  # fmt: skip
                new_chunks.extend((doc.title, c) for c in chunks)
            if new_chunks:
                texts = [f"{title}\n\n{c.text}" for title, c in new_chunks]
                vectors = self.embedder.embed(texts, progress=progress)
                assert snap.store is not None
                snap.store.add(np.array([c.chunk_id for _, c in new_chunks]), vectors)
            changed = added or updated or removed or not storage.exists(self.path)
            if changed:
                storage.save(self.path, snap)
                self._view = _View(snap)
            elif self._view is None or self._view.snap.generation != base.generation:
                self._view = _View(base)
            return IndexSummary(
                documents=len(snap.documents), added=added, updated=updated,
                unchanged=unchanged, removed=removed, chunks=len(snap.chunks),
                embedded=len(new_chunks), skipped=skipped or [],
            )  # fmt: skip

    # -- reading -------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        snap = self._snapshot()
        return [
            DocumentInfo(d.doc_id, d.source, d.title, d.hash, d.date, len(d.chunk_ids))
            for d in sorted(snap.documents.values(), key=lambda d: d.source)
        ]

    def span_text(self, doc_id: str, start: int, end: int) -> str | None:
        """``document.text[start:end]`` rebuilt from the stored chunks, or ``None``."""
        snap = self._snapshot()
        rec = snap.documents.get(doc_id)
        if rec is None:
            return None
        pieces: dict[int, str] = {}
        for cid in rec.chunk_ids:
            c = snap.chunks[cid]
            for pos in range(max(start, c.start), min(end, c.end)):
                pieces.setdefault(pos, c.text[pos - c.start])
        if len(pieces) != end - start:
            return None
        return "".join(pieces[p] for p in range(start, end))

    def reload(self) -> None:
        """Pick up a newer generation written by another process."""
        if storage.exists(self.path):
            gen = storage.current_generation(self.path)
            if self._view is None or self._view.snap.generation != gen:
                snap = storage.load(self.path)
                self._check_embedder(snap)
                self._view = _View(snap)

    def _validate(self, question: str, k: int | None) -> tuple[str, int]:
        q = question.strip() if isinstance(question, str) else ""
        if not q:
            raise EmptyQuestionError("the question is empty")
        if len(q) > MAX_QUESTION_CHARS:
            raise BadInputError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise BadInputError("k must be between 1 and 100")
        view = self._view
        if view is None:
            raise IndexNotFoundError(f"no index at {self.path}")
        unseen = unseen_scripts(q, view.scripts)
        if unseen:
            raise BadInputError(
                f"the question is written in {', '.join(sorted(unseen))} script, "
                "which no indexed document uses"
            )
        return q, k

    def _retrieve(self, q: str, k: int) -> list[tuple[Passage, float]]:
        view = self._view
        assert view is not None
        snap = view.snap
        if not snap.chunks:
            return []
        assert snap.store is not None
        depth = max(4 * k, 20)
        # BM25 runs beside the query embedding and FAISS (both release the GIL): at 1M
        # chunks each costs ~10 ms, so the wait is the longer one, not the sum.
        lexical_future = self._lexical_pool().submit(view.bm25.search, q, depth)
        qv = self.embedder.embed([q])
        scores, ids = snap.store.search(qv, depth)
        lexical = lexical_future.result()
        out = []
        for s in fuse(ids[0], scores[0], lexical, k):
            chunk = snap.chunks[s.chunk_id]
            doc = snap.documents[chunk.doc_id]
            passage = Passage(
                chunk, doc.source, doc.title, doc.date, snap.lines[s.chunk_id], s.score
            )
            out.append((passage, s.score))
        return out

    def _lexical_pool(self) -> ThreadPoolExecutor:
        with self._model_lock:
            if self._bm25_pool is None:
                self._bm25_pool = ThreadPoolExecutor(1, thread_name_prefix="rag-bm25")
            return self._bm25_pool

    def search(self, question: str, k: int | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first."""
        q, k = self._validate(question, k)
        return [_hit(p, score) for p, score in self._retrieve(q, k)]

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        on_token: TokenCallback | None = None,
        on_sources: Callable[[list[Hit]], None] | None = None,
        use_llm: bool = True,
    ) -> Answer:
        """Answer ``question`` from the index, with checked citations, or abstain."""
        t0 = time.perf_counter()
        q, k = self._validate(question, k)
        retrieved = self._retrieve(q, k)
        t1 = time.perf_counter()
        hits = [_hit(p, s) for p, s in retrieved]
        if on_sources:
            on_sources(hits)
        answerer = Answerer(
            self.embedder,
            self.generator if use_llm else None,
            max_tokens=self.settings.max_answer_tokens,
        )
        answer = answerer.answer(q, [p for p, _ in retrieved], hits, on_token=on_token)
        answer.timings = {
            "retrieve_ms": (t1 - t0) * 1000,
            **answer.timings,
            "total_ms": (time.perf_counter() - t0) * 1000,
        }
        return answer


def _hit(p: Passage, score: float) -> Hit:
    c = p.chunk
    return Hit(c.doc_id, p.source, p.title, c.start, c.end, c.text, score, c.chunk_id, p.line)


def _copy(snap: Snapshot) -> Snapshot:
    assert snap.store is not None
    return replace(
        snap,
        documents=dict(snap.documents),
        chunks=dict(snap.chunks),
        lines=dict(snap.lines),
        store=snap.store.copy(),
    )


def _drop(snap: Snapshot, doc_id: str) -> int:
    rec = snap.documents.pop(doc_id, None)
    if rec is None:
        return 0
    for cid in rec.chunk_ids:
        snap.chunks.pop(cid, None)
        snap.lines.pop(cid, None)
    assert snap.store is not None
    snap.store.remove(np.array(rec.chunk_ids, dtype=np.int64))
    return 1


def _dedupe(docs: Sequence[Document]) -> list[Document]:
    seen: dict[str, Document] = {}
    for d in docs:
        seen[d.doc_id] = d
    return list(seen.values())


__all__ = ["Rag", "RagError"]
