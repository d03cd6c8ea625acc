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
                       opened; generations written before it existed rebuild it
    .lock              held by writers so two writers never interleave

A writer builds a new generation folder completely, fsyncs it, then replaces
``CURRENT``. A crash at any point leaves the previous generation live, and a
reader always sees one whole generation, old or new.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag import integrity
from rag.errors import IndexCorruptError, IndexNotFoundError, first_line
from rag.lexical import Bm25
from rag.stores.base import DocRecord
from rag.stores.faiss_store import FILENAME as FAISS_FILENAME
from rag.stores.faiss_store import FaissStore
from rag.types import Chunk

__all__ = ["DocRecord", "Snapshot", "exists", "load", "save", "writer_lock"]

FORMAT = 1
CURRENT = "CURRENT"
CHUNKS = "chunks.jsonl"
VECTORS = FAISS_FILENAME
_KEEP_GENERATIONS = 2
# json.loads(bytes) guesses the encoding of every line; chunks.jsonl is UTF-8.
_decode = json.JSONDecoder().decode


@dataclass
class Snapshot:
    """Everything one generation holds, in memory."""

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


def corrupt(path: Path, problem: str) -> IndexCorruptError:
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
    if manifest.get("format") != FORMAT:
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
    """Write ``snap`` as a new generation and make it live. Call under :func:`writer_lock`."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        gen = current_generation(folder) + 1
    except IndexNotFoundError:
        gen = 1
    gdir = folder / _generation_name(gen)
    _remove(gdir)  # left over by a crashed writer
    tmp = folder / f".tmp-{_generation_name(gen)}-{os.getpid()}"
    _remove(tmp)
    tmp.mkdir()
    digest = hashlib.sha256()
    with open(tmp / CHUNKS, "wb") as fh:
        for cid in sorted(snap.chunks):
            c = snap.chunks[cid]
            row = {"id": cid, "doc_id": c.doc_id, "start": c.start, "end": c.end,
                   "line": snap.lines.get(cid, 1), "text": c.text}  # fmt: skip
            if c.page is not None:
                row["page"] = c.page
            data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(data)
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    assert snap.store is not None
    snap.store.save(tmp)
    snap.bm25().save(tmp)
    manifest = snap.manifest()
    manifest["files"] = integrity.file_records(tmp, {CHUNKS: digest.hexdigest()})
    manifest["checksum"] = integrity.manifest_checksum(manifest)
    with open(tmp / integrity.MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp)
    os.replace(tmp, gdir)
    point_current(folder, gen)
    snap.generation = gen
    _prune(folder, gen)
    return gen


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


def _prune(folder: Path, live: int) -> None:
    """Delete generations older than the last few, and leftovers of crashed writers."""
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith("gen-") and name[4:].isdigit():
            if int(name[4:]) <= live - _KEEP_GENERATIONS:
                shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(".tmp-gen-"):
            pid = name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
