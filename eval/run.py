"""The four-set evaluation: seeds, RGB dev, SQuAD 2.0 dev and NQ dev in one table.

Usage (from the repository root, after `make setup`):

    .venv/bin/python eval/run.py                       # every set, both halves
    .venv/bin/python eval/run.py --sets squad nq --half A
    .venv/bin/python eval/run.py --off conflicts       # an ablation: one step switched off
    .venv/bin/python eval/run.py --json /tmp/eval.json

Each corpus is indexed once into ``--work`` (default ``~/.cache/rag-eval``) and reused.
SQuAD and NQ are split into two fixed halves (A: even rows, B: odd rows of their
qa.jsonl): tune on A, report both; a gap above 5 points between the halves is
overfitting. Seeds and RGB are small and reported whole. Every proportion comes with
its n and a 95% Wilson interval.

The model's completions are cached on disk, keyed by the exact request (messages,
schema, token budget, model): greedy decoding is deterministic, so a switch that acts
after generation costs no generation to ablate. ``--no-cache`` measures real latency.

Data is read from ../shared/data/ and never copied into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import Rag, Settings
from rag.evaluation import Item, _report, evaluate_items, load
from rag.generation import Generator, Messages, TokenCallback

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class EvalSet:
    name: str
    qa: Path
    docs: Path | None  # None: the QA file pools its own passages (RGB)
    halves: bool


SETS = {
    "seeds": EvalSet("seeds", ROOT / "eval" / "seeds_qa.jsonl", ROOT / "seeds", False),
    "rgb": EvalSet("rgb", DATA / "rgb_en_fact_dev.jsonl", None, False),
    "squad": EvalSet("squad", DATA / "squad2_dev" / "qa.jsonl", DATA / "squad2_dev" / "docs", True),
    "nq": EvalSet("nq", DATA / "nq_dev" / "qa.jsonl", DATA / "nq_dev" / "docs", True),
}
COLUMNS = [
    ("accuracy", "acc"), ("citation_precision", "cite-prec"), ("hit", "hit@k"),
    ("abstention_accuracy", "abstain"), ("false_abstentions", "false-abst"),
    ("span_violations", "span-viol"), ("latency_p50_ms", "p50 ms"), ("latency_p95_ms", "p95 ms"),
]  # fmt: skip


class CachedGenerator:
    """A generator whose completions are kept in SQLite, keyed by the whole request."""

    def __init__(self, inner: Generator, path: Path) -> None:
        self._inner = inner
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("create table if not exists gen (key text primary key, value text)")
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def name(self) -> str:
        return self._inner.name

    def __getattr__(self, attr: str) -> Any:
        # Anything else the answer path asks of a generator (e.g. a yes/no judgement),
        # cached the same way when it is a method returning JSON-able data.
        target = getattr(self._inner, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._cached([attr, args, kwargs], lambda: target(*args, **kwargs))

        return call

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        request = ["generate", messages, schema, max_tokens]
        return str(
            self._cached(
                request,
                lambda: self._inner.generate(messages, schema=schema, max_tokens=max_tokens),
            )
        )

    def _cached(self, request: list[Any], compute: Callable[[], Any]) -> Any:
        key = hashlib.sha256(
            json.dumps([self.name, *request], sort_keys=True, default=str).encode()
        ).hexdigest()
        with self._lock:
            row = self._db.execute("select value from gen where key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return json.loads(row[0])
        self.misses += 1
        value = compute()
        with self._lock:
            self._db.execute("insert or replace into gen values (?, ?)", (key, json.dumps(value)))
            self._db.commit()
        return value


def half_of(items: list[Item], half: str) -> list[Item]:
    """Rows 0, 2, 4... (A) or 1, 3, 5... (B) of the file: fixed, whatever is tuned."""
    return items[0::2] if half == "A" else items[1::2]


def limited(items: list[Item], n: int) -> list[Item]:
    """The first ``n`` answerable questions and the first ``n // 2`` unanswerable ones
    (the sets hold them 2:1, answerable first, so a plain prefix would hold none)."""
    yes = [i for i in items if i.answerable][:n]
    no = [i for i in items if not i.answerable][: n // 2]
    return yes + no


def index_for(s: EvalSet, settings: Settings, work: Path, rag_kwargs: dict[str, Any]) -> Rag:
    tag = f"{s.name}-{settings.embedding_model}-{settings.embedding_backend}"
    tag += f"-{settings.chunk_size}-{settings.chunk_overlap}"
    folder = work / "indexes" / tag.replace("/", "_")
    built = (folder / "CURRENT").is_file()
    rag = Rag.open(folder, settings.model_copy(update={"index": folder}), create=True, **rag_kwargs)
    if not built:
        t0 = time.perf_counter()
        if s.docs is None:
            _, corpus, _ = load(s.qa)
            rag.add_documents(corpus, progress=True)
        else:
            rag.add([s.docs], progress=True)
        print(f"indexed {s.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return rag


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    updates: dict[str, Any] = {}
    if args.llm:
        updates["llm"] = args.llm
    if args.off:
        updates["answer_off"] = ",".join(args.off)
    settings = Settings().model_copy(update=updates)
    probe = Rag(settings)
    kwargs: dict[str, Any] = {"embedder": probe.embedder}
    generator = probe.generator
    cache: CachedGenerator | None = None
    if generator is not None and not args.no_cache:
        cache = CachedGenerator(generator, args.work / "generations.sqlite")
        kwargs["generator"] = cache
    elif generator is not None:
        kwargs["generator"] = generator
    reports = []
    for name in args.sets:
        s = SETS[name]
        rag = index_for(s, settings, args.work, kwargs)
        items, _, fmt = load(s.qa)
        halves = [h for h in args.half if s.halves] or ["all"]
        for half in halves:
            chosen = items if half == "all" else half_of(items, half)
            if args.limit:
                chosen = limited(chosen, args.limit)
            k = args.k or settings.top_k
            rows = evaluate_items(rag, chosen, k, progress=args.progress)
            report = _report(rows, fmt, str(s.qa), rag.settings, k)
            report.update(set=name, half=half, off=args.off or [])
            reports.append(report)
            print(table_row(report), flush=True)
    if cache is not None:
        print(f"generation cache: {cache.hits} hits, {cache.misses} misses", file=sys.stderr)
    return reports


def _cell(report: dict[str, Any], key: str) -> str:
    if key == "hit":
        key = f"hit_at_{report['k']}"
    value = report.get(key)
    if value is None:
        return "n/a"
    if key == "false_abstentions":
        return f"{value}/{report['n']['answerable']}"
    if isinstance(value, float) and key.startswith("latency"):
        return f"{value:.0f}"
    if isinstance(value, float):
        ci = report.get("ci95", {}).get(key)
        return f"{value:.3f}" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "")
    return str(value)


def table_header() -> str:
    names = ["set", "half", "n"] + [label for _, label in COLUMNS]
    return "| " + " | ".join(names) + " |\n" + "|---" * len(names) + "|"


def table_row(report: dict[str, Any]) -> str:
    n = report["n"]
    cells = [report["set"], report["half"], f"{n['answerable']}+{n['unanswerable']}"]
    cells += [_cell(report, key) for key, _ in COLUMNS]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--half", nargs="*", default=["A", "B"], choices=["A", "B"])
    parser.add_argument("--off", nargs="*", default=[], help="answer steps to switch off")
    parser.add_argument("--llm", help="model (default: RAG_LLM or the packaged default)")
    parser.add_argument("--k", type=int)
    parser.add_argument(
        "--limit", type=int, help="first N answerable and N/2 unanswerable questions of each half"
    )
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "rag-eval")
    parser.add_argument("--no-cache", action="store_true", help="no generation cache")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--json", type=Path, help="write every report (with rows) here")
    args = parser.parse_args()
    print(table_header(), flush=True)
    reports = run(args)
    print("\n" + table_header())
    print("\n".join(table_row(r) for r in reports))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
