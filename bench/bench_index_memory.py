"""Index memory: what `rag index` holds while it writes, streaming in batches against one batch.

`rag index` reads, chunks and embeds a folder ``RAG_INGEST_BATCH`` chunks at a time
(default 2048) and hands each batch to the store, which saves one generation at the
end. The baseline, in the same run, is the same command with ``RAG_INGEST_BATCH`` larger
than the corpus: every text and vector of the write held at once, as `rag index`
did before it streamed. Both sides are fresh processes with the default embedding
backend, run alternately at each corpus size, the model loaded before the write.

The headline is tracemalloc's peak during ``Rag.add``: everything Python and numpy
hold (document and chunk texts, vectors, the new generation's chunks and BM25), and
nothing of onnxruntime's arena, whose size depends on the order of batch shapes and
moves peak RSS by ±100 MB at any corpus size (peak RSS is printed too). What grows
with the corpus on the streaming side is the index itself, so the table gives the
growth per chunk between two sizes for each side, and their ratio.

Corpus (outside the repository, written into a temporary folder): the RGB passages in
``../shared/data/rgb_en_fact_dev.jsonl`` (one .txt file each) copied into as many
folders as it takes to reach each size, plus ``seeds/``.

    .venv/bin/python bench/bench_index_memory.py --sizes 3000,9000 --json /tmp/index_mem.json
    .venv/bin/python bench/bench_index_memory.py --sizes 100,300 --limit-passages 20 --batch 50   # quick

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables and f-strings read better on one line)
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RGB = REPO.parent / "shared" / "data" / "rgb_en_fact_dev.jsonl"
RAG_CLI = str(Path(sys.executable).with_name("rag"))
ONE_BATCH = 1_000_000  # larger than any corpus here: the whole write in one batch


def passages() -> list[str]:
    out: list[str] = []
    with open(RGB, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out.extend(p for p in row.get("positive", []) + row.get("negative", []) if p.strip())
    return out


def write_corpus(folder: Path, chunks_wanted: int, limit: int | None) -> None:
    """Copies of the RGB passages (and the seeds) until ``chunks_wanted`` chunks."""
    from rag.chunking import chunk_document
    from rag.config import Settings

    s = Settings()
    texts = passages()[:limit] + [
        f.read_text("utf-8") for f in sorted((REPO / "seeds").glob("*.txt"))
    ]
    per_copy = sum(len(chunk_document("x", t, s.chunk_size, s.chunk_overlap, 0)) for t in texts)
    copies = max(1, -(-chunks_wanted // per_copy))
    for c in range(copies):
        d = folder / f"copy-{c:03d}"
        d.mkdir(parents=True)
        for i, t in enumerate(texts):
            # A copy number in the text: every document is new to the index and embedded.
            (d / f"p{i:05d}.txt").write_text(f"{t}\n\n(copy {c})", encoding="utf-8")


CHILD = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path
from rag import Rag, Settings
corpus, index = Path(sys.argv[1]), Path(sys.argv[2])
rag = Rag.open(index, Settings(index=index, llm="none"), create=True)
rag.embedder.embed(["warm up"])  # the model's own memory is not the write's
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
summary = rag.add([corpus])
dt = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "traced_peak_mb": peak / 2**20, "rss_before_mb": rss0 / 1024,
                  "peak_rss_mb": rss1 / 1024, "summary": summary.to_dict()}))
"""


def run_measured(corpus: Path, index: Path, batch: int) -> dict[str, Any]:
    """``Rag.add`` of the corpus in a fresh process: the peak of what Python and numpy
    allocate during the write (tracemalloc: the texts, chunks and vectors it holds;
    not FAISS's own C++ memory nor onnxruntime's), peak RSS, wall time, summary."""
    env = dict(os.environ, RAG_INGEST_BATCH=str(batch))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus), str(index)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"Rag.add failed: {proc.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="3000,9000", help="corpus sizes in chunks (two or more)")
    ap.add_argument(
        "--batch",
        type=int,
        default=None,
        help="streaming batch (default: RAG_INGEST_BATCH's default)",
    )
    ap.add_argument(
        "--limit-passages",
        type=int,
        default=None,
        help="only the first N RGB passages per copy (quick runs)",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()
    from rag.config import Settings

    batch = args.batch or Settings().ingest_batch
    sizes = [int(x) for x in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-index-mem-") as tmp:
        for i, size in enumerate(sizes):
            corpus = Path(tmp) / f"corpus-{size}"
            write_corpus(corpus, size, args.limit_passages)
            sides = [("streaming", batch), ("one batch", ONE_BATCH)]
            if i % 2:
                sides.reverse()  # alternate the order, so drift hits both sides
            for name, b in sides:
                index = Path(tmp) / f"index-{size}-{b}"
                r = run_measured(corpus, index, b)
                r.update(side=name, batch=b, size=size, chunks=r["summary"]["chunks"])
                rows.append(r)
                print(
                    f"{name:>10}  {r['chunks']:>7} chunks  traced peak {r['traced_peak_mb']:7.1f} MB  "
                    f"peak RSS {r['peak_rss_mb']:5.0f} MB (model loaded: {r['rss_before_mb']:.0f})  "
                    f"{r['seconds']:6.1f} s ({r['chunks'] / r['seconds']:.1f} chunks/s)",
                    flush=True,
                )
                shutil.rmtree(index, ignore_errors=True)
            shutil.rmtree(corpus, ignore_errors=True)
    by = {(r["side"], r["size"]): r for r in rows}
    lo, hi = sizes[0], sizes[-1]
    print(
        f"\nbatch {batch} chunks; growth between {by[('streaming', lo)]['chunks']} and {by[('streaming', hi)]['chunks']} chunks:"
    )
    print(
        "| side | traced peak (small / large) | growth per chunk | peak RSS (small / large) | time (large) |"
    )
    print("|---|---|---|---|---|")
    growth = {}
    for side in ("streaming", "one batch"):
        a, b = by[(side, lo)], by[(side, hi)]
        grown = (b["traced_peak_mb"] - a["traced_peak_mb"]) * 2**20
        growth[side] = grown / max(1, b["chunks"] - a["chunks"])
        print(
            f"| {side} | {a['traced_peak_mb']:.1f} / {b['traced_peak_mb']:.1f} MB | {growth[side]:,.0f} B "
            f"| {a['peak_rss_mb']:.0f} / {b['peak_rss_mb']:.0f} MB | {b['seconds']:.1f} s |"
        )
    ratio_mem = growth["streaming"] / growth["one batch"] if growth["one batch"] else float("nan")
    ratio_time = by[("streaming", hi)]["seconds"] / by[("one batch", hi)]["seconds"]
    print(
        f"\nstreaming / one batch: memory growth per chunk {ratio_mem:.2f}, time at the large size {ratio_time:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps({
            "batch": batch, "rows": rows, "growth_bytes_per_chunk": growth,
            "ratio_growth": ratio_mem, "ratio_time": ratio_time,
            "loadavg_at_end": os.getloadavg(), "nproc": os.cpu_count(),
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
