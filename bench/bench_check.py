"""What checking an index costs: opening it (sizes, checksums of the manifest and the
chunks, structure of vectors and BM25), `rag check` (every sha256), and saving (the
checksums written).

Builds one generation of ``--chunks`` chunks (synthetic ~700-character texts, random
unit vectors of ``--dim``) and reports, all measured in this run:

* **open**: :func:`rag.storage.load`, against reading the same files without any
  check (the baseline: the load as it was before the checks);
* **check**: :func:`rag.verify.check_index` (all checksums and the structure);
* **save**: :func:`rag.storage.save`, against the same save without the checksums.

    .venv/bin/python bench/bench_check.py                  # 100k chunks
    .venv/bin/python bench/bench_check.py --chunks 20000

Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np

from rag import integrity, storage
from rag.lexical import Bm25
from rag.storage import Snapshot
from rag.stores.base import DocRecord
from rag.stores.faiss_store import FaissStore
from rag.types import Chunk
from rag.verify import check_index

WORDS = [
    "army", "announced", "withdrawal", "troops", "mission", "officials", "decision",
    "analysts", "years", "bread", "dough", "minutes", "crust", "market", "prices", "storm",
    "coast", "election", "votes", "river", "bridge", "council",
]  # fmt: skip


def snapshot(chunks: int, dim: int) -> Snapshot:
    rng = np.random.default_rng(0)
    snap = Snapshot("bench/random", dim, 700, 200, store=FaissStore(dim))
    per_doc = 50
    for d in range(0, chunks, per_doc):
        ids = tuple(range(d, min(chunks, d + per_doc)))
        doc_id = f"doc{d:08d}"
        for cid in ids:
            text = " ".join(rng.choice(WORDS, 100))[:700]
            snap.chunks[cid] = Chunk(cid, doc_id, 0, len(text), text)
        snap.documents[doc_id] = DocRecord(doc_id, f"/d/{doc_id}.txt", doc_id, "0" * 64, None, ids)
    snap.next_chunk_id = chunks
    for a in range(0, chunks, 65_536):
        n = min(chunks, a + 65_536) - a
        v = rng.standard_normal((n, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        assert snap.store is not None
        snap.store.add(np.arange(a, a + n, dtype=np.int64), v)
    return snap


def timed(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """The median time of each of ``fns``, run in turn ``repeat`` times (interleaved, so
    a busy machine slows them alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def bare_load(folder: Path) -> Snapshot:
    """The generation read as before any check existed: the same files, parsed the same
    way, nothing verified (the baseline)."""
    gdir = storage.generation_path(folder, storage.current_generation(folder))
    manifest = json.loads((gdir / "manifest.json").read_bytes())
    snap = storage.snapshot_of(manifest, 0)
    with open(gdir / "chunks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            c = json.loads(line)
            snap.chunks[c["id"]] = Chunk(c["id"], c["doc_id"], c["start"], c["end"], c["text"])
            snap.lines[c["id"]] = c.get("line", 1)
    snap.store = FaissStore.load(gdir, snap.dim)
    with mock.patch.object(Bm25, "_problem", lambda self, ids: None):
        snap.lexical = Bm25.load(gdir)
    return snap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        snap = snapshot(args.chunks, args.dim)
        snap.lexical = Bm25(sorted(snap.chunks), [c.text for c in snap.chunks.values()])

        def save_bare() -> None:
            with mock.patch.object(integrity, "file_records", lambda gdir, known=None: {}):
                storage.save(folder, snap)

        saved, saved_bare = timed([lambda: storage.save(folder, snap), save_bare], args.repeat)
        storage.save(folder, snap)
        gdir = storage.generation_path(folder, storage.current_generation(folder))
        size = sum(p.stat().st_size for p in gdir.rglob("*") if p.is_file())
        opened, bare = timed([lambda: storage.load(folder), lambda: bare_load(folder)], args.repeat)
        (check,) = timed([lambda: check_index(folder)], args.repeat)
    print(f"{args.chunks:,} chunks, {args.dim}-d vectors, generation {size / 1e6:,.0f} MB")
    print(f"open   {opened:6.2f} s   without checks {bare:6.2f} s   ratio {opened / bare:.2f}")
    print(f"check  {check:6.2f} s   (every sha256, then the structure as open checks it)")
    print(
        f"save   {saved:6.2f} s   without checksums {saved_bare:6.2f} s   "
        f"ratio {saved / saved_bare:.2f}"
    )


if __name__ == "__main__":
    main()
