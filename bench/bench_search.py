"""Search: ``Rag.search`` latency at 10k / 100k / 1M chunks against FAISS's own search time.

Each size runs in its own process (clean peak memory). The index is built
directly, without embedding a million texts: synthetic unit vectors and texts go
into a ``Snapshot`` with a ``FaissStore`` (which switches to its approximate IVF
index above ``rag.stores.faiss_store.APPROXIMATE_ABOVE`` vectors), ``rag.storage.save``
writes it as a generation (BM25 arrays included), and ``Rag.open`` opens it the
normal way (so the open time is measured too; BM25 is memory-mapped, and the
memory is measured at open and again after the queries have paged it in).

Synthetic data (``--data``), anchored on real MiniLM embeddings of the RGB
passages and the seeds chunks:

* ``topics``: documents of 10 chunks; each document has a centre drawn from a
  Gaussian with the mean and covariance of the real embeddings, its chunks
  scatter around it so that chunks of one document have a mean cosine of about
  0.55 (as the RGB passages of one question, and the seeds chunks of one
  article, have). No structure beyond that: a hard case for approximate search.
* ``realmix``: each vector mixes two real embeddings plus a little noise: the
  neighbourhoods of real data, repeated; an easy case.

Queries: the real question embeddings (RGB queries and eval/seeds_qa.jsonl) for
latency; for recall@10 also held-out vectors from the same generator.

Over HTTP (unless ``--no-http``): the service (``api.app.create_app`` on uvicorn, a
loopback port, serving the same ``Rag``) answers ``GET /v1/search?k=5`` for every
question, sequentially, interleaved with ``Rag.search`` in-process as the baseline.

Timed per query, interleaved (the order alternates): ``Rag.search`` (embed the
query, FAISS, BM25, fusion), FAISS's own ``index.search`` on the store's index
with the same query vector and depth, and the parts (query embedding, BM25).
Above the threshold also an exact ``IndexFlatIP`` over the same vectors (the
exact baseline and the ground truth for recall), on fewer queries.

    .venv/bin/python bench/bench_search.py                       # 10k, 100k, 1M
    .venv/bin/python bench/bench_search.py --sizes 10000,100000 --json /tmp/search.json
    .venv/bin/python bench/bench_search.py --sizes 1000000 --recall-data topics,realmix

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables and f-strings read better on one line)
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RGB = REPO.parent / "shared" / "data" / "rgb_en_fact_dev.jsonl"
SEEDS_QA = REPO / "eval" / "seeds_qa.jsonl"
DIM = 384
PER_DOC = 10
WORDS = 50
WITHIN_NOISE = 0.95  # gives a mean within-document cosine of about 0.55
DEPTH = 20  # what Rag._retrieve asks FAISS and BM25 for at k=5


# -- real anchors -------------------------------------------------------------------------


def real_texts() -> tuple[list[str], list[str]]:
    """Real passages (RGB + seeds chunks, as embedded by the pipeline) and real questions."""
    from rag.chunking import chunk_document
    from rag.documents import read_document

    passages, questions = [], []
    with open(RGB, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            passages.extend(row.get("positive", []) + row.get("negative", []))
            questions.append(row["query"])
    for f in sorted((REPO / "seeds").glob("*.txt")):
        d = read_document(f)
        passages.extend(
            f"{d.title}\n\n{c.text}" for c in chunk_document(d.doc_id, d.text, 700, 200, 0)
        )
    with open(SEEDS_QA, encoding="utf-8") as fh:
        questions.extend(json.loads(line)["question"] for line in fh if line.strip())
    return passages, questions


def anchors(cache: Path) -> dict[str, Any]:
    """Real embeddings and questions, computed once per run and shared by the children."""
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return {k: z[k] for k in z.files}
    from rag.embedding import SentenceTransformerEmbedder

    passages, questions = real_texts()
    emb = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    np.savez(
        cache,
        passages=emb.embed(passages),
        questions=emb.embed(questions),
        passage_texts=np.array(passages),
        question_texts=np.array(questions),
    )
    return anchors(cache)


# -- synthetic data -----------------------------------------------------------------------


class Generator:
    def __init__(self, real: np.ndarray, kind: str, seed: int, n_docs: int) -> None:
        self.kind = kind
        self.real = real.astype(np.float32)
        mu = real.mean(0).astype(np.float32)
        cov = np.cov(real.T) + 1e-3 * np.eye(DIM)
        self.L = np.linalg.cholesky(cov).astype(np.float32)
        self.rng = np.random.default_rng(seed)
        self.n_docs = n_docs
        if kind == "topics":  # one centre per document
            self.centres = mu + self._gauss(n_docs)

    def _gauss(self, n: int) -> np.ndarray:
        return self.rng.standard_normal((n, DIM), dtype=np.float32) @ self.L.T

    def _unit(self, x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def vectors(self, n: int) -> np.ndarray:
        """Vectors for chunks ``0..n-1`` (chunk i belongs to document ``i // PER_DOC``)."""
        out = np.empty((n, DIM), np.float32)
        step = 65_536
        for a in range(0, n, step):
            b = min(n, a + step)
            if self.kind == "topics":
                x = self.centres[np.arange(a, b) // PER_DOC] + WITHIN_NOISE * self._gauss(b - a)
            elif self.kind == "realmix":
                pick = self.rng.integers(0, len(self.real), (b - a, 2))
                w = self.rng.uniform(0.5, 1.0, (b - a, 1)).astype(np.float32)
                x = w * self.real[pick[:, 0]] + (1 - w) * self.real[pick[:, 1]]
                x += 0.05 * self.rng.standard_normal((b - a, DIM), dtype=np.float32)
            else:  # uniform on the sphere
                x = self.rng.standard_normal((b - a, DIM), dtype=np.float32)
            out[a:b] = self._unit(x)
        return out

    def held_out(self, n: int) -> np.ndarray:
        """Queries from the data's own distribution (new chunks of existing documents)."""
        if self.kind == "topics":
            docs = self.rng.integers(0, self.n_docs, n)
            return self._unit(self.centres[docs] + WITHIN_NOISE * self._gauss(n))
        return self.vectors(n)


def synthetic_texts(n: int, passages: list[str], rng: np.random.Generator) -> list[str]:
    """About WORDS words per chunk: 30% from the document's real passage, 70% from the
    word frequencies of the whole real corpus."""
    tok = re.compile(r"[A-Za-z][A-Za-z'-]+|\d+")
    words_per_passage = [tok.findall(p) or ["empty"] for p in passages]
    counts = Counter(w for ws in words_per_passage for w in ws)
    vocab = np.array(list(counts))
    p = np.array([counts[w] for w in vocab], dtype=np.float64)
    p /= p.sum()
    flat = np.array([w for ws in words_per_passage for w in ws])
    offsets = np.cumsum([0] + [len(ws) for ws in words_per_passage])
    lengths = np.diff(offsets)
    own = int(WORDS * 0.3)
    texts: list[str] = []
    step = 50_000
    for a in range(0, n, step):
        b = min(n, a + step)
        src = (np.arange(a, b) // PER_DOC) % len(passages)
        pick_own = offsets[src, None] + (rng.random((b - a, own)) * lengths[src, None]).astype(int)
        own_words = flat[pick_own]
        common = vocab[rng.choice(len(vocab), size=(b - a, WORDS - own), p=p)]
        rows = np.concatenate([own_words, common], axis=1)
        rng.permuted(rows, axis=1, out=rows)
        texts.extend(" ".join(r) + "." for r in rows)
    return texts


# -- helpers ------------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(
        np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)])
    )


