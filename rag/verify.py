"""``rag check``: verify every file of an index folder's live generation, and repair
what is derived from others.

:func:`check_index` reports one :class:`Problem` per damaged file: sizes and sha256
checksums against the manifest (:mod:`rag.integrity`), then the same structural
checks opening does (:func:`rag.storage.load`). Generations written before
checksums existed are checked for structure only, and the report says so.

:func:`repair_index` rebuilds what other files determine, as a new generation
written the normal way (under the writer lock, atomically): a missing or damaged
``CURRENT`` is pointed at the newest generation that verifies; damaged BM25 files
are rebuilt from the chunk texts; a damaged ``vectors.faiss`` is rebuilt by
embedding the chunk texts again with the index's embedding model. The manifest and
``chunks.jsonl`` are the source of everything else: when they are damaged, only
indexing the documents again helps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag import integrity, storage
from rag.embedding import Embedder
from rag.errors import EmbeddingMismatchError, IndexCorruptError, IndexNotFoundError
from rag.lexical import FOLDER as BM25_FOLDER
from rag.storage import Snapshot
from rag.stores.faiss_store import FaissStore

_EMBED_BATCH = 1024


@dataclass(frozen=True)
class Problem:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class Report:
    """What :func:`check_index` (and :func:`repair_index`) found and did."""

    index: str
    generation: int | None = None
    checksums: bool = False
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # After a repair: the generation written (or pointed at), what was rebuilt, how many
    # chunks were embedded again; and what could not be repaired.
    repaired: dict[str, Any] | None = None
    unrepairable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems if self.repaired is None else not self.unrepairable

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "ok": self.ok, "generation": self.generation,
            "checksums": self.checksums,
            "problems": [{"file": p.path, "problem": p.problem} for p in self.problems],
            "notes": self.notes, "repaired": self.repaired, "unrepairable": self.unrepairable,
        }  # fmt: skip

    def summary(self) -> str:
        """One line: what is wrong, for the CLI's error line."""
        if self.unrepairable:
            return f"the index at {self.index} could not be repaired: {self.unrepairable[0]}"
        return (
            f"the index at {self.index} is damaged ({len(self.problems)} "
            f"file{'s' if len(self.problems) != 1 else ''}); rag check --repair rebuilds "
            "BM25 and vectors from the chunks"
        )

    def _add(self, exc: IndexCorruptError) -> None:
        path = exc.path or self.index
        if all(p.path != path for p in self.problems):  # one line per file
            self.problems.append(Problem(path, exc.problem))


def check_index(folder: Path) -> Report:
    """Verify the live generation of the index in ``folder`` completely."""
    folder = Path(folder)
    if not storage.exists(folder):
        raise IndexNotFoundError(f"no index at {folder}")
    report = Report(str(folder))
    try:
        report.generation = storage.current_generation(folder)
    except IndexCorruptError as exc:
        report._add(exc)
        return report
    _check_chain(folder, report.generation, report)
    return report


def _check_chain(folder: Path, gen: int, report: Report) -> None:
    """Check generation ``gen`` and, for a segment, its base and the segments under it."""
    gdir = storage.generation_path(folder, gen)
    manifest = _check_generation(gdir, report)
    chain = _chain(gdir, manifest, report)
    if chain is not None:
        # A segment: the base and the segments under it are part of the index too.
        base, segments = chain
        for g in [base, *segments[:-1]]:
            _check_generation(storage.generation_path(folder, g), report)
        if not report.problems:
            try:
                storage.load(folder)  # and that they fit together (tombstones, ids)
            except IndexCorruptError as exc:
                report._add(exc)


def _chain(
    gdir: Path, manifest: dict[str, Any] | None, report: Report
) -> tuple[int, list[int]] | None:
    if manifest is None:
        return None
    try:
        return storage.segment_chain(gdir, manifest, int(gdir.name[4:]))
    except IndexCorruptError as exc:
        report._add(exc)
        return None


def _check_generation(gdir: Path, report: Report) -> dict[str, Any] | None:
    """Check one generation folder's files (a segment's alone); its manifest, if it reads."""
    try:
        manifest = storage.read_manifest(gdir)
    except IndexCorruptError as exc:
        report._add(exc)
        return None
    files = manifest.get("files")
    report.checksums = files is not None
    if files is None:
        report.notes.append(
            f"{gdir.name} was written before checksums: its structure was checked, "
            "not its checksums (the next write adds them)"
        )
    for rel, rec in (files or {}).items():
        problem = integrity.size_problem(gdir / rel, rec["size"]) or integrity.checksum_problem(
            gdir / rel, rec["sha256"]
        )
        if problem is not None:
            report._add(IndexCorruptError.at(gdir / rel, problem))
    snap = storage.snapshot_of(manifest, 0)
    for step in (
        lambda: storage.read_chunks(gdir, snap, manifest),
        lambda: storage.read_vectors(gdir, snap),
        lambda: storage.read_bm25(gdir, snap),
    ):
        try:
            step()
        except IndexCorruptError as exc:
            report._add(exc)
    return manifest


def _generation_ok(folder: Path, gen: int) -> bool:
    report = Report(str(folder), gen)
    _check_chain(folder, gen, report)
    return not report.problems


