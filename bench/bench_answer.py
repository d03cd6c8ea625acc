"""Ask: time to first token and total for ``Rag.ask`` against llama.cpp alone on the same prompt.

Over the questions of eval/seeds_qa.jsonl and an index of seeds/ (built with
``rag index seeds --index /tmp/bench_seeds`` when missing):

* **warm**, per model (default: qwen2.5-coder-1.5b, the product default, and
  qwen2.5-coder-0.5b): ``Rag.ask(q, on_token=...)`` with the model loaded, against a
  second ``llama_cpp.Llama`` on the same GGUF file fed the exact chat request
  ``Rag.ask`` sends (messages, JSON schema, max_tokens, greedy), the schema enforced by
  llama.cpp's own grammar sampler where ``Rag.ask`` uses ``rag.grammar``. Both instances
  see the prompts in the same order, so llama.cpp's prefix cache helps both
  alike; the order within a pair alternates. First token = the first streamed
  piece (``on_token``'s first call). Prompt tokens are counted by llama.cpp's own
  tokenizer on the formatted chat prompt, with the part it reused from the
  previous prompt (its prefix cache).
* **cold**: ``rag ask QUESTION --json`` as a new process against a new process that
  imports llama_cpp, loads the model and answers the same prompt; plus one
  instrumented ``rag ask`` (timers around imports, index open, model loads,
  retrieval, ranking, generation, checking) and one ``python -X importtime`` run.

Questions the answerer abstains on before generating (no passage is relevant
enough) never reach the LLM: they count in the totals, not in time to first token.

    .venv/bin/python bench/bench_answer.py
    .venv/bin/python bench/bench_answer.py --models qwen2.5-coder-1.5b --limit 10 --json /tmp/answer.json

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
QA = REPO / "eval" / "seeds_qa.jsonl"
RAG_CLI = str(Path(sys.executable).with_name("rag"))
sys.path.insert(0, str(BENCH))

from bench_ingest import Timers, machine  # noqa: E402

COLD_QUESTION = "When did the US announce leaving Iraq?"

LLAMA_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import llama_cpp  # timed as the import, as before: open_llama imports it lazily
from rag.generation import open_llama
t1 = time.perf_counter()
req = json.load(open(sys.argv[1]))
llm = open_llama(req["model"], n_ctx=req["n_ctx"], n_threads=req["threads"],
                 repack=req["repack"])
t2 = time.perf_counter()
first = None
for chunk in llm.create_chat_completion(stream=True, **req["kwargs"]):
    if first is None and chunk["choices"][0]["delta"].get("content"):
        first = time.perf_counter()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "ttft": (first or t3) - t2, "generate": t3 - t2}))
"""

ASK_CHILD = r"""
import json, sys, time
T0 = time.perf_counter()
sys.argv = ["rag"] + sys.argv[1:]
sys.path.insert(0, {bench!r})
import rag.cli
T1 = time.perf_counter()
from bench_answer import instrument_ask
from bench_ingest import Timers
timers = Timers()
timers.add("imports (rag.cli)", T1 - T0)
instrument_ask(timers)
try:
    rag.cli.main()
except SystemExit:
    pass
timers.add("total_in_process", time.perf_counter() - T0)
with open({out!r}, "w") as fh:
    json.dump(dict(timers.total), fh)
"""


def _import_torch_st() -> None:
    import sentence_transformers  # noqa: F401


def _import_onnxruntime() -> None:
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401


def _import_llama_cpp() -> None:
    import llama_cpp  # noqa: F401


