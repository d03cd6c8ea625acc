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
from rag.lexical import Bm25Parts
from rag.scripts import script_profile
from rag.storage import Segment, Snapshot
from rag.stores.base import Batch, DocRecord, IndexMeta, NewDocument, StoredChunk
from rag.stores.faiss_store import FaissStore


class _View:
    """A snapshot plus its lexical index; never mutated after creation.

    With segments, a search asks the base and every segment (tombstoned chunks excluded)
    and merges their hits into one ranking by score before it is fused with the other
    (rag.retrieval). Vector scores are cosines, comparable across them; BM25 scores every
    part with the statistics of the whole live index (:class:`rag.lexical.Bm25Parts`), so
    a document ranks and scores the same in a segment as in the base, before a merge as
    after it.
    """

    def __init__(self, snap: Snapshot, scripts: frozenset[str] | None = None) -> None:
        self.snap = snap
        self.bm25 = snap.bm25()  # loaded with the generation, or built (older generations)
        self.dead = snap.dead()
        self.lexical = Bm25Parts([self.bm25] + [s.bm25() for s in snap.segments], self.dead)
        # A segment adds its scripts to the base's; one it removes is forgotten at the merge.
        self.scripts = (
            scripts if scripts is not None else script_profile(c.text for c in snap.chunks.values())
        )

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        stores = [self.snap.store] + [s.store for s in self.snap.segments]
        hits: list[tuple[int, float]] = []
        for store in stores:
            if store is None or not len(store):
                continue
            scores, ids = store.search(query, k, self.dead if len(self.dead) else None)
            pairs = zip(ids[0], scores[0], strict=True)
            hits.extend((int(i), float(x)) for i, x in pairs if i >= 0)
        return _best(hits, k) if self.snap.segments else hits


def _best(hits: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]


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
        return [] if self.view is None else self.view.search(vector, k)

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        return [] if self.view is None else self.view.lexical.search(query, k)

    def scripts(self) -> frozenset[str]:
        return frozenset() if self.view is None else self.view.scripts

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with storage.writer_lock(self.path):
            self.refresh()
            yield

    def write(self, meta: IndexMeta, remove: Sequence[str], batches: Iterable[Batch]) -> None:
        # A write small next to the index goes into a segment (storage.save_segment): only
        # what it adds is written. Otherwise each batch goes into a copy as it arrives
        # (its vectors into FAISS, which keeps them in its own form), so only one batch of
        # float32 vectors is alive at a time, and the copy is saved as one full generation
        # at the end (the merge, when the index has segments). Readers see all or nothing.
        view = self.view
        seg = self._segment_for(view.snap) if view is not None else None
        snap: Snapshot | None = None
        if seg is None:
            snap = self._full_copy(meta)
        for doc_id in remove:
            if seg is not None and view is not None:
                _drop_in_segment(view.snap, seg, doc_id)
            else:
                assert snap is not None
                _drop(snap, doc_id)
        for add, vectors in batches:
            if len(vectors) != sum(len(d.chunks) for d in add):
                raise ValueError("one vector per chunk is needed")
            if seg is not None and view is not None and not _fits(view.snap, seg, len(vectors)):
                snap = _fold(storage.merged(view.snap), seg)
                seg = None
            if seg is not None and view is not None:
                ids = [
                    cid for new in add for cid in _add_to_segment(view.snap, seg, new)
                ]  # fmt: skip
                if ids:
                    assert seg.store is not None
                    seg.store.add(np.array(ids, dtype=np.int64), vectors)
                continue
            assert snap is not None
            ids = [cid for new in add for cid in _add(snap, new)]
            if ids:
                assert snap.store is not None
                snap.store.add(np.array(ids, dtype=np.int64), vectors)
        if seg is not None and view is not None and not _fits(view.snap, seg, 0):
            snap = _fold(storage.merged(view.snap), seg)  # removed too much for a segment
            seg = None
        if seg is not None and view is not None:
            new_snap = storage.save_segment(self.path, view.snap, seg)
            texts = (c.text for c in seg.chunks.values())
            self._swap(_View(new_snap, view.scripts | script_profile(texts)))
            return
        assert snap is not None
        storage.save(self.path, snap)
        self._swap(_View(snap))

    def _segment_for(self, snap: Snapshot) -> Segment | None:
        """An empty segment over ``snap`` when a small write may go into one (the base is
        not empty, fewer than MAX_SEGMENTS exist, ``snap`` is the live generation)."""
        if (
            not snap.base_size() or len(snap.segments) >= storage.MAX_SEGMENTS
            or snap.segments_size() > storage.MERGE_FRACTION * snap.base_size()
            or storage.current_generation(self.path) != snap.generation
        ):  # fmt: skip
            return None
        return Segment(dim=snap.dim, next_chunk_id=snap.next_chunk_id)

    def _full_copy(self, meta: IndexMeta) -> Snapshot:
        if self.view is not None:
            return storage.merged(self.view.snap)
        return Snapshot(
            embedding_model=meta.embedding_model, dim=meta.dim, chunk_size=meta.chunk_size,
            chunk_overlap=meta.chunk_overlap, store=FaissStore(meta.dim),
        )  # fmt: skip

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
            view = self._grown(gen) or _View(storage.load(self.path))
        except Exception:
            self._unloadable = gen
            raise
        return self._swap(view)

    def _grown(self, gen: int) -> _View | None:
        """The loaded view with the segments written on top of it since (read alone), or
        ``None`` when generation ``gen`` is not such (a merge, another base)."""
        old = self.view
        if old is None:
            return None
        gdir = storage.generation_path(self.path, gen)
        manifest = storage.read_manifest(gdir)
        chain = storage.segment_chain(gdir, manifest, gen)
        have = [s.generation for s in old.snap.segments]
        if chain is None or chain[0] != old.snap.base or chain[1][: len(have)] != have:
            return None
        new = replace(
            old.snap, documents=dict(old.snap.documents), chunks=dict(old.snap.chunks),
            lines=dict(old.snap.lines), segments=list(old.snap.segments),
        )  # fmt: skip
        storage.load_segments(self.path, new, chain[1][len(have) :], manifest)
        texts = (c.text for s in new.segments[len(have) :] for c in s.chunks.values())
        return _View(new, old.scripts | script_profile(texts))

    def _swap(self, view: _View) -> bool:
        # A slow load finishing after a newer write must not replace it with an older view.
        with self._swap_lock:
            if self.view is not None and self.view.snap.generation >= view.snap.generation:
                return False
            self.view = view
            return True

    def close(self) -> None:
        pass


