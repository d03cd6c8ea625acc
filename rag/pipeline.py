"""The :class:`Rag` facade: open an index, add and remove documents, search, ask.

Models are passed in (``Rag(embedder=..., generator=...)``) or built from
:class:`Settings` on first use; nothing loads at import time. What the index holds
lives in a :class:`rag.stores.Store`: the index folder by default (readers work on
an immutable generation; a write saves a new one and swaps it in), or Milvus when
``RAG_STORE`` is a ``milvus://`` URL.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag import source_text
from rag.answer import Answerer, AnswerOptions, Passage
from rag.chunking import chunk_document, lines_of
from rag.config import Settings
from rag.conversation import with_context
from rag.documents import (
    display_path,
    doc_id_for,
    iter_files,
    page_of,
    read_document,
    text_document,
)
from rag.embedding import Embedder, make_embedder
from rag.errors import (
    BadInputError,
    DocumentNotFoundError,
    EmbeddingMismatchError,
    EmptyQuestionError,
    IndexNotFoundError,
    PathNotFoundError,
    RagError,
    UnreadableDocumentError,
)
from rag.generation import Generator, LlamaCppGenerator, TokenCallback
from rag.retrieval import Scored, fuse
from rag.scripts import unseen_scripts
from rag.source_text import DocumentText
from rag.stores import Batch, DocRecord, IndexMeta, NewDocument, Store, open_store
from rag.types import (
    Answer,
    Chunk,
    Citation,
    Document,
    DocumentInfo,
    Hit,
    IndexSummary,
    Skipped,
)

if TYPE_CHECKING:  # the folder store's format; other stores have none
    from rag.storage import Snapshot

log = logging.getLogger("rag")

MAX_QUESTION_CHARS = 2000
Progress = Callable[[str], None]


class Rag:
    """Question answering over one index folder."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        store: Store | None = None,
    ) -> None:
        """``store``: an index already opened (any :class:`rag.stores.Store`); the Rag
        owns it from then on and closes it in :meth:`close`."""
        self.settings = settings or Settings()
        self.path = Path(self.settings.index).expanduser().resolve()
        self._embedder = embedder
        self._generator = generator
        self._write_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._store: Store | None = store
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
        store: Store | None = None,
    ) -> Rag:
        """Open the index at ``path``; with ``create=True`` a missing index starts empty.

        ``store``: use this store (a :class:`rag.stores.Store`, such as
        ``rag.stores.open_store("milvus://host:19530", folder)`` or one of your own)
        instead of the one ``settings.store`` / ``path`` name; it is checked the same way.
        """
        settings = settings or Settings()
        if path is not None:
            settings = settings.model_copy(update={"index": Path(path)})
        rag = cls(settings, embedder=embedder, generator=generator)
        if store is None:
            store = open_store(settings.store, rag.path)
        meta = store.meta()
        if meta is not None:
            rag._check_embedder(meta, store.location)
        elif not create:
            store.close()
            where = f"--store {settings.store}" if settings.store else f"--index {rag.path}"
            raise IndexNotFoundError(
                f"no index at {store.location} (build one with: rag index PATH {where})"
            )
        rag._store = store
        return rag

    def close(self) -> None:
        """Release the store (a Milvus connection); the folder store holds nothing open."""
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Rag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                    path,
                    n_ctx=self.settings.context_size,
                    n_threads=self.settings.threads,
                    prompt_cache=(
                        self.settings.cache_dir.expanduser() / "prompt-cache"
                        if self.settings.prompt_cache
                        else None
                    ),
                    repack=self.settings.llm_repack,
                )
            return self._generator

    def warm_up(self) -> None:
        """Load every model now instead of on the first question."""
        self.embedder.embed(["warm up"])
        gen = self.generator
        if isinstance(gen, LlamaCppGenerator):
            gen.warm_up()

    def _check_embedder(self, meta: IndexMeta, location: str) -> None:
        name = self.embedder.name
        if meta.embedding_model != name:
            raise EmbeddingMismatchError(
                f"index at {location} was built with embedding model '{meta.embedding_model}', "
                f"not '{name}' (set RAG_EMBEDDING_MODEL or RAG_EMBEDDING_BACKEND, "
                "or rebuild the index)"
            )

    @property
    def store(self) -> Store:
        if self._store is None:
            raise IndexNotFoundError(f"no index at {self.path}")
        return self._store

    def _snapshot(self) -> Snapshot:
        """The live generation of a folder index (tests and benchmarks look inside)."""
        snapshot: Snapshot | None = getattr(self.store, "snapshot", None)
        if snapshot is None:
            raise TypeError("only a folder index has snapshots")
        return snapshot

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
        :class:`UnreadableDocumentError`; nothing is written in that case. Files inside
        folders are read, chunked and embedded a batch at a time while the write goes on
        (``RAG_INGEST_BATCH`` chunks), so a large folder is never all in memory at once.
        """
        path_list = [Path(p) for p in paths]
        files = list(dict.fromkeys(iter_files(path_list)))  # names only; raises on a missing path
        named = {p.expanduser().resolve() for p in path_list if not p.is_dir()}
        # Files named directly are read before anything is written, so a bad one loses nothing.
        named_docs = {f: read_document(f) for f in files if f in named}
        skipped: list[Skipped] = []
        docs = _read_files(files, named_docs, skipped, on_skip)
        return self._write(docs, len(files), remove=(), progress=progress, skipped=skipped)

    def update(
        self,
        files: Iterable[str | Path] = (),
        remove: Iterable[str] = (),
        *,
        progress: bool = False,
        on_skip: Callable[[str], None] | None = None,
    ) -> IndexSummary:
        """Read ``files`` and remove the documents ``remove`` (ids) in one write: what a
        folder watcher (:mod:`rag.watch`) applies for a burst of changes.

        Every file is treated like a file inside a folder given to :meth:`add`: one that
        cannot be read, or is gone, is skipped (reported to ``on_skip``), never raised.
        Ids not in the index are ignored. Nothing is written when nothing changed.
        """
        paths = list(dict.fromkeys(Path(f).expanduser().resolve() for f in files))
        skipped: list[Skipped] = []
        docs = _read_files(paths, {}, skipped, on_skip)
        return self._write(docs, len(paths), remove=tuple(remove), progress=progress,
                           skipped=skipped)  # fmt: skip

    def add_documents(self, docs: Sequence[Document], *, progress: bool = False) -> IndexSummary:
        unique = _dedupe(docs)
        return self._write(iter(unique), len(unique), remove=(), progress=progress)

    def add_text(self, text: str, title: str = "", source: str | None = None) -> IndexSummary:
        return self.add_documents([text_document(text, title, source)])

    def remove(self, doc_id_or_path: str) -> IndexSummary:
        """Delete a document by id or by source path."""
        return self._write(iter(()), 0, remove=(self._record(doc_id_or_path).doc_id,))

    def _record(self, doc_id_or_path: str) -> DocRecord:
        """The document with this id or source path; DocumentNotFoundError if none."""
        documents = self.store.documents()
        key = doc_id_or_path
        if key not in documents:
            key = doc_id_for(str(Path(doc_id_or_path).expanduser().resolve()))
        if key not in documents:
            matches = [d for d in documents.values() if d.source == doc_id_or_path]
            if not matches:
                raise DocumentNotFoundError(f"no document '{doc_id_or_path[:200]}' in the index")
            key = matches[0].doc_id
        return documents[key]

    def _write(
        self,
        docs: Iterator[Document],
        total: int,
        *,
        remove: Sequence[str],
        progress: bool = False,
        skipped: list[Skipped] | None = None,
    ) -> IndexSummary:
        store = self.store
        with self._write_lock, store.writing():
            # Another process may have written since we opened: writing() brought us up to date.
            meta = store.meta()
            if meta is not None:
                self._check_embedder(meta, store.location)
            else:
                meta = IndexMeta(
                    self.embedder.name, self.embedder.dim,
                    self.settings.chunk_size, self.settings.chunk_overlap,
                )  # fmt: skip
            existing = store.documents()
            removals = [doc_id for doc_id in dict.fromkeys(remove) if doc_id in existing]
            tally = _Tally()
            with _progress_bar(total, progress) as bar:
                batches = self._batches(docs, meta, existing, tally, bar)
                first = next(batches, None)
                if first is not None or removals or store.meta() is None:
                    store.write(
                        meta, removals, itertools.chain(() if first is None else [first], batches)
                    )
            return IndexSummary(
                documents=len(existing) - len(removals) + tally.added, added=tally.added,
                updated=tally.updated, unchanged=tally.unchanged, removed=len(removals),
                chunks=len(store), embedded=tally.embedded, skipped=skipped or [],
            )  # fmt: skip

    def _batches(
        self,
        docs: Iterator[Document],
        meta: IndexMeta,
        existing: Mapping[str, DocRecord],
        tally: _Tally,
        bar: Any,
    ) -> Iterator[Batch]:
        """New and changed documents, chunked and embedded ``ingest_batch`` chunks at a time."""
        pending: list[NewDocument] = []
        texts: list[str] = []

        def flush() -> Batch:
            vectors = self.embedder.embed(texts) if texts else np.zeros((0, meta.dim), np.float32)
            tally.embedded += len(texts)
            bar.set_postfix(chunks=tally.embedded, refresh=False)
            bar.update(len(pending))
            return list(pending), vectors

        for doc in docs:  # unique ids: add() lists each file once, add_documents dedupes
            old = existing.get(doc.doc_id)
            if old is not None and old.hash == doc.hash:
                tally.unchanged += 1
                bar.update(1)
                continue
            if old is not None:
                tally.updated += 1
            else:
                tally.added += 1
            chunks = chunk_document(
                doc.doc_id, doc.text, meta.chunk_size, meta.chunk_overlap, 0, doc.page_starts
            )
            record = DocRecord(
                doc.doc_id, doc.source, doc.title, doc.hash, doc.date, (), doc.page_starts
            )
            lines = tuple(lines_of(doc.text, [c.start for c in chunks]))
            pending.append(NewDocument(record, tuple(chunks), lines))
            texts.extend(f"{doc.title}\n\n{c.text}" for c in chunks)
            if len(texts) >= self.settings.ingest_batch:
                yield flush()
                pending, texts = [], []
        if pending:
            yield flush()

    # -- reading -------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return [
            DocumentInfo(d.doc_id, d.source, d.title, d.hash, d.date, len(d.chunk_ids))
            for d in sorted(self.store.documents().values(), key=lambda d: d.source)
        ]

    def document_text(
        self,
        doc_id_or_path: str,
        *,
        start: int | None = None,
        end: int | None = None,
        context: int | None = None,
    ) -> DocumentText:
        """The text of a document (what offsets point into), whole or, with ``start`` and
        ``end``, that span and ``context`` characters each side: a citation in its place.

        Read again from the source file when it is unchanged, else rebuilt from the stored
        chunks (see :mod:`rag.source_text`). Raises DocumentNotFoundError for an unknown
        document and BadInputError for a span outside its text.
        """
        record = self._record(doc_id_or_path)
        text = source_text.from_file(record)
        exact = text is not None
        if text is None:
            text = source_text.from_chunks(
                s.chunk for s in self.store.chunks(record.chunk_ids).values()
            )
        return source_text.window(record, text, exact=exact, start=start, end=end, context=context)

    def span_text(self, doc_id: str, start: int, end: int) -> str | None:
        """``document.text[start:end]`` rebuilt from the stored chunks, or ``None``."""
        rec = self.store.documents().get(doc_id)
        if rec is None:
            return None
        pieces: dict[int, str] = {}
        for stored in self.store.chunks(rec.chunk_ids).values():
            c = stored.chunk
            for pos in range(max(start, c.start), min(end, c.end)):
                pieces.setdefault(pos, c.text[pos - c.start])
        if len(pieces) != end - start:
            return None
        return "".join(pieces[p] for p in range(start, end))

    def stale(self) -> bool:
        """Whether :meth:`reload` has something to pick up; cheap for a folder index (one
        small file read), so a server can ask before every request. Other stores say yes."""
        stale = getattr(self.store, "stale", None)
        return True if stale is None else bool(stale())

    def reload(self) -> None:
        """Pick up a newer generation written by another process. Searches running meanwhile
        keep reading the generation they started with; the new one is swapped in whole."""
        store = self.store
        if store.refresh():
            meta = store.meta()
            if meta is not None:
                self._check_embedder(meta, store.location)

    def _validate(self, question: str, k: int | None) -> tuple[str, int]:
        q = question.strip() if isinstance(question, str) else ""
        if not q:
            raise EmptyQuestionError("the question is empty")
        if len(q) > MAX_QUESTION_CHARS:
            raise BadInputError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise BadInputError("k must be between 1 and 100")
        if self.store.meta() is None:
            raise IndexNotFoundError(f"the index at {self.store.location} is empty: add documents")
        unseen = unseen_scripts(q, self.store.scripts())
        if unseen:
            raise BadInputError(
                f"the question is written in {', '.join(sorted(unseen))} script, "
                "which no indexed document uses"
            )
        return q, k

    def _retrieve(self, q: str, k: int) -> list[tuple[Passage, float]]:
        """The ``k`` best passages of the fused ranking, best first."""
        store = self.store
        depth = max(4 * k, 20)
        # BM25 runs beside the query embedding and the vector search (numpy, ONNX, FAISS
        # and Milvus' network calls release the GIL): at 1M chunks each costs ~10 ms, so
        # the wait is the longer one, not the sum.
        lexical_future = self._lexical_pool().submit(store.lexical, q, depth)
        qv = self.embedder.embed([q])
        dense = store.search(qv[0], depth)
        lexical = lexical_future.result()
        fused = fuse(dense, lexical, depth)
        return self._passages(fused[:k])

    def _passages(self, scored: Sequence[Scored]) -> list[tuple[Passage, float]]:
        stored = self.store.chunks([s.chunk_id for s in scored])
        out = []
        for s in scored:
            found = stored.get(s.chunk_id)
            if found is None:  # deleted by another writer between search and fetch
                continue
            doc = found.document
            passage = Passage(found.chunk, doc.source, doc.title, doc.date, found.line, s.score)
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
        history: Sequence[str] = (),
    ) -> Answer:
        """Answer ``question`` from the index, with checked citations, or abstain.

        ``history``: the earlier questions of a conversation, oldest first; a short
        follow-up ("and who announced it?") is asked with the ones it leans on as context.
        ``on_token``: the model's draft, piece by piece; raising there stops the
        generation.
        """
        t0 = time.perf_counter()
        if history and isinstance(question, str) and question.strip():
            question = with_context(question, history, MAX_QUESTION_CHARS)
        q, k = self._validate(question, k)
        retrieved = self._retrieve(q, k)
        t1 = time.perf_counter()
        hits = [_hit(p, s) for p, s in retrieved]
        if on_sources:
            on_sources(hits)
        passages = [p for p, _ in retrieved]
        read = list(passages)
        options = AnswerOptions.from_settings(self.settings)
        answerer = Answerer(self.embedder, self.generator if use_llm else None, options)
        answer = answerer.answer(q, passages, hits, on_token=on_token)
        answer.citations = self._paged(answer.citations, read)
        answer.timings = {
            "retrieve_ms": (t1 - t0) * 1000,
            **answer.timings,
            "total_ms": (time.perf_counter() - t0) * 1000,
        }
        return answer

    def _paged(self, citations: list[Citation], read: Sequence[Passage]) -> list[Citation]:
        """The citations, each with the page its span starts on (the answer path builds
        them without one). The page comes from the chunk the span lies in, stored at
        ingest; when that chunk runs over a page break, from the page offsets stored with
        its document. None for unpaged formats and for indexes written before pages."""
        within = {c.n: _containing(c, read) for c in citations if c.page is None}
        paged = [ch for ch in within.values() if ch is not None and ch.page is not None]
        if not paged:
            return citations
        stored = self.store.chunks([ch.chunk_id for ch in paged])
        out = []
        for c in citations:
            chunk = within.get(c.n)
            if chunk is None or chunk.page is None:
                out.append(c)
                continue
            found = stored.get(chunk.chunk_id)
            starts = found.document.page_starts if found is not None else ()
            out.append(replace(c, page=page_of(starts, c.start) if starts else chunk.page))
        return out


def _read_files(
    files: Sequence[Path],
    read: dict[Path, Document],
    skipped: list[Skipped],
    on_skip: Callable[[str], None] | None,
) -> Iterator[Document]:
    """The documents of ``files`` (those in ``read`` already read), skipping unreadable ones."""
    for f in files:
        if f in read:
            yield read.pop(f)
            continue
        try:
            yield read_document(f)
        except (UnreadableDocumentError, PathNotFoundError) as exc:
            # read_document turns every failure of one file into these: skip it.
            skipped.append(Skipped.of(display_path(f), str(exc)))
            if on_skip:
                on_skip(str(exc))


def _containing(c: Citation, read: Sequence[Passage]) -> Chunk | None:
    """The chunk of ``read`` that holds the start of citation ``c`` (the latest-starting
    one when chunks overlap, the nearest to any page break before it)."""
    best: Chunk | None = None
    for p in read:
        ch = p.chunk
        inside = ch.doc_id == c.doc_id and ch.start <= c.start < ch.end
        if inside and (best is None or ch.start > best.start):
            best = ch
    return best


def _hit(p: Passage, score: float) -> Hit:
    c = p.chunk
    return Hit(
        c.doc_id, p.source, p.title, c.start, c.end, c.text, score, c.chunk_id, p.line, c.page
    )


class _Tally:
    """What a write did, counted while its batches stream through."""

    def __init__(self) -> None:
        self.added = self.updated = self.unchanged = self.embedded = 0


@contextlib.contextmanager
def _progress_bar(total: int, show: bool) -> Iterator[Any]:
    """A bar over documents (a chunk count beside it), or a silent stand-in."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="doc", desc="indexing", disable=not show, leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _dedupe(docs: Sequence[Document]) -> list[Document]:
    seen: dict[str, Document] = {}
    for d in docs:
        seen[d.doc_id] = d
    return list(seen.values())


__all__ = ["Rag", "RagError"]