def instrument_ask(timers: Timers) -> None:
    """Timers around the steps of ``rag ask`` (exclusive times)."""
    import rag.answer as answer_steps
    import rag.models
    import rag.pipeline as pipeline
    import rag.stores.folder as folder
    from rag import storage
    from rag.embedding import SentenceTransformerEmbedder
    from rag.generation import LlamaCppGenerator
    from rag.onnx_embedding import OnnxEmbedder

    this = sys.modules[__name__]
    for cls, attr, pre in [
        (SentenceTransformerEmbedder, "warm_up", "_import_torch_st"),
        (OnnxEmbedder, "warm_up", "_import_onnxruntime"),
        (LlamaCppGenerator, "warm_up", "_import_llama_cpp"),
    ]:
        orig = getattr(cls, attr)

        def warm(self: Any, _orig: Any = orig, _pre: str = pre) -> Any:
            getattr(this, _pre)()
            return _orig(self)

        setattr(cls, attr, warm)
    timers.wrap(this, "_import_torch_st", "import torch+sentence-transformers")
    timers.wrap(this, "_import_onnxruntime", "import onnxruntime+tokenizers")
    timers.wrap(this, "_import_llama_cpp", "import llama_cpp")
    timers.wrap(storage, "load", "open index: read generation")
    timers.wrap(folder, "Bm25Parts", "open index: BM25")
    timers.wrap(folder, "script_profile", "open index: script profile")
    timers.wrap(SentenceTransformerEmbedder, "warm_up", "load embedder")
    timers.wrap(OnnxEmbedder, "warm_up", "load embedder")
    timers.wrap(rag.models, "resolve_llm", "resolve+verify LLM file")
    timers.wrap(LlamaCppGenerator, "warm_up", "load LLM")
    timers.wrap(SentenceTransformerEmbedder, "embed", "embed (query, sentences, claims)")
    timers.wrap(OnnxEmbedder, "embed", "embed (query, sentences, claims)")
    timers.wrap(pipeline.Rag, "_retrieve", "retrieval (FAISS+BM25+fusion)")
    timers.wrap(LlamaCppGenerator, "generate", "generation (LLM)")
    timers.wrap(answer_steps, "rank", "rank sentences")
    timers.wrap(answer_steps, "supported", "verify citations")
    timers.wrap(pipeline.Rag, "ask", "ask: other")


# -- helpers ------------------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


class Capture:
    """A Generator that records the request and declines to answer (no LLM run)."""

    name = "capture"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def generate(
        self, messages: Any, *, schema: Any = None, max_tokens: int = 256, on_token: Any = None
    ) -> str:
        self.requests.append({"messages": messages, "schema": schema, "max_tokens": max_tokens})
        return '{"answer": "NOT FOUND"}'


def chat_kwargs(req: dict[str, Any]) -> dict[str, Any]:
    """The request as llama.cpp alone serves it: the JSON schema through its own grammar sampler.

    ``LlamaCppGenerator.generate`` sends the same messages and settings but holds
    the output to the schema with ``rag.grammar.GrammarCheck`` (the same tokens).
    """
    kw: dict[str, Any] = {
        "messages": req["messages"],
        "max_tokens": req["max_tokens"],
        "temperature": 0.0,
        "top_k": 1,
        "seed": 0,
    }
    if req["schema"] is not None:
        kw["response_format"] = {"type": "json_object", "schema": req["schema"]}
    return kw


def capture_prompts(
    index: Path, settings: Any, questions: list[str]
) -> list[dict[str, Any] | None]:
    from rag import Rag

    cap = Capture()
    rag = Rag.open(index, settings, generator=cap)
    out: list[dict[str, Any] | None] = []
    for q in questions:
        before = len(cap.requests)
        rag.ask(q)
        out.append(cap.requests[-1] if len(cap.requests) > before else None)
    return out


