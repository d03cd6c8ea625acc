"""The on-disk index: generation folders switched atomically by a ``CURRENT`` file.

Layout of an index folder::

    CURRENT            name of the live generation, replaced atomically (os.replace)
    gen-000007/        one complete, immutable snapshot
      manifest.json    format, embedding model and dimension, chunking, documents,
                       the size and sha256 of every other file, its own checksum
      chunks.jsonl     one chunk per line: id, doc_id, start, end, line, text, and
                       page (PDFs: the 1-based page the chunk starts on)
      vectors.faiss    FAISS index (ids are chunk ids)
      bm25/            BM25 over the chunk texts (rag.lexical), memory-mapped when
                       opened; generations written before it existed (or before its
                       current format) rebuild it from the chunks
    gen-000008/        a segment: only what one small write changed (see below)
    .lock              held by writers so two writers never interleave

A writer builds a new generation folder completely, fsyncs it, then replaces
``CURRENT``. A crash at any point leaves the previous generation live, and a
reader always sees one whole generation, old or new.

Small writes (Lucene's segments, SQLite's WAL): a write that adds or removes little
next to a large index writes a *segment* generation instead of a full one. It holds
the same files, but only for the documents that write added (their chunks, their
vectors in an exact FAISS index, a BM25 over their texts), and its manifest's
``"segment"`` names the full base generation, every segment on top of it in order
(ending with itself), the documents it removed or replaced and their chunk ids (the
tombstones). ``CURRENT`` naming it is still the one commit point. A reader loads the
base, then each segment: tombstoned chunks are dropped from the documents and
chunks and filtered out of every search, and BM25 scores every part with the
statistics of the whole live index (rag.lexical.Bm25Parts), so where a document is
stored does not change its rank. When the segments hold more than
``MERGE_FRACTION`` of the base, or ``MAX_SEGMENTS`` of them exist, the next write
writes a full generation again (the merge). Chunk ids are never reused, so a
tombstone means the same chunk everywhere.

Damage is never read silently: :func:`load` checks what it can cheaply (every size,
the checksums of the files it reads whole, the structure of the rest) and raises
:class:`IndexCorruptError` naming the file; ``rag check`` (:mod:`rag.verify`) checks
every checksum and repairs what is derived.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag import integrity
from rag.errors import IndexCorruptError, IndexNotFoundError, first_line
from rag.lexical import FOLDER as LEXICAL
from rag.lexical import Bm25
from rag.stores.base import DocRecord
from rag.stores.faiss_store import FILENAME as FAISS_FILENAME
from rag.stores.faiss_store import FaissStore
from rag.types import Chunk

__all__ = [
    "DocRecord", "Segment", "Snapshot", "apply_segment", "exists", "load", "merged", "save",
    "save_segment", "writer_lock",
]  # fmt: skip

FORMAT = 1
# A segment's manifest: a version that does not know segments refuses it ("unknown index
# format") rather than reading the segment's few documents as the whole index.
SEGMENT_FORMAT = 2
CURRENT = "CURRENT"
CHUNKS = "chunks.jsonl"
VECTORS = FAISS_FILENAME
_KEEP_GENERATIONS = 2
# A write becomes a segment while the segments (with it) hold at most this fraction of
# the base's chunks (added chunks plus tombstones), and at most MAX_SEGMENTS of them.
MERGE_FRACTION = 0.10
MAX_SEGMENTS = 8
# json.loads(bytes) guesses the encoding of every line; chunks.jsonl is UTF-8.
_decode = json.JSONDecoder().decode


@dataclass
class Segment:
    """What one small write changed: the documents it added (with their chunks, vectors
    and BM25) and the documents it removed or replaced (``dead``: their chunk ids)."""

    dim: int
    next_chunk_id: int
    documents: dict[str, DocRecord] = field(default_factory=dict)
    chunks: dict[int, Chunk] = field(default_factory=dict)
    lines: dict[int, int] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    store: FaissStore | None = None  # exact; ids are chunk ids
    lexical: Bm25 | None = None
    generation: int = 0

    def __post_init__(self) -> None:
        if self.store is None:
            self.store = FaissStore(self.dim, approximate_above=None)

    @property
    def size(self) -> int:
        """What it weighs against the merge threshold: chunks added plus tombstones."""
        return len(self.chunks) + len(self.dead)

    def bm25(self) -> Bm25:
        if self.lexical is None:
            ids = sorted(self.chunks)
            self.lexical = Bm25(ids, [self.chunks[i].text for i in ids])
        return self.lexical


@dataclass
class Snapshot:
    """Everything one generation holds, in memory.

    With segments, ``documents``, ``chunks`` and ``lines`` are the live state (base and
    segments applied), while ``store`` and ``lexical`` cover the base only (tombstoned
    chunks included): search them with :attr:`dead` excluded, and each segment's too.
    """

    embedding_model: str
    dim: int
    chunk_size: int
    chunk_overlap: int
    documents: dict[str, DocRecord] = field(default_factory=dict)
    chunks: dict[int, Chunk] = field(default_factory=dict)
    lines: dict[int, int] = field(default_factory=dict)
    store: FaissStore | None = None
    # BM25 over ``chunks``, loaded with the generation (None: build it from the texts).
    lexical: Bm25 | None = None
    next_chunk_id: int = 0
    generation: int = 0
    segments: list[Segment] = field(default_factory=list)
    # The full generation under the segments (== generation without segments).
    base: int = 0

    def dead(self) -> np.ndarray:
        """The sorted ids of every tombstoned chunk (in the base or a segment)."""
        ids = [c for seg in self.segments for c in seg.dead]
        return np.unique(np.asarray(ids, dtype=np.int64))

    def segments_size(self) -> int:
        return sum(seg.size for seg in self.segments)

    def base_size(self) -> int:
        return len(self.store) if self.store is not None else 0

    def bm25(self) -> Bm25:
        """The BM25 index over the chunks (built, and kept, when the snapshot has none)."""
        if self.lexical is None:
            ids = sorted(self.chunks)
            self.lexical = Bm25(ids, [self.chunks[i].text for i in ids])
        return self.lexical

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "embedding": {"model": self.embedding_model, "dim": self.dim},
            "chunking": {"size": self.chunk_size, "overlap": self.chunk_overlap},
            "next_chunk_id": self.next_chunk_id,
            "documents": [d.to_json() for d in self.documents.values()],
        }


def exists(folder: Path) -> bool:
    """True when ``folder`` holds an index (or what is left of one: a ``CURRENT`` of the
    wrong type, or generations without ``CURRENT``; opening those says it is corrupt)."""
    if os.path.lexists(folder / CURRENT):
        return True
    # The first write of an index renames gen-000001 into place just before CURRENT:
    # a crash between the two leaves it alone, and the index is still empty.
    return any(g > 1 for g in generations(folder))


def generations(folder: Path) -> list[int]:
    """The numbers of the generation folders in ``folder``, newest first."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return []
    return sorted((int(n[4:]) for n in names if _is_generation_name(n)), reverse=True)


