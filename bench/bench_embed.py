"""Embedding backends (RAG_EMBEDDING_BACKEND) against PyTorch, and the cold start they allow.

In one run, interleaved so that drift on a shared machine hits every side alike:

* **encode**: ``embed`` of the chunk texts ``rag index`` would embed (the RGB passages
  and ``seeds/`` copies, as in bench_ingest.py), per backend, batch 32, models loaded;
  chunks/s and the ratio against ``torch``.
* **fidelity**: cosine of each backend's vectors to PyTorch's (mean, min) and how many
  of each text's 5 nearest neighbours stay the same.
* **query**: one question at a time (seeds QA + RGB questions), p50/p95 ms and ratio.
* **cold**: new processes: ``rag --help``, an input error (empty question), and
  ``rag search QUESTION`` over a seeds index per backend (torch and onnx share the
  index; onnx-int8 gets its own), with whether torch was imported.

The ONNX exports are built first (once per cache_dir) and not timed. Quality is
measured with ``rag eval`` (see docs/benchmarks.md), not here.

    .venv/bin/python bench/bench_embed.py
    .venv/bin/python bench/bench_embed.py --seed-copies 4 --repeats 3 --json /tmp/embed.json

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables and f-strings read better on one line)
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from bench_ingest import RGB, machine, pipeline_texts, read_corpus, write_corpus  # noqa: E402

RAG_CLI = str(Path(sys.executable).with_name("rag"))
BACKENDS = ["torch", "onnx", "onnx-int8"]
QUESTION = "When did the US announce leaving Iraq?"

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.argv = ["rag"] + sys.argv[1:]
import rag.cli
try:
    rag.cli.main()
except SystemExit:
    pass
print(json.dumps({"in_process_s": time.perf_counter() - t0, "torch": "torch" in sys.modules}), file=sys.stderr)
"""


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))] if s else float("nan")


def questions() -> list[str]:
    qs = [json.loads(line)["query"] for line in RGB.read_text("utf-8").splitlines() if line.strip()]
    seeds = (REPO / "eval" / "seeds_qa.jsonl").read_text("utf-8").splitlines()
    return qs + [json.loads(line)["question"] for line in seeds if line.strip()]