class Baseline:
    """llama.cpp alone: the same GGUF, the same context settings, the same request."""

    def __init__(self, path: Path, settings: Any) -> None:
        from rag.generation import open_llama

        self.llm = open_llama(
            path,
            n_ctx=settings.context_size,
            n_threads=settings.threads,
            repack=settings.llm_repack,
        )
        self._tokens: list[int] = []
        orig = self.llm.tokenize

        def tokenize(text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
            out = orig(text, add_bos=add_bos, special=special)
            if special:  # the chat handler tokenizing the formatted prompt
                self._tokens = list(out)
            return out

        self.llm.tokenize = tokenize  # type: ignore[method-assign]

    def run(self, req: dict[str, Any]) -> dict[str, float]:
        from llama_cpp import Llama

        cached = [int(t) for t in self.llm._input_ids]
        t0 = time.perf_counter()
        first = None
        pieces = 0
        for chunk in self.llm.create_chat_completion(stream=True, **chat_kwargs(req)):
            if chunk["choices"][0]["delta"].get("content"):
                pieces += 1
                if first is None:
                    first = time.perf_counter()
        t1 = time.perf_counter()
        reused = Llama.longest_token_prefix(cached, self._tokens)
        return {
            "ttft": (first or t1) - t0,
            "total": t1 - t0,
            "pieces": pieces,
            "prompt_tokens": len(self._tokens),
            "reused_tokens": reused,
        }


def rag_ask(rag: Any, q: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    first: list[float] = []
    pieces = [0]

    def on_token(piece: str) -> None:
        pieces[0] += 1
        if not first:
            first.append(time.perf_counter())

    n_before = len(seen)
    t0 = time.perf_counter()
    ans = rag.ask(q, on_token=on_token)
    t1 = time.perf_counter()
    return {
        "ttft": first[0] - t0 if first else None,
        "total": t1 - t0,
        "pieces": pieces[0],
        "llm": len(seen) > n_before,
        "mode": getattr(ans, "mode", None),
        "answerable": ans.answerable,
        "timings": dict(ans.timings),
    }


# -- warm ---------------------------------------------------------------------------------


def warm(model: str, index: Path, questions: list[str]) -> dict[str, Any]:
    from rag import Rag, Settings
    from rag.models import resolve_llm

    settings = Settings(llm=model)
    t0 = time.perf_counter()
    prompts = capture_prompts(index, settings, questions)
    capture_s = time.perf_counter() - t0
    path = resolve_llm(settings.llm, settings.cache_dir)
    rag = Rag.open(index, settings)
    rag.warm_up()
    base = Baseline(path, settings)
    # Record what Rag.ask really sends, to check it is the captured prompt.
    gen = rag.generator
    seen: list[dict[str, Any]] = []
    orig_generate = gen.generate

    def generate(messages: Any, **kw: Any) -> str:
        seen.append(
            {"messages": messages, "schema": kw.get("schema"), "max_tokens": kw.get("max_tokens")}
        )
        return str(orig_generate(messages, **kw))

    gen.generate = generate  # type: ignore[method-assign]

    # Warm-up pair (not timed) on the last question that reaches the LLM: the timed loop
    # then starts with both caches holding another question's prompt, as later ones do.
    last_llm = max((i for i, p in enumerate(prompts) if p is not None), default=None)
    if last_llm is not None:
        rag_ask(rag, questions[last_llm], seen)
        base.run(prompts[last_llm])  # type: ignore[arg-type]
    seen.clear()

    rows: list[dict[str, Any]] = []
    for i, q in enumerate(questions):
        order = ["rag", "base"] if i % 2 == 0 else ["base", "rag"]
        row: dict[str, Any] = {"question": q}
        for side in order:
            if side == "rag":
                row["rag"] = rag_ask(rag, q, seen)
                if row["rag"]["llm"]:
                    row["prompt_matches"] = seen[-1]["messages"] == (prompts[i] or {}).get(
                        "messages"
                    )
            elif prompts[i] is not None:
                row["base"] = base.run(prompts[i])  # type: ignore[arg-type]
        rows.append(row)
        r = row["rag"]
        b = row.get("base")
        print(
            f"  {model} q{i + 1:02d}: rag ttft {r['ttft'] or float('nan'):5.2f} total {r['total']:5.2f}"
            + (
                f" | llama.cpp ttft {b['ttft']:5.2f} total {b['total']:5.2f} prompt {b['prompt_tokens']} "
                f"(reused {b['reused_tokens']})"
                if b
                else " | no LLM call"
            ),
            flush=True,
        )

    llm_rows = [r for r in rows if r["rag"]["llm"] and "base" in r]
    rt = [r["rag"]["ttft"] for r in llm_rows if r["rag"]["ttft"] is not None]
    bt = [r["base"]["ttft"] for r in llm_rows]
    rtot = [r["rag"]["total"] for r in llm_rows]
    btot = [r["base"]["total"] for r in llm_rows]
    all_tot = [r["rag"]["total"] for r in rows]
    summary = {
        "model": model,
        "questions": len(rows),
        "llm_calls": len(llm_rows),
        "prompts_match": all(r.get("prompt_matches", True) for r in llm_rows),
        "capture_s": capture_s,
        "rag_ttft_p50": median(rt),
        "rag_ttft_p95": pct(rt, 95),
        "base_ttft_p50": median(bt),
        "base_ttft_p95": pct(bt, 95),
        "ttft_ratio": median(rt) / median(bt) if bt else float("nan"),
        "rag_total_p50": median(rtot),
        "rag_total_p95": pct(rtot, 95),
        "base_total_p50": median(btot),
        "base_total_p95": pct(btot, 95),
        "total_ratio": median(rtot) / median(btot) if btot else float("nan"),
        "pair_ttft_ratio_median": median(
            [r["rag"]["ttft"] / r["base"]["ttft"] for r in llm_rows if r["rag"]["ttft"]]
        ),
        "all_questions_total_p50": median(all_tot),
        "all_questions_total_p95": pct(all_tot, 95),
        "prompt_tokens_p50": median([r["base"]["prompt_tokens"] for r in llm_rows]),
        "prompt_tokens_max": max([r["base"]["prompt_tokens"] for r in llm_rows], default=0),
        "prompt_tokens_new_p50": median(
            [r["base"]["prompt_tokens"] - r["base"]["reused_tokens"] for r in llm_rows]
        ),
        "generated_pieces_p50": median([r["base"]["pieces"] for r in llm_rows]),
        "rag_overhead_before_llm_p50": median(
            [
                r["rag"]["timings"].get("retrieve_ms", 0) / 1000
                + r["rag"]["timings"].get("rank_ms", 0) / 1000
                for r in llm_rows
            ]
        ),
    }
    del rag, base
    return {"summary": summary, "rows": rows}


# -- cold ---------------------------------------------------------------------------------


def cold(index: Path, repeats: int, work: Path) -> dict[str, Any]:
    from rag import Settings
    from rag.models import resolve_llm

    settings = Settings()
    req = capture_prompts(index, settings, [COLD_QUESTION])[0]
    path = resolve_llm(settings.llm, settings.cache_dir)
    env = dict(os.environ)
    out: dict[str, Any] = {"model": settings.llm, "question": COLD_QUESTION}
    rag_wall: list[float] = []
    base_wall: list[float] = []
    base_parts: list[dict[str, float]] = []
    if req is None:
        out["note"] = "the answerer abstained before the LLM; no llama.cpp baseline"
    else:
        req_file = work / "request.json"
        req_file.write_text(
            json.dumps(
                {
                    "model": str(path),
                    "n_ctx": settings.context_size,
                    "threads": settings.threads,
                    "repack": settings.llm_repack,
                    "kwargs": chat_kwargs(req),
                }
            )
        )
    for r in range(repeats):
        for side in ["rag", "base"] if r % 2 == 0 else ["base", "rag"]:
            if side == "base" and req is None:
                continue
            t0 = time.perf_counter()
            if side == "rag":
                cmd = [RAG_CLI, "ask", COLD_QUESTION, "--index", str(index), "--json"]
            else:
                cmd = [sys.executable, "-c", LLAMA_CHILD, str(req_file)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-2000:])
                raise SystemExit(f"cold {side} failed")
            if side == "rag":
                rag_wall.append(dt)
                out["answer"] = json.loads(proc.stdout).get("answer")
            else:
                base_wall.append(dt)
                base_parts.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  cold {side:4s} rep {r}: {dt:6.2f} s", flush=True)
    out.update(
        {
            "rag_wall_s": rag_wall,
            "base_wall_s": base_wall,
            "rag_median_s": median(rag_wall),
            "base_median_s": median(base_wall),
            "ratio": median(rag_wall) / median(base_wall) if base_wall else float("nan"),
        }
    )
    if base_parts:
        out["base_parts_median_s"] = {k: median([p[k] for p in base_parts]) for k in base_parts[0]}

    # One instrumented run: where the time goes.
    timers_file = work / "ask_timers.json"
    code = ASK_CHILD.format(bench=str(BENCH), out=str(timers_file))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, "ask", COLD_QUESTION, "--index", str(index), "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not timers_file.exists():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  instrumented rag ask failed (exit {proc.returncode}): {tail}", flush=True)
    steps = json.loads(timers_file.read_text()) if timers_file.exists() else {}
    steps["process wall"] = wall
    out["breakdown_s"] = steps
    print(f"  cold instrumented rag ask: {wall:6.2f} s", flush=True)

    # python -X importtime over the whole `rag ask` (lazy imports included).
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            RAG_CLI,
            "ask",
            COLD_QUESTION,
            "--index",
            str(index),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    out["importtime_wall_s"] = time.perf_counter() - t0
    out["importtime_top"] = importtime_top(proc.stderr)
    return out