def _is_generation_name(name: str) -> bool:
    digits = name[4:]
    return name.startswith("gen-") and len(digits) >= 6 and digits.isascii() and digits.isdigit()


def _generation_name(n: int) -> str:
    return f"gen-{n:06d}"


def generation_path(folder: Path, gen: int) -> Path:
    return folder / _generation_name(gen)


def corrupt(path: Path | str, problem: str) -> IndexCorruptError:
    """The error for a damaged index file: one line naming it."""
    return IndexCorruptError.at(path, problem)


@contextlib.contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Serialise writers (across processes) on one index folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_generation(folder: Path) -> int:
    path = folder / CURRENT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        newest = generations(folder)
        if newest and newest[0] > 1:
            raise corrupt(
                path, f"missing, but {_generation_name(newest[0])} exists "
                "(rag check --repair points it at the newest generation that verifies)",
            ) from None  # fmt: skip
        raise IndexNotFoundError(
            f"no index at {folder} (build one with: rag index PATH --index {folder})"
        ) from None
    except OSError as exc:
        raise corrupt(path, f"unreadable ({exc.strerror or exc})") from None
    name = raw.decode("utf-8", "replace").strip()
    if not _is_generation_name(name):
        raise corrupt(path, f"{name[:40]!r} is not a generation name")
    return int(name[4:])