# -- one size, in a child process ---------------------------------------------------------


def child(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    from rag import Rag, Settings, storage
    from rag.storage import DocRecord, Snapshot
    from rag.stores.faiss_store import APPROXIMATE_ABOVE, FaissStore
    from rag.types import Chunk

    n = args.child
    a = anchors(args.anchors)
    real = a["passages"]
    passages = [str(t) for t in a["passage_texts"]]
    qtexts = [str(t) for t in a["question_texts"]]
    res: dict[str, Any] = {"n": n, "data": args.data, "approximate_above": APPROXIMATE_ABOVE}
    T: dict[str, float] = {}

    # Build the snapshot.
    gen = Generator(real, args.data, seed=n, n_docs=(n + PER_DOC - 1) // PER_DOC)
    t0 = time.perf_counter()
    vectors = gen.vectors(n)
    T["gen_vectors_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = synthetic_texts(n, passages, np.random.default_rng(n + 1))
    T["gen_texts_s"] = time.perf_counter() - t0

    model_name = "sentence-transformers/all-MiniLM-L6-v2"
    snap = Snapshot(embedding_model=model_name, dim=DIM, chunk_size=700, chunk_overlap=200)
    t0 = time.perf_counter()
    for d in range(0, n, PER_DOC):
        doc_id = f"{d // PER_DOC:016x}"
        ids = range(d, min(n, d + PER_DOC))
        pos = 0
        for cid in ids:
            text = texts[cid]
            snap.chunks[cid] = Chunk(cid, doc_id, pos, pos + len(text), text)
            snap.lines[cid] = 1
            pos += len(text) + 1
        snap.documents[doc_id] = DocRecord(
            doc_id,
            f"synthetic://{doc_id}",
            f"Synthetic document {d // PER_DOC}",
            doc_id,
            None,
            tuple(ids),
        )
    snap.next_chunk_id = n
    del texts
    T["snapshot_objects_s"] = time.perf_counter() - t0
    store = FaissStore(DIM)
    t0 = time.perf_counter()
    store.add(np.arange(n, dtype=np.int64), vectors)
    T["faiss_build_s"] = time.perf_counter() - t0
    res["approximate"] = store.approximate
    snap.store = store
    work = Path(tempfile.mkdtemp(prefix="bench_search_", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        storage.save(work, snap)
        T["save_s"] = time.perf_counter() - t0
        res["disk_mb"] = sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) / 2**20
        del snap, store
        gc.collect()

        # Open it the normal way; memory attributed as the RSS growth.
        settings = Settings(llm="none")
        from rag.embedding import SentenceTransformerEmbedder, make_embedder

        # The configured backend (RAG_EMBEDDING_BACKEND), and PyTorch as the baseline.
        embedder = make_embedder(settings)
        embedder.embed(["warm up"])
        res["embedding_backend"] = settings.embedding_backend
        torch_embedder = SentenceTransformerEmbedder(
            settings.embedding_model, batch_size=settings.batch_size
        )
        torch_embedder.embed(["warm up"])
        import rag.stores.folder as folder
        from rag.lexical import Bm25

        parts: dict[str, float] = {}
        orig_load, orig_prof = storage.load, folder.script_profile
        orig_bm25_load, orig_bm25 = Bm25.load, storage.Snapshot.bm25

        def timed(name: str, fn: Any) -> Any:
            def w(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                m = rss_mb()
                try:
                    return fn(*a, **k)
                finally:
                    parts[name + "_s"] = time.perf_counter() - t
                    parts[name + "_rss_mb"] = rss_mb() - m

            return w

        folder.storage.load = timed("load", orig_load)  # type: ignore[attr-defined]
        # BM25: opened with the generation (memory-mapped), or built when it has none.
        Bm25.load = timed("bm25_open", orig_bm25_load)  # type: ignore[method-assign]
        storage.Snapshot.bm25 = timed("bm25_build", orig_bm25)  # type: ignore[method-assign]
        folder.script_profile = timed("script_profile", orig_prof)
        gc.collect()
        rss0 = rss_mb()
        t0 = time.perf_counter()
        rag = Rag.open(work, settings, embedder=embedder)
        T["open_s"] = time.perf_counter() - t0
        storage.load, folder.script_profile = orig_load, orig_prof
        Bm25.load, storage.Snapshot.bm25 = orig_bm25_load, orig_bm25  # type: ignore[method-assign]
        gc.collect()
        res["open_parts"] = parts
        res["rss_open_mb"] = rss_mb() - rss0
        res["bytes_per_chunk"] = res["rss_open_mb"] * 2**20 / n
        view = rag.store.view  # the live snapshot: the benchmark needs its FAISS and BM25
        assert view is not None and view.snap.store is not None
        index = view.snap.store._index
        bm25 = view.bm25

        # Interleaved timing.
        qv = embedder.embed(qtexts)
        lat: dict[str, list[float]] = {
            "rag": [], "faiss": [], "embed": [], "bm25": [], "embed_torch": []
        }  # fmt: skip
        for r in range(args.rounds):
            for i, q in enumerate(qtexts):
                order = ["rag", "faiss", "embed", "bm25", "embed_torch"]
                if (i + r) % 2:
                    order.reverse()
                for side in order:
                    t = time.perf_counter()
                    if side == "rag":
                        rag.search(q, 5)
                    elif side == "faiss":
                        index.search(qv[i : i + 1], DEPTH)
                    elif side == "embed":
                        embedder.embed([q])
                    elif side == "embed_torch":
                        torch_embedder.embed([q])
                    else:
                        bm25.search(q, DEPTH)
                    lat[side].append(1000 * (time.perf_counter() - t))
        gc.collect()
        # Memory-mapped BM25 arrays count once the queries have paged them in.
        res["rss_after_queries_mb"] = rss_mb() - rss0
        res["latency_ms"] = {
            k: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for k, v in lat.items()
        }

        if not args.no_http:
            res["http_ms"] = http_search(rag, settings, qtexts, args.rounds)

        # Exact baseline (and ground truth) over the same vectors.
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vectors)
        exact: list[float] = []
        approx: list[float] = []
        for i in range(min(args.exact_queries, len(qv))):
            for side in ["exact", "approx"] if i % 2 == 0 else ["approx", "exact"]:
                t = time.perf_counter()
                (flat if side == "exact" else index).search(qv[i : i + 1], DEPTH)
                (exact if side == "exact" else approx).append(1000 * (time.perf_counter() - t))
        res["exact_vs_store_ms"] = {
            "exact_p50": pct(exact, 50),
            "exact_p95": pct(exact, 95),
            "store_p50": pct(approx, 50),
            "store_p95": pct(approx, 95),
            "n": len(exact),
        }

        # Recall@10 of the store against exact search, for a sweep of nprobe.
        held = gen.held_out(200)
        sets = {"real_questions": qv.astype(np.float32), "held_out": held}
        truth = {k: flat.search(v, 10)[1] for k, v in sets.items()}
        recall: dict[str, Any] = {}
        ivf = faiss.extract_index_ivf(index) if view.snap.store.approximate else None
        if ivf is None:
            recall["exact"] = {
                k: recall_at(index.search(v, 10)[1], truth[k]) for k, v in sets.items()
            }
        else:
            res["nlist"] = int(ivf.nlist)
            default = int(ivf.nprobe)
            res["nprobe_default"] = default
            probes = sorted({8, 16, 32, 64, 128, 256, default, ivf.nlist // 16, ivf.nlist // 8})
            for p in probes:
                if p < 1 or p > ivf.nlist:
                    continue
                ivf.nprobe = p
                row: dict[str, float] = {}
                for k, v in sets.items():
                    row[k] = recall_at(index.search(v, 10)[1], truth[k])
                ts = []
                for i in range(len(qv)):
                    t = time.perf_counter()
                    index.search(qv[i : i + 1], DEPTH)
                    ts.append(1000 * (time.perf_counter() - t))
                row["p50_ms"] = pct(ts, 50)
                recall[str(p)] = row
            ivf.nprobe = default
        res["recall_at_10"] = recall
        # The same for the other data kinds (FAISS only, no Rag).
        for kind in args.recall_data:
            if kind == args.data or n <= APPROXIMATE_ABOVE:
                continue
            res.setdefault("recall_other", {})[kind] = other_recall(real, kind, n, qv)
        res["times"] = T
        res["peak_rss_mb"] = peak_mb()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def http_search(rag: Any, settings: Any, qtexts: list[str], rounds: int) -> dict[str, Any]:
    """``GET /v1/search`` through the real service (uvicorn on a loopback port, serving
    this process's ``Rag``), interleaved with ``Rag.search`` in-process as its baseline."""
    import socket
    import threading

    import httpx
    import uvicorn

    from api.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, rag), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    lat: dict[str, list[float]] = {"http": [], "in_process": []}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(600):  # the service answers /readyz once the Rag is loaded
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            client.get("/v1/search", params={"q": "warm up", "k": 5}).raise_for_status()
            for r in range(rounds):
                for i, q in enumerate(qtexts):
                    order = ["http", "in_process"] if (i + r) % 2 == 0 else ["in_process", "http"]
                    for side in order:
                        t = time.perf_counter()
                        if side == "http":
                            client.get("/v1/search", params={"q": q, "k": 5}).raise_for_status()
                        else:
                            rag.search(q, 5)
                        lat[side].append(1000 * (time.perf_counter() - t))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    out: dict[str, Any] = {
        k: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for k, v in lat.items()
    }
    out["ratio_p50"] = out["http"]["p50"] / max(out["in_process"]["p50"], 1e-9)
    return out


def other_recall(real: np.ndarray, kind: str, n: int, qv: np.ndarray) -> dict[str, Any]:
    import faiss

    from rag.stores.faiss_store import FaissStore

    gen = Generator(real, kind, seed=n + 7, n_docs=(n + PER_DOC - 1) // PER_DOC)
    vectors = gen.vectors(n)
    store = FaissStore(DIM)
    t0 = time.perf_counter()
    store.add(np.arange(n, dtype=np.int64), vectors)
    out: dict[str, Any] = {"build_s": time.perf_counter() - t0, "approximate": store.approximate}
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    del vectors
    sets = {"real_questions": qv.astype(np.float32), "held_out": gen.held_out(200)}
    index = store._index
    ivf = faiss.extract_index_ivf(index) if store.approximate else None
    probes = [None] if ivf is None else sorted({8, 16, 32, int(ivf.nprobe), 64, 128})
    for p in probes:
        if ivf is not None:
            ivf.nprobe = p
        row = {}
        for k, v in sets.items():
            row[k] = recall_at(index.search(v, 10)[1], flat.search(v, 10)[1])
        ts = []
        for i in range(len(qv)):
            t = time.perf_counter()
            index.search(qv[i : i + 1], DEPTH)
            ts.append(1000 * (time.perf_counter() - t))
        row["p50_ms"] = pct(ts, 50)
        out[str(p) if p else "exact"] = row
    return out


# -- parent -------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated chunk counts")
    ap.add_argument("--data", default="topics", choices=["topics", "realmix", "uniform"])
    ap.add_argument(
        "--recall-data",
        default="topics,realmix",
        help="data kinds for the recall sweep (FAISS only beyond --data)",
    )
    ap.add_argument("--rounds", type=int, default=2, help="passes over the 82 real questions")
    ap.add_argument("--exact-queries", type=int, default=20, help="queries timed on exact search")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--anchors", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-http", action="store_true", help="skip GET /v1/search over HTTP")
    args = ap.parse_args()
    args.recall_data = [k for k in args.recall_data.split(",") if k]

    if args.child is not None:
        out = child(args)
        args.out.write_text(json.dumps(out))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(tempfile.mkdtemp(prefix="bench_search_anchors_")) / "anchors.npz"
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        anchors(cache)
        for n in sizes:
            out = cache.with_name(f"size-{n}.json")
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--anchors",
                str(cache),
                "--out",
                str(out),
                "--data",
                args.data,
                "--recall-data",
                ",".join(args.recall_data),
                "--rounds",
                str(args.rounds),
                "--exact-queries",
                str(args.exact_queries),
                "--tmp",
                str(args.tmp),
                *(["--no-http"] if args.no_http else []),
            ]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                print(f"size {n}: child failed ({proc.returncode})", flush=True)
                continue
            r = json.loads(out.read_text())
            r["child_wall_s"] = time.perf_counter() - t0
            results.append(r)
            lat = r["latency_ms"]
            print(
                f"  {n:>9,d} chunks done in {r['child_wall_s']:.0f} s: rag p50 {lat['rag']['p50']:.1f} ms, "
                f"faiss p50 {lat['faiss']['p50']:.2f} ms",
                flush=True,
            )
    finally:
        shutil.rmtree(cache.parent, ignore_errors=True)

    report(results)
    if args.json:
        from bench_ingest import machine  # type: ignore[import-not-found]

        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "args": vars(args) | {"tmp": str(args.tmp), "json": str(args.json)},
                    "results": results,
                    "wall_s": time.perf_counter() - started,
                },
                indent=1,
                default=str,
            )
        )
        print(f"\nwrote {args.json}")


def report(results: list[dict[str, Any]]) -> None:
    if not results:
        return
    http = [r for r in results if "http_ms" in r]
    if http:
        print(
            "\nGET /v1/search over HTTP (uvicorn, loopback, sequential) against Rag.search in-process, same loop"
        )
        print(
            f"{'chunks':>9s} {'HTTP p50 / p95':>16s} {'in-process p50 / p95':>22s} {'ratio p50':>10s}"
        )
        for r in http:
            h, i = r["http_ms"]["http"], r["http_ms"]["in_process"]
            print(
                f"{r['n']:>9,d} {h['p50']:7.1f} /{h['p95']:7.1f} {i['p50']:10.1f} /{i['p95']:7.1f} "
                f"{r['http_ms']['ratio_p50']:10.2f}"
            )
    print("\nIn-process latency per query, ms (p50 / p95); ratio = Rag.search / FAISS's own search")
    print(
        f"{'chunks':>9s} {'index':>6s} {'Rag.search':>14s} {'FAISS own':>13s} {'ratio':>7s} "
        f"{'embed q':>13s} {'BM25':>13s} {'exact flat':>13s} {'B/chunk':>8s} {'peak MB':>8s} {'open s':>7s}"
    )
    for r in results:
        lat, ex = r["latency_ms"], r["exact_vs_store_ms"]
        kind = "ivf" if r["approximate"] else "flat"
        print(
            f"{r['n']:>9,d} {kind:>6s} {lat['rag']['p50']:6.1f} /{lat['rag']['p95']:6.1f} "
            f"{lat['faiss']['p50']:5.2f} /{lat['faiss']['p95']:6.2f} {lat['rag']['p50'] / lat['faiss']['p50']:7.1f} "
            f"{lat['embed']['p50']:5.1f} /{lat['embed']['p95']:6.1f} {lat['bm25']['p50']:5.1f} /{lat['bm25']['p95']:6.1f} "
            f"{ex['exact_p50']:5.1f} /{ex['exact_p95']:6.1f} {r['bytes_per_chunk']:8.0f} {r['peak_rss_mb']:8.0f} "
            f"{r['times']['open_s']:7.1f}"
        )
    print(
        "\nQuery embedding by backend, p50 ms (PyTorch measured in the same loop), and "
        "Rag.search against the sum of its parts (BM25 runs beside embedding + FAISS)"
    )
    for r in results:
        lat = r["latency_ms"]
        parts = lat["embed"]["p50"] + lat["faiss"]["p50"] + lat["bm25"]["p50"]
        torch_p50 = lat.get("embed_torch", {}).get("p50", float("nan"))
        print(
            f"{r['n']:>9,d}: {r.get('embedding_backend', '?')} {lat['embed']['p50']:.1f} ms, torch "
            f"{torch_p50:.1f} ms (ratio {torch_p50 / lat['embed']['p50']:.2f}); "
            f"Rag.search p50 {lat['rag']['p50']:.1f} ms vs parts summed {parts:.1f} ms"
        )
    print("\nOpening the index (Rag.open) and building it, seconds; memory growth at open, MB")
    for r in results:
        p, t = r["open_parts"], r["times"]
        print(
            f"{r['n']:>9,d}: faiss build {t['faiss_build_s']:.1f}, save {t['save_s']:.1f}, open {t['open_s']:.1f} "
            f"(load {p['load_s']:.1f} / {p['load_rss_mb']:.0f} MB, of which BM25 open "
            f"{p.get('bm25_open_s', float('nan')):.2f}; BM25 build {p.get('bm25_build_s', float('nan')):.2f} / "
            f"{p.get('bm25_build_rss_mb', float('nan')):.0f} MB, script profile {p['script_profile_s']:.1f}); "
            f"disk {r['disk_mb']:.0f} MB; memory at open {r['rss_open_mb']:.0f} MB, after the queries "
            f"{r.get('rss_after_queries_mb', float('nan')):.0f} MB "
            f"({r.get('rss_after_queries_mb', float('nan')) * 2**20 / r['n']:.0f} B/chunk)"
        )
    print("\nRecall@10 against exact search (real questions / held-out), FAISS p50 ms per query")
    for r in results:
        for kind, table in [(r["data"], r["recall_at_10"])] + list(
            r.get("recall_other", {}).items()
        ):
            cells = [
                f"{k}: {v['real_questions']:.3f}/{v['held_out']:.3f}"
                + (f" {v['p50_ms']:.1f}ms" if "p50_ms" in v else "")
                for k, v in table.items()
                if isinstance(v, dict)
            ]
            print(f"{r['n']:>9,d} {kind:8s} nprobe " + "; ".join(cells))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
