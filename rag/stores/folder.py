"""The default store: an index folder of immutable generations (rag.storage), in memory.

Readers search one loaded generation (FAISS vectors, chunk texts and the BM25 index
saved with it, memory-mapped); a write copies it, applies the change, saves a new generation and
swaps it in, so a reader never sees half a write, and another process picks the
new generation up with :meth:`FolderStore.refresh`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag import storage
from rag.errors import IndexNotFoundError
from rag.scripts import script_profile
from rag.storage import Snapshot
from rag.stores.base import Batch, DocRecord, IndexMeta, StoredChunk
from rag.stores.faiss_store import FaissStore


class _View:
    """A snapshot plus its lexical index; never mutated after creation."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.bm25 = snap.bm25()  # loaded with the generation, or built (older generations)
        self.scripts = script_profile(c.text for c in snap.chunks.values())


class FolderStore:
    """:class:`rag.stores.base.Store` over an index folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.view: _View | None = None
        self._swap_lock = threading.Lock()
        self._unloadable = -1  # a generation that failed to load: not retried by stale()
        if storage.exists(path):
            self.view = _View(storage.load(path))

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def snapshot(self) -> Snapshot:
        if self.view is None:
            raise IndexNotFoundError(
                f"no index at {self.path} (build one with: rag index PATH --index {self.path})"
            )
        return self.view.snap

    def meta(self) -> IndexMeta | None:
        if self.view is None:
            return None
        s = self.view.snap
        return IndexMeta(s.embedding_model, s.dim, s.chunk_size, s.chunk_overlap)

    def __len__(self) -> int:
        return 0 if self.view is None else len(self.view.snap.chunks)

    def documents(self) -> dict[str, DocRecord]:
        return {} if self.view is None else self.view.snap.documents

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if self.view is None:
            return {}
        snap = self.view.snap
        out = {}
        for cid in ids:
            chunk = snap.chunks.get(int(cid))
            if chunk is not None:
                out[chunk.chunk_id] = StoredChunk(
                    chunk, snap.lines.get(chunk.chunk_id, 1), snap.documents[chunk.doc_id]
                )
        return out

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.view is None or self.view.snap.store is None:
            return []
        scores, ids = self.view.snap.store.search(np.asarray(vector).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        return [] if self.view is None else self.view.bm25.search(query, k)

    def scripts(self) -> frozenset[str]:
        return frozenset() if self.view is None else self.view.scripts

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with storage.writer_lock(self.path):
            self.refresh()
            yield

    def write(self, meta: IndexMeta, remove: Sequence[str], batches: Iterable[Batch]) -> None:
        # Each batch goes into the copy as it arrives (its vectors into FAISS, which keeps
        # them in its own form), so only one batch of float32 vectors is alive at a time;
        # the copy is saved as one generation at the end, and readers see all or nothing.
        if self.view is not None:
            snap = _copy(self.view.snap)
        else:
            snap = Snapshot(
                embedding_model=meta.embedding_model, dim=meta.dim, chunk_size=meta.chunk_size,
                chunk_overlap=meta.chunk_overlap, store=FaissStore(meta.dim),
            )  # fmt: skip
        assert snap.store is not None
        for doc_id in remove:
            _drop(snap, doc_id)
        for add, vectors in batches:
            if len(vectors) != sum(len(d.chunks) for d in add):
                raise ValueError("one vector per chunk is needed")
            ids: list[int] = []
            for new in add:
                _drop(snap, new.record.doc_id)
                first = snap.next_chunk_id
                snap.next_chunk_id += len(new.chunks)
                chunk_ids = list(range(first, first + len(new.chunks)))
                for cid, c, line in zip(chunk_ids, new.chunks, new.lines, strict=True):
                    snap.chunks[cid] = replace(c, chunk_id=cid)
                    snap.lines[cid] = line
                snap.documents[new.record.doc_id] = replace(new.record, chunk_ids=tuple(chunk_ids))
                ids.extend(chunk_ids)
            if ids:
                snap.store.add(np.array(ids, dtype=np.int64), vectors)
        storage.save(self.path, snap)
        self._swap(_View(snap))

    def stale(self) -> bool:
        """Whether ``CURRENT`` names a generation other than the loaded one (one small read).

        A generation that failed to load says no until ``CURRENT`` changes again, so a bad
        write is not reloaded over and over while the previous generation keeps serving.
        """
        if not storage.exists(self.path):
            return False
        gen = storage.current_generation(self.path)
        return gen != self._unloadable and (self.view is None or self.view.snap.generation != gen)

    def refresh(self) -> bool:
        """Load the live generation if it is new; readers keep the old view until the swap."""
        if not storage.exists(self.path):
            return False
        gen = storage.current_generation(self.path)
        if self.view is not None and self.view.snap.generation == gen:
            return False
        try:
            view = _View(storage.load(self.path))
        except Exception:
            self._unloadable = gen
            raise
        return self._swap(view)

    def _swap(self, view: _View) -> bool:
        # A slow load finishing after a newer write must not replace it with an older view.
        with self._swap_lock:
            if self.view is not None and self.view.snap.generation >= view.snap.generation:
                return False
            self.view = view
            return True

    def close(self) -> None:
        pass


def _copy(snap: Snapshot) -> Snapshot:
    assert snap.store is not None
    return replace(
        snap,
        documents=dict(snap.documents),
        chunks=dict(snap.chunks),
        lines=dict(snap.lines),
        store=snap.store.copy(),
        lexical=None,  # the copy changes; storage.save builds its BM25
    )


def _drop(snap: Snapshot, doc_id: str) -> None:
    rec = snap.documents.pop(doc_id, None)
    if rec is None:
        return
    for cid in rec.chunk_ids:
        snap.chunks.pop(cid, None)
        snap.lines.pop(cid, None)
    assert snap.store is not None
    snap.store.remove(np.array(rec.chunk_ids, dtype=np.int64))
