"""The on-disk index: generation folders switched atomically by a ``CURRENT`` file.

Layout of an index folder::

    CURRENT            name of the live generation, replaced atomically (os.replace)
    gen-000007/        one complete, immutable snapshot
      manifest.json    format, embedding model and dimension, chunking, documents
      chunks.jsonl     one chunk per line: id, doc_id, start, end, line, text, and
                       page (PDFs: the 1-based page the chunk starts on)
      vectors.faiss    FAISS index (ids are chunk ids)
      bm25/            BM25 over the chunk texts (rag.lexical), memory-mapped when
                       opened; generations written before it existed rebuild it
    .lock              held by writers so two writers never interleave

A writer builds a new generation folder completely, fsyncs it, then replaces
``CURRENT``. A crash at any point leaves the previous generation live, and a
reader always sees one whole generation, old or new.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import IndexCorruptError, IndexNotFoundError
from rag.lexical import Bm25
from rag.stores.base import DocRecord
from rag.stores.faiss_store import FaissStore
from rag.types import Chunk

__all__ = ["DocRecord", "Snapshot", "exists", "load", "save", "writer_lock"]

FORMAT = 1
CURRENT = "CURRENT"
_KEEP_GENERATIONS = 2


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
    return (folder / CURRENT).is_file()


def _generation_name(n: int) -> str:
    return f"gen-{n:06d}"


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
    try:
        name = (folder / CURRENT).read_text().strip()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index at {folder} (build one with: rag index PATH --index {folder})"
        ) from None
    if not name.startswith("gen-") or not name[4:].isdigit():
        raise IndexCorruptError(f"{folder / CURRENT} is corrupt: {name[:40]!r}")
    return int(name[4:])


def load(folder: Path) -> Snapshot:
    """Read the live generation of the index in ``folder``."""
    if not folder.is_dir():
        raise IndexNotFoundError(
            f"no index at {folder} (build one with: rag index PATH --index {folder})"
        )
    gen = current_generation(folder)
    gdir = folder / _generation_name(gen)
    try:
        manifest = json.loads((gdir / "manifest.json").read_text("utf-8"))
        if manifest.get("format") != FORMAT:
            raise IndexCorruptError(f"{gdir}: unknown index format {manifest.get('format')!r}")
        dim = int(manifest["embedding"]["dim"])
        snap = Snapshot(
            embedding_model=manifest["embedding"]["model"],
            dim=dim,
            chunk_size=int(manifest["chunking"]["size"]),
            chunk_overlap=int(manifest["chunking"]["overlap"]),
            next_chunk_id=int(manifest["next_chunk_id"]),
            generation=gen,
        )
        for d in manifest["documents"]:
            rec = DocRecord.from_json(d)
            snap.documents[rec.doc_id] = rec
        with open(gdir / "chunks.jsonl", encoding="utf-8") as fh:
            for line in fh:
                c = json.loads(line)
                page = c.get("page")  # absent in older generations and unpaged formats
                page = page if type(page) is int and page > 0 else None
                snap.chunks[c["id"]] = Chunk(
                    c["id"], c["doc_id"], c["start"], c["end"], c["text"], page
                )
                snap.lines[c["id"]] = c.get("line", 1)
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"index at {folder} is corrupt: missing {exc.filename}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"index at {folder} is corrupt: {exc}") from None
    snap.store = FaissStore.load(gdir, dim)
    if len(snap.store) != len(snap.chunks):
        raise IndexCorruptError(
            f"index at {folder} is corrupt: {len(snap.store)} vectors for {len(snap.chunks)} chunks"
        )
    try:
        snap.lexical = Bm25.load(gdir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"index at {folder} is corrupt: {exc}") from None
    if snap.lexical is not None and len(snap.lexical) != len(snap.chunks):
        raise IndexCorruptError(
            f"index at {folder} is corrupt: BM25 over {len(snap.lexical)} chunks, "
            f"{len(snap.chunks)} chunks"
        )
    return snap


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
    if gdir.exists():  # left over by a crashed writer
        shutil.rmtree(gdir)
    tmp = folder / f".tmp-{_generation_name(gen)}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for cid in sorted(snap.chunks):
            c = snap.chunks[cid]
            row = {"id": cid, "doc_id": c.doc_id, "start": c.start, "end": c.end,
                   "line": snap.lines.get(cid, 1), "text": c.text}  # fmt: skip
            if c.page is not None:
                row["page"] = c.page
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    assert snap.store is not None
    snap.store.save(tmp)
    snap.bm25().save(tmp)
    with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(snap.manifest(), fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp)
    os.replace(tmp, gdir)
    pointer = folder / f".{CURRENT}.tmp"
    with open(pointer, "w") as fh:
        fh.write(_generation_name(gen) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, folder / CURRENT)
    _fsync_dir(folder)
    snap.generation = gen
    _prune(folder, gen)
    return gen


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
