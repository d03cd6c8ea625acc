"""Stores: Milvus Lite against the index folder (FAISS + in-memory BM25) on the same chunks.

Both stores get the same documents and the same vectors (each text is embedded
once with the packaged MiniLM; the second store reuses the vectors), then answer
the same questions:

* **write**: seconds to write every chunk into the store (embedding excluded);
* **store search**: dense search + BM25 + fetching the top chunks, the store's part of
  ``Rag.search``, with the query vector computed beforehand;
* **Rag.search**: the whole in-process search (fusion, passages) with the query
  vector served from the cache, so the two stores differ only by their own work;
* **same top-k**: questions whose top-5 passages (document, start) agree.

Corpus: the RGB dev passages from ../shared/data (one document each), plus
``--synthetic N`` generated documents (random words of that vocabulary, random unit
vectors) to see how each store scales; questions are RGB's.

    .venv/bin/python bench/bench_store.py
    .venv/bin/python bench/bench_store.py --synthetic 20000 --json /tmp/store.json

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables and f-strings read better on one line)
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RGB = REPO.parent / "shared" / "data" / "rgb_en_fact_dev.jsonl"
sys.path.insert(0, str(BENCH))

from bench_ingest import machine  # noqa: E402


class CachedEmbedder:
    """The real embedder for real texts, embedded once; seeded random unit vectors for
    synthetic texts (marked by a prefix), so both stores see identical vectors."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        real = [t for t in missing if "\n\nsynthetic " not in t]
        if real:
            for t, v in zip(real, self.inner.embed(real, progress=progress), strict=True):
                self.cache[t] = v
        for t in missing:
            if t not in self.cache:
                seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big")
                v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
                self.cache[t] = v / np.linalg.norm(v)
        return (
            np.stack([self.cache[t] for t in texts])
            if texts
            else np.zeros((0, self.dim), np.float32)
        )


def corpus(synthetic: int) -> tuple[list[Any], list[str]]:
    from rag.documents import text_document

    passages: dict[str, None] = {}
    questions = []
    with open(RGB, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            questions.append(row["query"])
            for p in [*row.get("positive", []), *row.get("negative", [])]:
                passages[p.strip()] = None
    docs = [text_document(p, f"RGB passage {i}", f"rgb/{i:05d}") for i, p in enumerate(passages)]
    vocab = sorted({w for p in passages for w in p.split() if w.isalpha()})
    rng = np.random.default_rng(0)
    for i in range(synthetic):
        words = " ".join(rng.choice(vocab, size=80))
        docs.append(text_document(f"synthetic {words}.", f"Synthetic {i}", f"synthetic/{i:06d}"))
    return docs, questions


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def measure(
    rag: Any, embedder: CachedEmbedder, questions: list[str], repeats: int
) -> dict[str, Any]:
    store = rag.store
    vectors = {q: embedder.inner.embed([q])[0] for q in questions}
    store_ms: list[float] = []
    search_ms: list[float] = []
    tops = {}
    for _ in range(repeats):
        for q in questions:
            t0 = time.perf_counter()
            dense = store.search(vectors[q], 20)
            lexical = store.lexical(q, 20)
            store.chunks([c for c, _ in dense[:5]] + [c for c, _ in lexical[:5]])
            store_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            hits = rag.search(q, 5)
            search_ms.append((time.perf_counter() - t0) * 1000)
            tops[q] = [(h.doc_id, h.start) for h in hits]
    return {
        "store_p50_ms": statistics.median(store_ms), "store_p95_ms": pct(store_ms, 95),
        "search_p50_ms": statistics.median(search_ms), "search_p95_ms": pct(search_ms, 95),
        "tops": tops,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", type=int, default=0, help="extra generated documents")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from rag import Rag, Settings
    from rag.embedding import SentenceTransformerEmbedder

    info = machine()
    embedder = CachedEmbedder(SentenceTransformerEmbedder(Settings().embedding_model))
    docs, questions = corpus(args.synthetic)
    results: dict[str, Any] = {"machine": info, "documents": len(docs), "questions": len(questions)}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        # Embed once (through the folder store's add), then time each store's write alone.
        warm = Rag.open(Path(tmp) / "warm", Settings(llm="none"), create=True, embedder=embedder)  # type: ignore[arg-type]
        warm.add_documents(docs)
        stores = {
            "folder (FAISS + BM25)": Settings(index=Path(tmp) / "folder", llm="none"),
            "Milvus Lite": Settings(store=f"milvus://{tmp}/m.db", llm="none"),
        }
        for name, settings in stores.items():
            rag = Rag.open(None, settings, create=True, embedder=embedder)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            summary = rag.add_documents(docs)
            write_s = time.perf_counter() - t0
            m = measure(rag, embedder, questions, args.repeats)
            m.update(write_s=write_s, chunks=summary.chunks)
            results[name] = m
            rag.close()
    names = list(stores)
    base, other = results[names[0]], results[names[1]]
    same = sum(base["tops"][q] == other["tops"][q] for q in questions)
    results["same_top5"] = same
    for name in names:
        results[name].pop("tops")
    print(
        f"\n{results['documents']} documents, {base['chunks']} chunks, {len(questions)} questions x {args.repeats}; load {info['loadavg_at_start'][0]:.1f} at start\n"
    )
    print(
        "| store | write s | store search p50 / p95 ms | Rag.search p50 / p95 ms (cached query vector) |"
    )
    print("|---|---|---|---|")
    for name in names:
        r = results[name]
        print(
            f"| {name} | {r['write_s']:.1f} | {r['store_p50_ms']:.2f} / {r['store_p95_ms']:.2f} | {r['search_p50_ms']:.1f} / {r['search_p95_ms']:.1f} |"
        )
    ratio = other["store_p50_ms"] / base["store_p50_ms"]
    print(
        f"\nMilvus Lite / folder: store search p50 x{ratio:.1f}, Rag.search p50 x{other['search_p50_ms'] / base['search_p50_ms']:.2f}, write x{other['write_s'] / base['write_s']:.1f}"
    )
    print(f"same top-5 passages: {same}/{len(questions)} questions")
    results["ratio_store_p50"] = ratio
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