def importtime_top(stderr: str, n: int = 12) -> dict[str, float]:
    """Cumulative seconds per top-level package, from ``-X importtime`` lines."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        try:
            cumulative = int(parts[1].strip())
        except ValueError:
            continue
        name = parts[2]
        if name.startswith("  "):  # nested inside another import
            continue
        root = name.strip().split(".")[0]
        totals[root] = totals.get(root, 0.0) + cumulative / 1e6
    return dict(sorted(totals.items(), key=lambda kv: -kv[1])[:n])


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, default=Path("/tmp/bench_seeds"))
    ap.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--cold-repeats", type=int, default=2)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    result: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if not (args.index / "CURRENT").exists():
        t0 = time.perf_counter()
        subprocess.run(
            [RAG_CLI, "index", str(REPO / "seeds"), "--index", str(args.index)],
            check=True,
            capture_output=True,
        )
        result["index_build_s"] = time.perf_counter() - t0
    questions = [
        json.loads(line)["question"] for line in QA.read_text().splitlines() if line.strip()
    ]
    questions = questions[: args.limit] if args.limit else questions

    result["warm"] = {}
    for model in [m for m in args.models.split(",") if m]:
        result["warm"][model] = warm(model, args.index, questions)
    if not args.no_cold:
        with tempfile.TemporaryDirectory(prefix="bench_answer_") as work:
            result["cold"] = cold(args.index, args.cold_repeats, Path(work))

    print(
        "\nWarm, per question that reaches the LLM; ratio = Rag.ask / llama.cpp alone (same prompt)"
    )
    print(
        f"{'model':20s} {'LLM/all':>8s} {'TTFT p50 rag':>12s} {'llama':>7s} {'ratio':>6s} "
        f"{'total p50 rag':>13s} {'llama':>7s} {'ratio':>6s} {'TTFT p95':>8s} {'tot p95':>8s} "
        f"{'prompt tok':>10s} {'new tok':>7s} {'gen':>5s}"
    )
    for model, w in result["warm"].items():
        s = w["summary"]
        print(
            f"{model:20s} {s['llm_calls']:>3d}/{s['questions']:<4d} {s['rag_ttft_p50']:12.2f} "
            f"{s['base_ttft_p50']:7.2f} {s['ttft_ratio']:6.2f} {s['rag_total_p50']:13.2f} "
            f"{s['base_total_p50']:7.2f} {s['total_ratio']:6.2f} {s['rag_ttft_p95']:8.2f} "
            f"{s['rag_total_p95']:8.2f} {s['prompt_tokens_p50']:10.0f} {s['prompt_tokens_new_p50']:7.0f} "
            f"{s['generated_pieces_p50']:5.0f}"
        )
        print(
            f"{'':20s} all questions (abstentions included): total p50 {s['all_questions_total_p50']:.2f} s, "
            f"p95 {s['all_questions_total_p95']:.2f} s; prompts match: {s['prompts_match']}"
        )
    c = result.get("cold")
    if c:
        print(
            f"\nCold process, `rag ask` ({c['model']}): median {c['rag_median_s']:.2f} s vs llama.cpp alone "
            f"{c['base_median_s']:.2f} s: ratio {c['ratio']:.2f}"
        )
        if "base_parts_median_s" in c:
            print(
                "  llama.cpp alone: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in c["base_parts_median_s"].items())
            )
        steps = c["breakdown_s"]
        wall = steps.get("process wall", float("nan"))
        inproc = steps.get("total_in_process", float("nan"))
        print(f"  instrumented `rag ask` (exclusive seconds; process wall {wall:.2f} s):")
        accounted = 0.0
        for k, v in sorted(steps.items(), key=lambda kv: -kv[1]):
            if k in {"process wall", "total_in_process"}:
                continue
            accounted += v
            print(f"    {k:38s} {v:6.2f}")
        print(f"    {'CLI + output (unaccounted in process)':38s} {inproc - accounted:6.2f}")
        print(f"    {'interpreter start + exit':38s} {wall - inproc:6.2f}")
        print(
            "  -X importtime, cumulative s per top-level package: "
            + ", ".join(f"{k} {v:.2f}" for k, v in c["importtime_top"].items())
        )
    if args.json:
        result["loadavg_at_end"] = os.getloadavg()
        args.json.write_text(json.dumps(result, indent=1, default=str))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