def cold(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """New processes; each command ``--cold-repeats`` times, sides interleaved."""
    env = dict(os.environ)
    env.pop("RAG_EMBEDDING_BACKEND", None)
    indexes = {}
    for b in ["torch", "onnx-int8"]:  # onnx opens the torch-built index (same vectors)
        idx = work / f"seeds-{b}"
        subprocess.run(
            [RAG_CLI, "index", str(REPO / "seeds"), "--index", str(idx), "--json"],
            env=env | {"RAG_EMBEDDING_BACKEND": b}, check=True, capture_output=True,
        )  # fmt: skip
        indexes[b] = idx
    indexes["onnx"] = indexes["torch"]
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "rag --help": (["--help"], {}),
        'rag ask "" (input error)': (["ask", ""], {}),
    }
    for b in BACKENDS:
        cases[f"rag search ({b})"] = (
            ["search", QUESTION, "--index", str(indexes[b]), "--json"],
            {"RAG_EMBEDDING_BACKEND": b},
        )
    out: dict[str, Any] = {name: {"wall_s": [], "torch_imported": None} for name in cases}
    for r in range(args.cold_repeats):
        names = list(cases) if r % 2 == 0 else list(reversed(cases))
        for name in names:
            argv, extra = cases[name]
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, *argv],
                env=env | extra,
                capture_output=True,
                text=True,
            )
            out[name]["wall_s"].append(time.perf_counter() - t0)
            info = json.loads(proc.stderr.strip().splitlines()[-1])
            out[name]["torch_imported"] = info["torch"]
            print(f"  cold {name:28s} rep {r}: {out[name]['wall_s'][-1]:6.2f} s", flush=True)
    for v in out.values():
        v["median_s"] = statistics.median(v["wall_s"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seed-copies", type=int, default=8, help="copies of seeds/ in the corpus")
    ap.add_argument("--rgb-limit", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="encode rounds (all backends each)")
    ap.add_argument("--query-rounds", type=int, default=3, help="passes over the questions")
    ap.add_argument("--cold-repeats", type=int, default=3)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import numpy as np

    from rag import Settings
    from rag.embedding import make_embedder

    result: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"json": str(args.json)}}
    with tempfile.TemporaryDirectory(prefix="bench_embed_") as tmp:
        work = Path(tmp)
        write_corpus(work / "corpus", RGB, args.rgb_limit, args.seed_copies)
        docs, _ = read_corpus(work / "corpus")
        settings = Settings(llm="none")
        texts = pipeline_texts(docs, settings.chunk_size, settings.chunk_overlap)
        print(f"corpus: {len(texts)} chunks", flush=True)
        embs = {
            b: make_embedder(settings.model_copy(update={"embedding_backend": b})) for b in BACKENDS
        }
        for e in embs.values():  # exports (once) and loads; not timed
            e.embed(texts[:32])

        times: dict[str, list[float]] = {b: [] for b in BACKENDS}
        vectors: dict[str, Any] = {}
        for r in range(args.repeats):
            for b in BACKENDS if r % 2 == 0 else list(reversed(BACKENDS)):
                t0 = time.perf_counter()
                vectors[b] = embs[b].embed(texts)
                times[b].append(time.perf_counter() - t0)
                print(f"  encode {b:9s} rep {r}: {times[b][-1]:6.2f} s", flush=True)
        ref = vectors["torch"]
        ref_nn = np.argsort(-(ref @ ref.T), axis=1)[:, 1:6]
        encode: dict[str, Any] = {}
        for b in BACKENDS:
            v = vectors[b]
            cos = (v * ref).sum(1)
            nn = np.argsort(-(v @ v.T), axis=1)[:, 1:6]
            agree = np.mean([len(set(a) & set(c)) / 5 for a, c in zip(nn, ref_nn, strict=True)])
            med = statistics.median(times[b])
            encode[b] = {
                "median_s": med,
                "chunks_per_s": len(texts) / med,
                "ratio_vs_torch": statistics.median(times["torch"]) / med,
                "cosine_mean": float(cos.mean()),
                "cosine_min": float(cos.min()),
                "top5_agreement": float(agree),
            }

        qs = questions()
        lat: dict[str, list[float]] = {b: [] for b in BACKENDS}
        for r in range(args.query_rounds):
            for i, q in enumerate(qs):
                for b in BACKENDS if (i + r) % 2 == 0 else list(reversed(BACKENDS)):
                    t0 = time.perf_counter()
                    embs[b].embed([q])
                    lat[b].append(1000 * (time.perf_counter() - t0))
        query = {
            b: {
                "p50_ms": pct(v, 50),
                "p95_ms": pct(v, 95),
                "ratio_vs_torch": pct(lat["torch"], 50) / pct(v, 50),
            }
            for b, v in lat.items()
        }
        result.update({"chunks": len(texts), "encode": encode, "query": query})
        if not args.no_cold:
            result["cold"] = cold(args, work)

    print(f"\nEncode {result['chunks']} chunks (batch 32), warm; fidelity against PyTorch")
    print(
        f"{'backend':10s} {'s':>7s} {'chunks/s':>9s} {'ratio':>6s} {'cos mean':>9s} {'cos min':>8s} {'top-5 same':>10s}"
    )
    for b, e in encode.items():
        print(
            f"{b:10s} {e['median_s']:7.2f} {e['chunks_per_s']:9.1f} {e['ratio_vs_torch']:6.2f} "
            f"{e['cosine_mean']:9.4f} {e['cosine_min']:8.4f} {e['top5_agreement']:10.3f}"
        )
    print(f"\nOne query at a time ({len(qs)} questions x {args.query_rounds}), ms")
    for b, v in query.items():
        print(
            f"{b:10s} p50 {v['p50_ms']:6.1f}  p95 {v['p95_ms']:6.1f}  ratio {v['ratio_vs_torch']:.2f}"
        )
    if "cold" in result:
        print("\nCold processes (median wall s; torch imported?)")
        for name, v in result["cold"].items():
            print(f"{name:30s} {v['median_s']:6.2f} s  torch={v['torch_imported']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
