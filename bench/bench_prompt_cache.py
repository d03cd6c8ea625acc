"""Cold ``rag ask``: with the prompt cache across processes against without it.

Each question of eval/seeds_qa.jsonl (or the first ``--limit``) is asked twice as a
new process, ``rag ask Q --index I --json``: once with ``RAG_PROMPT_CACHE=0`` and
once with the cache, which then holds the state saved by the previous cached run (a
different question, as for a user asking one question after another). The order of
the two alternates per question. Reported: wall time per process, median of each
side, the ratio of the medians and the median of the per-question ratios, and how
many answers are the same on both sides.

    .venv/bin/python bench/bench_prompt_cache.py --limit 7
    .venv/bin/python bench/bench_prompt_cache.py --index /tmp/seeds_index --json /tmp/pc.json

Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QA = REPO / "eval" / "seeds_qa.jsonl"
RAG_CLI = str(Path(sys.executable).with_name("rag"))
sys.path.insert(0, str(BENCH))

from bench_ingest import machine  # noqa: E402


def ask(question: str, index: Path, cache: bool) -> tuple[float, str]:
    env = dict(os.environ, RAG_PROMPT_CACHE="1" if cache else "0")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [RAG_CLI, "ask", question, "--index", str(index), "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"rag ask failed: {proc.stderr.strip()[-500:]}")
    return wall, str(json.loads(proc.stdout)["answer"])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, default=Path("/tmp/bench_seeds"))
    ap.add_argument("--limit", type=int, default=7, help="only the first N questions")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not (args.index / "CURRENT").exists():
        subprocess.run(
            [RAG_CLI, "index", str(REPO / "seeds"), "--index", str(args.index)],
            check=True,
            capture_output=True,
        )
    questions = [json.loads(x)["question"] for x in QA.read_text().splitlines() if x.strip()]
    questions = questions[: args.limit] if args.limit else questions
    # One cached run first, so the first measured one finds a state from another question.
    ask(questions[-1], args.index, cache=True)
    rows: list[dict[str, Any]] = []
    for i, question in enumerate(questions):
        row: dict[str, Any] = {"question": question}
        for cache in (False, True) if i % 2 == 0 else (True, False):
            wall, answer = ask(question, args.index, cache)
            row["cached" if cache else "uncached"] = {"wall_s": wall, "answer": answer}
        rows.append(row)
        print(
            f"{question[:60]:60s} without {row['uncached']['wall_s']:6.2f} s  "
            f"with {row['cached']['wall_s']:6.2f} s",
            flush=True,
        )
    without = statistics.median(r["uncached"]["wall_s"] for r in rows)
    with_cache = statistics.median(r["cached"]["wall_s"] for r in rows)
    summary = {
        "questions": len(rows),
        "without_p50_s": without,
        "with_p50_s": with_cache,
        "ratio": with_cache / without,
        "pair_ratio_median": statistics.median(
            r["cached"]["wall_s"] / r["uncached"]["wall_s"] for r in rows
        ),
        "same_answer": sum(r["cached"]["answer"] == r["uncached"]["answer"] for r in rows),
    }
    print(
        f"\ncold rag ask, {len(rows)} questions: without {without:.2f} s, with {with_cache:.2f} s "
        f"(ratio {summary['ratio']:.2f}; median pair ratio {summary['pair_ratio_median']:.2f}); "
        f"same answer {summary['same_answer']}/{len(rows)}"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "summary": summary, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
