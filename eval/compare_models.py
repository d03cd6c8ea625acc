"""Measure the packaged LLMs (and the extractive mode) with `rag eval` on both QA sets.

Usage (from the repository root, after `make setup`):

    .venv/bin/python eval/compare_models.py --json /tmp/models.json

Builds the seeds index and the pooled RGB index in a temporary folder, runs every
question of both sets once per model, and prints a Markdown table (the one in
docs/evaluation.md). Reads RGB from ../shared/data/ (never copied here).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from rag import Rag, Settings
from rag.evaluation import evaluate_file

ROOT = Path(__file__).resolve().parent.parent
SEEDS_QA = ROOT / "eval" / "seeds_qa.jsonl"
RGB = ROOT.parent / "shared" / "data" / "rgb_en_fact_dev.jsonl"
MODELS = ["none", "smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
KEYS = ["accuracy", "citation_precision", "hit_at_5", "abstention_accuracy",
        "span_violations", "latency_p50_ms", "latency_p95_ms"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--sets", nargs="*", default=["seeds", "rgb"])
    parser.add_argument("--json", type=Path, help="write all reports here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    seeds_index = work / "seeds"
    Rag.open(seeds_index, Settings(index=seeds_index, llm="none"), create=True).add(
        [ROOT / "seeds"]
    )
    files = {"seeds": (SEEDS_QA, seeds_index), "rgb": (RGB, work / "rgb")}
    reports = []
    rows = ["| set | llm | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 2) + "|"]
    for name in args.sets:
        qa, index = files[name]
        for model in args.models:
            settings = Settings(index=index, llm=model)
            report = evaluate_file(qa, settings)
            report["set"] = name
            reports.append(report)
            cells = [str(report.get(k)) for k in KEYS]
            rows.append(f"| {name} | {model} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    print("\n".join(rows))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
