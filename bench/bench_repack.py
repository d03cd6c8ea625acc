"""Weight repacking: llama.cpp's extra weight buffers on and off, in the same run.

llama.cpp can repack a model's weights at load (``use_extra_bufts``) into layouts
for its own CPU kernels (and, on CPUs with AMX, into AMX buffers). ``Rag`` loads
models without them unless ``RAG_LLM_REPACK=1``. This script loads the model both
ways side by side and, alternating which goes first, measures on each:

* prompt reading: ``--prompt-tokens`` tokens of seed-article text from an empty
  cache (tokens per second);
* generation: ``--gen-tokens`` greedy tokens one at a time after that prompt
  (tokens per second);
* the time of a typical ask, ``prompt / read rate + gen / generate rate``.

It reports medians and the ratio repack-off / repack-on. A llama-cpp-python compiled
with AMX would crash on the repack side (llama.cpp issue #20824), so ``open_llama``
refuses it; ``make setup`` compiles without AMX.

    .venv/bin/python bench/bench_repack.py
    .venv/bin/python bench/bench_repack.py --model qwen2.5-coder-0.5b --repeats 5

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


def run_once(llm: Any, prompt: list[int], gen_tokens: int) -> tuple[float, float]:
    """Seconds to read ``prompt`` from an empty cache, then to generate ``gen_tokens``."""
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    for _ in range(gen_tokens):
        token = llm.sample(top_k=1, temp=0.0)
        llm.eval([token])
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--prompt-tokens", type=int, default=311)
    ap.add_argument("--gen-tokens", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from rag.config import Settings
    from rag.generation import open_llama
    from rag.models import resolve_llm

    path = resolve_llm(args.model, Settings().cache_dir)
    sides = {
        name: open_llama(path, n_ctx=4096, n_threads=args.threads, repack=repack)
        for name, repack in (("off", False), ("on", True))
    }
    text = "\n\n".join(p.read_text("utf-8") for p in sorted((REPO / "seeds").iterdir()))
    prompt = sides["off"].tokenize(text.encode("utf-8"))[: args.prompt_tokens]
    load_start = os.getloadavg()[0]
    times: dict[str, dict[str, list[float]]] = {n: {"read": [], "gen": []} for n in sides}
    for r in range(args.repeats):
        for name in ("off", "on") if r % 2 == 0 else ("on", "off"):
            read, gen = run_once(sides[name], prompt, args.gen_tokens)
            times[name]["read"].append(read)
            times[name]["gen"].append(gen)
            print(f"[{r + 1}/{args.repeats}] {name}: read {read:.2f} s, gen {gen:.2f} s",
                  file=sys.stderr)  # fmt: skip
    rows: dict[str, dict[str, float]] = {}
    for name, t in times.items():
        read, gen = statistics.median(t["read"]), statistics.median(t["gen"])
        rows[name] = {
            "read_tok_s": len(prompt) / read,
            "gen_tok_s": args.gen_tokens / gen,
            "ask_s": read + gen,
        }
    print(f"load average at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"| repacking | read tok/s ({len(prompt)}) | generate tok/s ({args.gen_tokens}) "
          "| read + generate |")  # fmt: skip
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['read_tok_s']:.0f} | {row['gen_tok_s']:.1f} | "
              f"{row['ask_s']:.2f} s |")  # fmt: skip
    ratio = {k: rows["off"][k] / rows["on"][k] for k in rows["off"]}
    print(f"| off / on | {ratio['read_tok_s']:.2f} | {ratio['gen_tok_s']:.2f} | "
          f"{ratio['ask_s']:.2f} |")  # fmt: skip
    if args.json:
        record = {"args": vars(args) | {"json": str(args.json)}, "rows": rows,
                  "ratio_off_on": ratio}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