def load(folder: Path) -> Snapshot:
    """Read the live generation of the index in ``folder``, checking as it reads: the
    sizes of all its files, the checksums of the manifest and the chunks (read whole
    anyway), and that the vectors and BM25 arrays agree with the chunks. Raises
    :class:`IndexCorruptError` naming the first file found wrong."""
    if not folder.is_dir():
        raise IndexNotFoundError(
            f"no index at {folder} (build one with: rag index PATH --index {folder})"
        )
    gen = current_generation(folder)
    gdir = generation_path(folder, gen)
    manifest = read_manifest(gdir)
    chain = segment_chain(gdir, manifest, gen)
    if chain is None:
        return _load_full(gdir, manifest, gen)
    base, segments = chain
    bdir = generation_path(folder, base)
    bmanifest = read_manifest(bdir)
    if "segment" in bmanifest:
        raise corrupt(gdir / integrity.MANIFEST, f"its base {bdir.name} is a segment")
    snap = _load_full(bdir, bmanifest, base)
    snap.bm25()  # the base's own (older generations have none on disk)
    load_segments(folder, snap, segments, manifest)
    return snap


def load_segments(
    folder: Path, snap: Snapshot, segments: list[int], live: dict[str, Any] | None = None
) -> None:
    """Read segments ``segments`` (generation numbers, in order) and apply them to
    ``snap``; ``live``: the manifest of the last one, already read."""
    for g in segments:
        sdir = generation_path(folder, g)
        m = live if live is not None and g == segments[-1] else read_manifest(sdir)
        if "segment" not in m:
            raise corrupt(sdir / integrity.MANIFEST, "a segment's manifest without 'segment'")
        apply_segment(snap, read_segment(sdir, m, g), sdir / integrity.MANIFEST)
    if segments:
        snap.generation = segments[-1]


def segment_chain(gdir: Path, manifest: dict[str, Any], gen: int) -> tuple[int, list[int]] | None:
    """``(base, segments)`` of a segment generation's checked manifest, or ``None`` for a
    full generation."""
    info = manifest.get("segment")
    if info is None:
        return None
    base = info.get("base") if isinstance(info, dict) else None
    segs = info.get("segments") if isinstance(info, dict) else None
    if (
        not _int(base) or not isinstance(segs, list) or not segs
        or not all(_int(g) for g in segs) or segs[-1] != gen or segs[0] <= base
        or any(a >= b for a, b in zip(segs, segs[1:], strict=False))
        or not isinstance(info.get("removed"), list)
        or not all(isinstance(d, str) for d in info["removed"])
        or not isinstance(info.get("dead"), list) or not all(_int(c) for c in info["dead"])
    ):  # fmt: skip
        raise corrupt(gdir / integrity.MANIFEST, "bad 'segment'")
    assert isinstance(base, int)
    return base, [int(g) for g in segs]


def read_segment(sdir: Path, manifest: dict[str, Any], gen: int) -> Segment:
    """The segment in ``sdir`` (checked like a full generation: sizes, chunks, vectors, BM25)."""
    for rel, rec in manifest.get("files", {}).items():
        problem = integrity.size_problem(sdir / rel, rec["size"])
        if problem is not None:
            raise corrupt(sdir / rel, problem)
    part = snapshot_of(manifest, gen)
    read_chunks(sdir, part, manifest)
    store = read_vectors(sdir, part)
    lexical = read_bm25(sdir, part)
    if lexical is None and not (sdir / LEXICAL).is_dir():
        raise corrupt(sdir / LEXICAL, "missing")
    # (None with the folder: written in an older format; Segment.bm25 builds it from the texts)
    info = manifest["segment"]
    return Segment(
        dim=part.dim, next_chunk_id=part.next_chunk_id, documents=part.documents,
        chunks=part.chunks, lines=part.lines, removed=list(info["removed"]),
        dead=list(info["dead"]), store=store, lexical=lexical, generation=gen,
    )  # fmt: skip


def apply_segment(snap: Snapshot, seg: Segment, where: Path | None = None) -> None:
    """Apply ``seg`` to ``snap`` (documents, chunks, lines; the segment is appended to its
    segments). Raises :class:`IndexCorruptError` naming ``where`` (the segment's
    manifest) when they do not fit together."""
    at = where if where is not None else f"gen-{seg.generation:06d}/{integrity.MANIFEST}"
    dead: list[int] = []
    for doc_id in seg.removed:
        rec = snap.documents.pop(doc_id, None)
        if rec is None:
            raise corrupt(at, f"removes {doc_id[:40]!r}, which the index does not hold")
        dead.extend(rec.chunk_ids)
        for cid in rec.chunk_ids:
            snap.chunks.pop(cid, None)
            snap.lines.pop(cid, None)
    if sorted(dead) != sorted(seg.dead):
        raise corrupt(at, "tombstones that are not the removed documents' chunks")
    if seg.next_chunk_id < snap.next_chunk_id or any(
        c < snap.next_chunk_id for c in seg.chunks
    ) or not set(seg.documents).isdisjoint(snap.documents):  # fmt: skip
        raise corrupt(at, "chunk ids or documents the index already holds")
    snap.documents.update(seg.documents)
    snap.chunks.update(seg.chunks)
    snap.lines.update(seg.lines)
    snap.next_chunk_id = seg.next_chunk_id
    snap.segments.append(seg)
    snap.generation = seg.generation


