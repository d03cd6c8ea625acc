"""Prompt processing: how fast llama.cpp reads a prompt on this machine, per packaged model.

Time to first token is, almost entirely, llama.cpp evaluating the prompt tokens it
has not cached (``bench/bench_answer.py`` shows ``Rag.ask`` within a few percent of
llama.cpp alone on the same prompt). This script measures that rate directly, so
the floor under time to first token can be read off for any prompt size:

* for each model, prompts of N tokens (seed-article text, tokenised by the model)
  are evaluated from an empty cache, ``--repeats`` times, alternating sizes;
* it reports tokens per second (median) and the time a prompt of the size
  ``Rag.ask`` sends would take (``--prompt-tokens``, default 311: the median
  number of new prompt tokens per seeds question in bench_answer.py; the
  system prompt, ~76 tokens, stays cached between questions);
* with ``--prompt-chars 1400,700``: the prompts ``Rag.ask`` actually builds for
  the seeds questions at each ``RAG_PROMPT_CHARS`` (the model replaced by a
  recorder, so nothing is generated), their user-message tokens (the part not
  cached) p50 / max, and the prompt-reading time they imply at the measured rate.

    .venv/bin/python bench/bench_prompt.py
    .venv/bin/python bench/bench_prompt.py --models qwen2.5-coder-1.5b --json /tmp/prompt.json

Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]


def measure(model: str, sizes: list[int], repeats: int, threads: int) -> dict[str, Any]:
    from rag.config import Settings
    from rag.generation import open_llama
    from rag.models import resolve_llm

    settings = Settings()
    path = resolve_llm(model, settings.cache_dir)
    llm = open_llama(path, n_ctx=4096, n_threads=threads, repack=settings.llm_repack)
    text = "\n\n".join(p.read_text("utf-8") for p in sorted((REPO / "seeds").iterdir()))
    tokens = llm.tokenize(text.encode("utf-8"))
    times: dict[int, list[float]] = {n: [] for n in sizes}
    for r in range(repeats):
        order = sizes if r % 2 == 0 else list(reversed(sizes))
        for n in order:
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(tokens[:n])
            times[n].append(time.perf_counter() - t0)
    rows = []
    for n in sizes:
        median = statistics.median(times[n])
        rows.append({"tokens": n, "seconds_p50": median, "tokens_per_s": n / median})
    return {"model": model, "threads": threads, "rows": rows}


def prompt_sizes(model: str, budgets: list[int], index: Path) -> list[dict[str, Any]]:
    """User-message tokens of the prompts ``Rag.ask`` builds for the seeds questions."""
    from llama_cpp import Llama

    from rag import Rag, Settings
    from rag.generation import _quiet_stderr
    from rag.models import resolve_llm
    from rag.testing import CannedGenerator

    with _quiet_stderr():
        vocab = Llama(
            model_path=str(resolve_llm(model, Settings().cache_dir)),
            vocab_only=True,
            verbose=False,
        )
    if not (index / "CURRENT").exists():
        Rag.open(index, Settings(index=index, llm="none"), create=True).add([REPO / "seeds"])
    questions = [
        json.loads(line)["question"]
        for line in (REPO / "eval" / "seeds_qa.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    out = []
    embedder = None
    for budget in budgets:
        recorder = CannedGenerator('{"answer": "NOT FOUND"}')
        settings = Settings(index=index, llm="none", prompt_chars=budget)
        rag = Rag.open(index, settings, embedder=embedder, generator=recorder)
        embedder = rag.embedder
        for q in questions:
            rag.ask(q)
        sizes = sorted(
            len(vocab.tokenize(m[-1]["content"].encode("utf-8"), add_bos=False))
            for m in recorder.prompts
        )
        out.append(
            {
                "prompt_chars": budget,
                "prompts": len(sizes),
                "user_tokens_p50": statistics.median(sizes) if sizes else 0,
                "user_tokens_max": max(sizes, default=0),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    ap.add_argument("--sizes", default="100,300,600")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=311)
    ap.add_argument("--prompt-chars", default="", help="e.g. 1400,700: measure real prompts")
    ap.add_argument("--index", type=Path, default=Path("/tmp/bench_seeds"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict[str, Any] = {
        "machine": {"nproc": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "models": [],
    }
    print(f"load average at start: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print("| model | prompt tokens | p50 | tokens/s | time for a typical ask prompt |")
    print("|---|---|---|---|---|")
    for model in args.models.split(","):
        result = measure(model, sizes, args.repeats, args.threads)
        rate = statistics.median(r["tokens_per_s"] for r in result["rows"])
        result["typical_prompt_s"] = args.prompt_tokens / rate
        out["models"].append(result)
        for r in result["rows"]:
            print(
                f"| {model} | {r['tokens']} | {r['seconds_p50']:.2f} s | "
                f"{r['tokens_per_s']:.0f} | {args.prompt_tokens} tokens: "
                f"{result['typical_prompt_s']:.1f} s |"
            )
    if args.prompt_chars:
        budgets = [int(b) for b in args.prompt_chars.split(",")]
        model = out["models"][0]
        rate = statistics.median(r["tokens_per_s"] for r in model["rows"])
        sizes = prompt_sizes(model["model"], budgets, args.index)
        out["prompt_sizes"] = sizes
        head = f"reading at {rate:.0f} tok/s"
        print(f"\n| RAG_PROMPT_CHARS | prompts | user tokens p50 / max | {head} |")
        print("|---|---|---|---|")
        for row in sizes:
            print(
                f"| {row['prompt_chars']} | {row['prompts']} | {row['user_tokens_p50']:.0f} / "
                f"{row['user_tokens_max']} | {row['user_tokens_p50'] / rate:.1f} s |"
            )
    out["machine"]["loadavg_at_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
