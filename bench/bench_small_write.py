"""What adding one small document to a large index costs: time and bytes written.

Builds an index of ``--chunks`` chunks through the store API (synthetic ~700-character
texts, random unit vectors of ``--dim``: no embedding), then adds one ~5 kB document
(chunked as ``rag index`` chunks it, random vectors: the embedding time is left out)
two ways, in the same run:

* **segment** (now): the write goes into a segment next to the base generation;
* **full** (before): the same write as a complete new generation (segments disabled,
  ``storage.MAX_SEGMENTS = 0``: what every write did before segments, and what a merge
  does).

For each: the time of ``FolderStore.write`` (under the writer lock), the bytes of the
new generation folder, the bytes the process wrote (``wchar`` of /proc/self/io), and
the time another process's handle takes to pick the write up (``refresh``).

    .venv/bin/python bench/bench_small_write.py                      # 10k and 100k chunks
    .venv/bin/python bench/bench_small_write.py --chunks 1000000

Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rag import storage
from rag.chunking import chunk_document, line_of
from rag.stores import DocRecord, IndexMeta, NewDocument
from rag.stores.base import Batch
from rag.stores.folder import FolderStore
from rag.types import Chunk

WORDS = [
    "army", "announced", "withdrawal", "troops", "mission", "officials", "decision",
    "analysts", "years", "bread", "dough", "minutes", "crust", "market", "prices", "storm",
    "coast", "election", "votes", "river", "bridge", "council",
]  # fmt: skip
CHUNK_SIZE, OVERLAP = 1000, 200
_BATCH = 20_000


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def base_batches(chunks: int, dim: int) -> Iterator[Batch]:
    rng = np.random.default_rng(0)
    vocab = np.array(WORDS + [f"w{i}" for i in range(5000)])
    per_doc = 10
    for a in range(0, chunks, _BATCH):
        docs = []
        for d in range(a, min(chunks, a + _BATCH), per_doc):
            n = min(per_doc, chunks - d)
            doc_id = f"doc{d:08d}"
            parts = []
            for _ in range(n):
                text = " ".join(rng.choice(vocab, 110))[:700]
                parts.append(Chunk(0, doc_id, 0, len(text), text))
            record = DocRecord(doc_id, f"/d/{doc_id}.txt", doc_id, "0" * 64, None, ())
            docs.append(NewDocument(record, tuple(parts), (1,) * n))
        yield docs, unit(rng, sum(len(d.chunks) for d in docs), dim)


def small_document(name: str, dim: int) -> Batch:
    rng = np.random.default_rng(hash(name) % 2**32)
    text = ""
    while len(text) < 5000:
        text += " ".join(rng.choice(WORDS, 12)) + ".\n"
    doc_id = f"small-{name}"
    chunks = chunk_document(doc_id, text, CHUNK_SIZE, OVERLAP, 0)
    record = DocRecord(doc_id, f"/d/{doc_id}.txt", name, "1" * 64, None, ())
    lines = tuple(line_of(text, c.start) for c in chunks)
    return [NewDocument(record, tuple(chunks), lines)], unit(rng, len(chunks), dim)


def wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def add_one(store: FolderStore, reader: FolderStore, meta: IndexMeta, name: str) -> dict:
    batch = small_document(name, meta.dim)
    with store.writing():
        w0, t0 = wchar(), time.perf_counter()
        store.write(meta, (), iter([batch]))
        seconds, written = time.perf_counter() - t0, wchar() - w0
    live = storage.generation_path(store.path, storage.current_generation(store.path))
    t0 = time.perf_counter()
    reader.refresh()
    refresh = time.perf_counter() - t0
    return {
        "seconds": seconds, "written": written, "folder": folder_bytes(live),
        "refresh": refresh, "segments": len(store.snapshot.segments),
    }  # fmt: skip


def run(chunks: int, dim: int, repeats: int) -> None:
    meta = IndexMeta("bench/random", dim, CHUNK_SIZE, OVERLAP)
    with tempfile.TemporaryDirectory(prefix="bench-small-write-") as tmp:
        store = FolderStore(Path(tmp) / "index")
        t0 = time.perf_counter()
        with store.writing():
            store.write(meta, (), base_batches(chunks, dim))
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        reader = FolderStore(store.path)
        opened = time.perf_counter() - t0
        base_size = folder_bytes(storage.generation_path(store.path, store.snapshot.base))
        print(
            f"\n{chunks:,} chunks (dim {dim}): built in {build:.1f} s, opened in {opened:.1f} s,"
            f" base generation {base_size / 1e6:.1f} MB",
            flush=True,
        )
        seg = [add_one(store, reader, meta, f"seg{i}") for i in range(repeats)]
        keep = storage.MAX_SEGMENTS
        storage.MAX_SEGMENTS = 0  # every write a full generation, as before segments
        try:
            full = [add_one(store, reader, meta, f"full{i}") for i in range(max(1, repeats // 2))]
        finally:
            storage.MAX_SEGMENTS = keep
        chunks_added = len(small_document("seg0", dim)[0][0].chunks)
        print(f"one ~5 kB document ({chunks_added} chunks), median of {len(seg)} / {len(full)}:")
        rows = [("segment (now)", seg), ("full generation (before)", full)]
        for label, runs in rows:
            print(
                f"  {label:26} write {_med(runs, 'seconds'):7.3f} s   "
                f"bytes written {_med(runs, 'written') / 1e6:9.3f} MB   "
                f"generation folder {_med(runs, 'folder') / 1e6:9.3f} MB   "
                f"reader refresh {_med(runs, 'refresh'):6.3f} s",
                flush=True,
            )
        ratio = _med(full, "seconds") / max(_med(seg, "seconds"), 1e-9)
        byte_ratio = _med(full, "written") / max(_med(seg, "written"), 1)
        print(f"  segment vs full: {ratio:.0f}x faster, {byte_ratio:.0f}x fewer bytes written")


def _med(runs: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    for n in args.chunks:
        run(n, args.dim, args.repeats)


if __name__ == "__main__":
    main()