def _load_full(gdir: Path, manifest: dict[str, Any], gen: int) -> Snapshot:
    for rel, rec in manifest.get("files", {}).items():
        problem = integrity.size_problem(gdir / rel, rec["size"])
        if problem is not None:
            raise corrupt(gdir / rel, problem)
    snap = snapshot_of(manifest, gen)
    read_chunks(gdir, snap, manifest)
    snap.store = read_vectors(gdir, snap)
    snap.lexical = read_bm25(gdir, snap)
    return snap


def read_manifest(gdir: Path) -> dict[str, Any]:
    """The manifest of generation folder ``gdir``, its checksum and structure checked."""
    if not gdir.is_dir():
        raise corrupt(gdir, "not a folder" if os.path.lexists(gdir) else "missing")
    path = gdir / integrity.MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        raise corrupt(path, "missing") from None
    except OSError as exc:
        raise corrupt(path, f"unreadable ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise corrupt(path, f"not valid JSON ({first_line(exc)})") from None
    if not isinstance(manifest, dict):
        raise corrupt(path, "not a JSON object")
    checksum = manifest.get("checksum")
    if checksum is not None and checksum != integrity.manifest_checksum(manifest):
        raise corrupt(path, "sha256 differs from the one written (the content changed)")
    if (
        manifest.get("format") not in (FORMAT, SEGMENT_FORMAT)
        or type(manifest.get("format")) is not int
        or (manifest["format"] == SEGMENT_FORMAT) != ("segment" in manifest)
    ):
        raise corrupt(path, f"unknown index format {str(manifest.get('format'))[:20]!r}")
    problem = _manifest_problem(manifest)
    if problem is not None:
        raise corrupt(path, problem)
    return manifest


def _manifest_problem(m: dict[str, Any]) -> str | None:
    emb, chunking, docs = m.get("embedding"), m.get("chunking"), m.get("documents")
    if not (isinstance(emb, dict) and isinstance(emb.get("model"), str) and _int(emb.get("dim"))):
        return "bad 'embedding'"
    if emb["dim"] <= 0:
        return "bad 'embedding'"
    if not (isinstance(chunking, dict) and _int(chunking.get("size"))
            and _int(chunking.get("overlap"))):  # fmt: skip
        return "bad 'chunking'"
    if not _int(m.get("next_chunk_id")) or m["next_chunk_id"] < 0:
        return "bad 'next_chunk_id'"
    if not isinstance(docs, list):
        return "bad 'documents'"
    seen_docs: set[str] = set()
    seen_chunks: set[int] = set()
    for d in docs:
        if not _doc_ok(d) or d["doc_id"] in seen_docs:
            return f"bad document record {str(d)[:60]!r}"
        seen_docs.add(d["doc_id"])
        ids = d["chunk_ids"]
        if any(not 0 <= c < m["next_chunk_id"] for c in ids) or not seen_chunks.isdisjoint(ids):
            return f"document {d['doc_id']} lists chunk ids out of range or listed twice"
        seen_chunks.update(ids)
    if "files" in m:
        return integrity.records_problem(m["files"])
    return None


def _int(value: object) -> bool:
    return type(value) is int


def _doc_ok(d: object) -> bool:
    return (
        isinstance(d, dict)
        and all(isinstance(d.get(k), str) for k in ("doc_id", "source", "title", "hash"))
        and (d.get("date") is None or isinstance(d.get("date"), str))
        and isinstance(d.get("chunk_ids"), list)
        and all(type(c) is int for c in d["chunk_ids"])
        and isinstance(d.get("page_starts", []), list)
        and all(type(c) is int for c in d.get("page_starts", []))
    )


def snapshot_of(manifest: dict[str, Any], gen: int) -> Snapshot:
    """A snapshot holding what a checked manifest says (documents; no chunks yet)."""
    snap = Snapshot(
        embedding_model=manifest["embedding"]["model"],
        dim=manifest["embedding"]["dim"],
        chunk_size=manifest["chunking"]["size"],
        chunk_overlap=manifest["chunking"]["overlap"],
        next_chunk_id=manifest["next_chunk_id"],
        generation=gen,
        base=gen,
    )
    for d in manifest["documents"]:
        rec = DocRecord.from_json(d)
        snap.documents[rec.doc_id] = rec
    return snap


def chunk_ids(snap: Snapshot) -> np.ndarray:
    """The ids of every chunk the manifest lists, sorted."""
    ids = [c for d in snap.documents.values() for c in d.chunk_ids]
    return np.sort(np.asarray(ids, dtype=np.int64))


def read_chunks(gdir: Path, snap: Snapshot, manifest: dict[str, Any]) -> None:
    """Read ``chunks.jsonl`` into ``snap``. With a checksum in the manifest, the file is
    verified against it first (it is then what :func:`save` wrote from a consistent
    snapshot); without one, each chunk is checked: one the manifest lists for the same
    document, with consistent offsets."""
    path = gdir / CHUNKS
    record = manifest.get("files", {}).get(CHUNKS)
    if record is not None:
        problem = integrity.checksum_problem(path, record["sha256"])
        if problem is not None:
            raise corrupt(path, problem)
    owner = None if record else {c: d.doc_id for d in snap.documents.values() for c in d.chunk_ids}
    n = 0
    try:
        with open(path, "rb") as fh:
            for n, line in enumerate(fh, start=1):  # noqa: B007 - n names the bad line
                c = _decode(line.decode("utf-8"))
                cid, doc_id, text = c["id"], c["doc_id"], c["text"]
                start, end = c["start"], c["end"]
                if owner is not None and (
                    type(cid) is not int or owner.get(cid) != doc_id or cid in snap.chunks
                    or type(start) is not int or type(end) is not int or type(text) is not str
                    or not 0 <= start <= end or end - start != len(text)
                ):  # fmt: skip
                    raise corrupt(path, f"line {n}: a chunk the manifest does not list so")
                line_no = c.get("line", 1)
                page = c.get("page")  # absent in older generations and unpaged formats
                page = page if type(page) is int and page > 0 else None
                snap.chunks[cid] = Chunk(cid, doc_id, start, end, text, page)
                snap.lines[cid] = line_no if type(line_no) is int else 1
    except (FileNotFoundError, NotADirectoryError):
        raise corrupt(path, "missing") from None
    except OSError as exc:
        raise corrupt(path, f"unreadable ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise corrupt(path, f"line {n}: not a chunk ({first_line(exc)})") from None
    listed = sum(len(d.chunk_ids) for d in snap.documents.values())
    if len(snap.chunks) != listed:
        raise corrupt(path, f"{len(snap.chunks)} chunks where the manifest lists {listed}")


def read_vectors(gdir: Path, snap: Snapshot) -> FaissStore:
    """The FAISS index of ``gdir``: one finite unit vector per chunk the manifest lists."""
    store = FaissStore.load(gdir, snap.dim)
    problem = store.problem(chunk_ids(snap))
    if problem is not None:
        raise corrupt(gdir / VECTORS, problem)
    return store


def read_bm25(gdir: Path, snap: Snapshot) -> Bm25 | None:
    """The BM25 arrays of ``gdir`` (memory-mapped, checked against the chunk ids), or
    ``None`` for a generation written without them."""
    return Bm25.load(gdir, chunk_ids(snap))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(folder: Path, snap: Snapshot) -> int:
    """Write ``snap`` as a new full generation and make it live. Call under
    :func:`writer_lock`. A snapshot with segments is merged first (:func:`merged`)."""
    if snap.segments:
        raise ValueError("merge the segments first (storage.merged)")
    assert snap.store is not None
    gen = _next_generation(folder)
    _write_generation(folder, gen, snap, snap.store, snap.bm25(), snap.manifest())
    snap.generation = snap.base = gen
    _prune(folder, gen)
    return gen


def save_segment(folder: Path, snap: Snapshot, seg: Segment) -> Snapshot:
    """Write ``seg`` as a segment over ``snap`` (the live generation) and make it live.
    Returns the new live snapshot (``snap`` is not changed; it shares the base's
    vectors and BM25). Call under :func:`writer_lock`."""
    if current_generation(folder) != snap.generation:
        raise ValueError("a segment goes on top of the live generation")
    gen = snap.generation + 1
    manifest = {
        "format": SEGMENT_FORMAT,
        "embedding": {"model": snap.embedding_model, "dim": snap.dim},
        "chunking": {"size": snap.chunk_size, "overlap": snap.chunk_overlap},
        "next_chunk_id": seg.next_chunk_id,
        "documents": [d.to_json() for d in seg.documents.values()],
        "segment": {
            "base": snap.base,
            "segments": [s.generation for s in snap.segments] + [gen],
            "removed": list(seg.removed),
            "dead": sorted(seg.dead),
        },
    }
    assert seg.store is not None
    _write_generation(folder, gen, seg, seg.store, seg.bm25(), manifest)
    seg.generation = gen
    new = replace(
        snap, documents=dict(snap.documents), chunks=dict(snap.chunks),
        lines=dict(snap.lines), segments=list(snap.segments),
    )  # fmt: skip
    apply_segment(new, seg)
    # What the kept generations are read from is known: no manifest is read again.
    _prune(folder, gen, {snap.base, *(s.generation for s in new.segments)})
    return new


def merged(snap: Snapshot) -> Snapshot:
    """A copy of ``snap`` with its segments folded into the base: one FAISS index of the
    live chunks (the base's copied, tombstones removed, the segments' vectors added), and
    no BM25 yet (:func:`save` builds it). Without segments, a plain copy."""
    assert snap.store is not None
    store = snap.store.copy()
    dead = snap.dead()
    if len(dead):
        store.remove(dead)
    for seg in snap.segments:
        assert seg.store is not None
        ids, vectors = seg.store._contents()
        live = ~np.isin(ids, dead)
        store.add(ids[live], vectors[live])
    return replace(
        snap, documents=dict(snap.documents), chunks=dict(snap.chunks),
        lines=dict(snap.lines), store=store, lexical=None, segments=[],
    )  # fmt: skip


def _next_generation(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return current_generation(folder) + 1
    except IndexNotFoundError:
        return 1


def _write_generation(
    folder: Path,
    gen: int,
    part: Snapshot | Segment,
    store: FaissStore,
    lexical: Bm25,
    manifest: dict[str, Any],
) -> None:
    """Write ``part``'s chunks, ``store``, ``lexical`` and ``manifest`` (with the size and
    checksum of every file) as generation ``gen``, fsynced, and point ``CURRENT`` at it."""
    gdir = folder / _generation_name(gen)
    _remove(gdir)  # left over by a crashed writer
    tmp = folder / f".tmp-{_generation_name(gen)}-{os.getpid()}"
    _remove(tmp)
    tmp.mkdir()
    digest = hashlib.sha256()
    with open(tmp / CHUNKS, "wb") as fh:
        for cid in sorted(part.chunks):
            c = part.chunks[cid]
            row = {"id": cid, "doc_id": c.doc_id, "start": c.start, "end": c.end,
                   "line": part.lines.get(cid, 1), "text": c.text}  # fmt: skip
            if c.page is not None:
                row["page"] = c.page
            data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(data)
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    store.save(tmp)
    lexical.save(tmp)
    manifest["files"] = integrity.file_records(tmp, {CHUNKS: digest.hexdigest()})
    manifest["checksum"] = integrity.manifest_checksum(manifest)
    with open(tmp / integrity.MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp)
    os.replace(tmp, gdir)
    point_current(folder, gen)


def point_current(folder: Path, gen: int) -> None:
    """Make generation ``gen`` (complete, fsynced) the live one, atomically."""
    pointer = folder / f".{CURRENT}.tmp"
    with open(pointer, "w") as fh:
        fh.write(_generation_name(gen) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, folder / CURRENT)
    _fsync_dir(folder)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _prune(folder: Path, live: int, keep: set[int] | None = None) -> None:
    """Delete generations older than the last few (but not the base and segments the
    kept ones are read from: ``keep``, when the caller knows), and leftovers of crashed
    writers."""
    if keep is None:
        keep = set()
        for g in range(live - _KEEP_GENERATIONS + 1, live + 1):
            keep.update(_needs(folder, g))
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith("gen-") and name[4:].isdigit():
            if int(name[4:]) <= live - _KEEP_GENERATIONS and int(name[4:]) not in keep:
                shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(".tmp-gen-"):
            pid = name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _needs(folder: Path, gen: int) -> set[int]:
    """The generations reading ``gen`` needs (itself, and its base and segments)."""
    gdir = generation_path(folder, gen)
    try:
        chain = segment_chain(gdir, read_manifest(gdir), gen)
    except IndexCorruptError:
        return {gen}
    return {gen} if chain is None else {chain[0], *chain[1]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