def _add(snap: Snapshot, new: NewDocument) -> list[int]:
    """Put ``new`` into ``snap`` (replacing a document of its id); its chunk ids."""
    _drop(snap, new.record.doc_id)
    first = snap.next_chunk_id
    snap.next_chunk_id += len(new.chunks)
    chunk_ids = list(range(first, first + len(new.chunks)))
    for cid, c, line in zip(chunk_ids, new.chunks, new.lines, strict=True):
        snap.chunks[cid] = replace(c, chunk_id=cid)
        snap.lines[cid] = line
    snap.documents[new.record.doc_id] = replace(new.record, chunk_ids=tuple(chunk_ids))
    return chunk_ids


def _add_to_segment(base: Snapshot, seg: Segment, new: NewDocument) -> list[int]:
    """Put ``new`` into the segment being written over ``base``; its chunk ids."""
    _drop_in_segment(base, seg, new.record.doc_id)
    first = seg.next_chunk_id
    seg.next_chunk_id += len(new.chunks)
    chunk_ids = list(range(first, first + len(new.chunks)))
    for cid, c, line in zip(chunk_ids, new.chunks, new.lines, strict=True):
        seg.chunks[cid] = replace(c, chunk_id=cid)
        seg.lines[cid] = line
    seg.documents[new.record.doc_id] = replace(new.record, chunk_ids=tuple(chunk_ids))
    return chunk_ids


def _drop_in_segment(base: Snapshot, seg: Segment, doc_id: str) -> None:
    """Remove ``doc_id`` in the segment being written: from the segment when it added
    it, else a tombstone for the document in ``base`` (once)."""
    rec = seg.documents.pop(doc_id, None)
    if rec is not None:
        for cid in rec.chunk_ids:
            seg.chunks.pop(cid, None)
            seg.lines.pop(cid, None)
        assert seg.store is not None
        seg.store.remove(np.array(rec.chunk_ids, dtype=np.int64))
        return
    held = base.documents.get(doc_id)
    if held is not None and doc_id not in seg.removed:
        seg.removed.append(doc_id)
        seg.dead.extend(held.chunk_ids)


def _fits(base: Snapshot, seg: Segment, more: int) -> bool:
    """Whether the segment, ``more`` chunks larger, stays under the merge threshold."""
    total = base.segments_size() + seg.size + more
    return total <= storage.MERGE_FRACTION * base.base_size()


def _fold(snap: Snapshot, seg: Segment) -> Snapshot:
    """``snap`` (a full copy) with the segment being written applied to it (the write
    grew past the threshold: it becomes a full generation)."""
    for doc_id in seg.removed:
        _drop(snap, doc_id)
    assert snap.store is not None and seg.store is not None
    snap.documents.update(seg.documents)
    snap.chunks.update(seg.chunks)
    snap.lines.update(seg.lines)
    snap.next_chunk_id = seg.next_chunk_id
    ids, vectors = seg.store._contents()
    snap.store.add(ids, vectors)
    return snap


def _drop(snap: Snapshot, doc_id: str) -> None:
    rec = snap.documents.pop(doc_id, None)
    if rec is None:
        return
    for cid in rec.chunk_ids:
        snap.chunks.pop(cid, None)
        snap.lines.pop(cid, None)
    assert snap.store is not None
    snap.store.remove(np.array(rec.chunk_ids, dtype=np.int64))