def repair_index(folder: Path, embedder: Callable[[], Embedder]) -> Report:
    """Check the index in ``folder`` and rebuild what is derived from files that verify
    (see the module docstring). ``embedder`` is called only when vectors must be
    embedded again. Writes under the writer lock; the report says what was done."""
    folder = Path(folder)
    with storage.writer_lock(folder):
        report = check_index(folder)
        if not report.problems:
            return report
        gdir = storage.generation_path(folder, report.generation or 0)
        bad = {p.path for p in report.problems}
        if report.generation is None or str(gdir) in bad:  # CURRENT, or what it names
            return _repoint(folder, report)
        try:
            manifest = storage.read_manifest(gdir)
            chain = storage.segment_chain(gdir, manifest, report.generation)
        except IndexCorruptError:
            chain = None  # reported as a problem of the manifest, below
        gens = [report.generation] if chain is None else [chain[0], *chain[1]]
        dirs = [storage.generation_path(folder, g) for g in gens]
        if any(str(d) in bad for d in dirs):  # a base or segment is gone: an older one
            return _repoint(folder, report)
        primary = {str(d / f) for d in dirs for f in (integrity.MANIFEST, storage.CHUNKS)}
        if bad & primary:
            report.repaired = {}
            report.unrepairable = [
                f"{path}: holds what the other files are built from; index the documents "
                "again (rag index), or restore a backup"
                for path in sorted(bad & primary)
            ]
            return report
        rebuilt = ["bm25"] if any(_in_bm25(d, p) for d in dirs for p in bad) else []
        embedded = 0
        snap: Snapshot | None = None
        for g, d in zip(gens, dirs, strict=True):
            m = storage.read_manifest(d)
            part = storage.snapshot_of(m, g)
            storage.read_chunks(d, part, m)
            if str(d / storage.VECTORS) in bad:
                part.store, n = _embed_again(part, embedder())
                embedded += n
                if "vectors" not in rebuilt:
                    rebuilt.append("vectors")
            else:
                part.store = storage.read_vectors(d, part)
            if snap is None:
                snap = part
                continue
            info = m["segment"]
            storage.apply_segment(snap, storage.Segment(
                dim=part.dim, next_chunk_id=part.next_chunk_id, documents=part.documents,
                chunks=part.chunks, lines=part.lines, removed=list(info["removed"]),
                dead=list(info["dead"]), store=part.store, generation=g,
            ), d / integrity.MANIFEST)  # fmt: skip
        assert snap is not None
        snap = storage.merged(snap)
        gen = storage.save(folder, snap)  # builds BM25 from the chunks
        report.repaired = {"generation": gen, "rebuilt": rebuilt, "embedded": embedded}
        after = check_index(folder)
        report.unrepairable = [str(p) for p in after.problems]
        return report


def _in_bm25(gdir: Path, path: str) -> bool:
    return Path(path).is_relative_to(gdir / BM25_FOLDER)


def _repoint(folder: Path, report: Report) -> Report:
    """Point ``CURRENT`` at the newest generation that verifies (when the generation it
    named is gone, the writes after that one are lost: the report says which it is)."""
    for gen in storage.generations(folder):
        if _generation_ok(folder, gen):
            storage.point_current(folder, gen)
            report.repaired = {"generation": gen, "rebuilt": ["CURRENT"], "embedded": 0}
            return report
    report.repaired = {}
    report.unrepairable = [f"{folder}: no generation verifies; index the documents again"]
    return report


def _embed_again(snap: Snapshot, embedder: Embedder) -> tuple[FaissStore, int]:
    """A FAISS store over the chunk texts embedded as ``rag index`` embeds them."""
    if embedder.name != snap.embedding_model or embedder.dim != snap.dim:
        raise EmbeddingMismatchError(
            f"the vectors must be embedded again with '{snap.embedding_model}', the model the "
            f"index was built with, not '{embedder.name}' (set RAG_EMBEDDING_MODEL)"
        )
    store = FaissStore(snap.dim)
    ids = sorted(snap.chunks)
    for a in range(0, len(ids), _EMBED_BATCH):
        part = ids[a : a + _EMBED_BATCH]
        # The text rag.pipeline embeds for a chunk: its document's title, then the chunk.
        texts = [
            f"{snap.documents[snap.chunks[c].doc_id].title}\n\n{snap.chunks[c].text}" for c in part
        ]
        store.add(np.asarray(part, dtype=np.int64), embedder.embed(texts))
    return store, len(ids)


def print_report(report: Report, echo: Callable[[str], Any]) -> None:
    """The report as ``rag check`` prints it: one line per damaged file, then notes and
    what a repair did."""
    for p in report.problems:
        echo(str(p))
    for note in report.notes:
        echo(f"note: {note}")
    if report.repaired:
        r = report.repaired
        what = ", ".join(r["rebuilt"]) or "nothing"
        embedded = f"; {r['embedded']} chunks embedded again" if r["embedded"] else ""
        echo(f"repaired: gen-{r['generation']:06d} is live (rebuilt {what}{embedded})")
    if report.ok and not report.problems:
        checked = "checksums and structure" if report.checksums else "structure"
        echo(f"ok: {report.index} (gen-{report.generation or 0:06d}, {checked} verified)")
