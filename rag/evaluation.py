"""``rag eval``: answer a QA file against an index and measure what matters.

Two formats are read:

* ours (JSONL): ``{"question", "answers": [alternatives...], "answerable": true}``
  (``answer`` as a string is accepted too; ``answerable`` defaults to true);
* RGB (``../shared/data/rgb_en_fact_dev.jsonl``): ``{"query", "answer", "positive",
  "negative"}``. All passages of all rows are pooled into one corpus, one
  document each, and every question is asked against the whole pool.

Gold matching follows RGB: every top-level gold item must occur in the answer
(case-insensitive); an item that is a list is a set of alternatives.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.documents import text_document
from rag.errors import BadInputError, PathNotFoundError
from rag.text import NUMBER_WORDS
from rag.types import Answer, Document

Gold = list[str | list[str]]


@dataclass(frozen=True)
class Item:
    question: str
    gold: Gold
    answerable: bool


def _gold(value: Any) -> Gold:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out: Gold = []
    for v in value:
        out.append([str(x) for x in v] if isinstance(v, list) else str(v))
    return out


def load(path: Path) -> tuple[list[Item], list[Document], str]:
    """Questions, the pooled corpus (RGB only) and the format name."""
    if not path.is_file():
        raise PathNotFoundError(f"no such QA file: {path}")
    items: list[Item] = []
    passages: dict[str, None] = {}
    fmt = "ours"
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        if "query" in row and ("positive" in row or "negative" in row):
            fmt = "rgb"
            for p in list(row.get("positive", [])) + list(row.get("negative", [])):
                passages.setdefault(p)
            items.append(Item(row["query"], _gold(row.get("answer")), True))
        elif "question" in row:
            gold = _gold(row.get("answers", [row["answer"]] if "answer" in row else []))
            # Our format lists alternatives: any one of them suffices.
            if "answers" in row and gold:
                gold = [[g for g in gold if isinstance(g, str)]]
            items.append(Item(row["question"], gold, bool(row.get("answerable", True))))
        else:
            raise BadInputError(f"{path}:{n}: needs 'question' (ours) or 'query' (RGB)")
    docs = []
    for p in passages:
        digest = hashlib.sha1(p.encode("utf-8")).hexdigest()[:16]
        docs.append(text_document(p, title=f"passage {digest}", source=f"rgb:{digest}"))
    return items, docs, fmt


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s]")


def normalise_answer(text: str) -> str:
    """The SQuAD / NQ-open normalisation: lower case, no punctuation, no articles,
    single spaces ("the Oller Sea." and "Oller Sea" are the same answer); small
    numbers in digits ("eight" and "8")."""
    text = _ARTICLES.sub(" ", _PUNCT.sub(" ", text.lower()))
    return " ".join(NUMBER_WORDS.get(w, w) for w in text.split())


def _occurs(alt: str, normalised: str) -> bool:
    a = normalise_answer(alt)
    return a != "" and a in normalised


def matches(text: str, gold: Gold) -> bool:
    """Every top-level item of ``gold`` occurs in ``text`` (alternatives for list items),
    both after :func:`normalise_answer`: RGB's containment rule with the normalisation
    of SQuAD and NQ-open (whose "best subspan" match is the same containment)."""
    if not gold:
        return False
    norm = normalise_answer(text)
    for item in gold:
        alts = item if isinstance(item, list) else [item]
        if not any(_occurs(a, norm) for a in alts):
            return False
    return True


def mentions_any(text: str, gold: Gold) -> bool:
    norm = normalise_answer(text)
    return any(
        _occurs(a, norm) for item in gold for a in (item if isinstance(item, list) else [item])
    )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def evaluate_file(
    path: Path,
    settings: Settings,
    *,
    k: int | None = None,
    limit: int | None = None,
    build: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    from rag.pipeline import Rag

    items, corpus, fmt = load(path)
    if limit is not None:
        items = items[:limit]
    rag = Rag.open(settings.index, settings, create=bool(corpus) and build)
    if corpus and build:
        rag.add_documents(corpus, progress=progress)
    k = k or settings.top_k
    rows = evaluate_items(rag, items, k, progress=progress)
    return _report(rows, fmt, str(path), settings, k)


def evaluate_items(
    rag: Any, items: list[Item], k: int, *, progress: bool = False
) -> list[dict[str, Any]]:
    """One scored row per question, asked of ``rag`` (a :class:`rag.Rag`)."""
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items, start=1):
        sources: list[Any] = []
        answer = rag.ask(item.question, k, on_sources=sources.extend)
        # hit@k scores the passages the answer was made from (one retrieval per question)
        rows.append(_score(rag, item, answer, [h.text for h in sources]))
        if progress:
            mark = "ok" if rows[-1]["correct"] else "--"
            print(f"[{i}/{len(items)}] {mark} {item.question[:70]}", file=sys.stderr)
    return rows


def _score(rag: Any, item: Item, answer: Answer, hit_texts: list[str]) -> dict[str, Any]:
    violations = sum(1 for c in answer.citations if not _exact(rag, c))
    precise = [mentions_any(c.quote, item.gold) for c in answer.citations]
    return {
        "question": item.question,
        "answerable_gold": item.answerable,
        "answerable": answer.answerable,
        "answer": answer.answer,
        "mode": answer.mode,
        "evidence": round(answer.evidence, 4),
        "matches": matches(answer.answer, item.gold) if item.answerable else False,
        "correct": answer.answerable and matches(answer.answer, item.gold)
        if item.answerable
        else not answer.answerable,
        "hit": item.answerable and any(mentions_any(t, item.gold) for t in hit_texts),
        "citations": len(answer.citations),
        "precise_citations": sum(precise),
        "quotes": [c.quote for c in answer.citations],
        "span_violations": violations,
        "total_ms": answer.timings.get("total_ms", 0.0),
    }


def _exact(rag: Any, c: Any) -> bool:
    """``quote == text[start:end]`` of the indexed document (and of the file, for txt/md)."""
    if rag.span_text(c.doc_id, c.start, c.end) != c.quote:
        return False
    src = Path(c.source)
    if src.suffix.lower() in {".txt", ".md", ".markdown"} and src.is_file():
        return src.read_text("utf-8")[c.start : c.end] == c.quote
    return True


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (95% by default) of a proportion, or ``None`` for n=0."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def _report(
    rows: list[dict[str, Any]], fmt: str, path: str, settings: Settings, k: int
) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable_gold"]]
    unanswerable = [r for r in rows if not r["answerable_gold"]]
    cited = sum(r["citations"] for r in answerable)
    latencies = [r["total_ms"] for r in rows]

    def ratio(n: float, d: float) -> float | None:
        return round(n / d, 4) if d else None

    return {
        "file": path,
        "format": fmt,
        "questions": len(rows),
        "llm": settings.llm if settings.llm_enabled else "none",
        "embedding_model": settings.embedding_model,
        "k": k,
        "accuracy": ratio(sum(r["correct"] for r in answerable), len(answerable)),
        "citation_precision": ratio(sum(r["precise_citations"] for r in answerable), cited),
        f"hit_at_{k}": ratio(sum(r["hit"] for r in answerable), len(answerable)),
        "abstention_accuracy": ratio(sum(r["correct"] for r in unanswerable), len(unanswerable)),
        "false_abstentions": sum(1 for r in answerable if not r["answerable"]),
        "span_violations": sum(r["span_violations"] for r in rows),
        "n": {"answerable": len(answerable), "unanswerable": len(unanswerable), "cited": cited},
        "ci95": {
            "accuracy": wilson(sum(r["correct"] for r in answerable), len(answerable)),
            "citation_precision": wilson(sum(r["precise_citations"] for r in answerable), cited),
            "abstention_accuracy": wilson(
                sum(r["correct"] for r in unanswerable), len(unanswerable)
            ),
        },
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
        "latency_p95_ms": round(_percentile(latencies, 0.95), 1),
        "rows": rows,
    }


def format_report(report: dict[str, Any]) -> str:
    keys = [
        "questions", "llm", "accuracy", "citation_precision", f"hit_at_{report['k']}",
        "abstention_accuracy", "false_abstentions", "span_violations",
        "latency_p50_ms", "latency_p95_ms",
    ]  # fmt: skip
    width = max(len(k) for k in keys)
    lines = [f"{report['file']} ({report['format']})"]
    for key in keys:
        value = report.get(key)
        shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else value)
        lines.append(f"  {key:<{width}}  {shown}")
    wrong = [r for r in report["rows"] if not r["correct"]]
    if wrong:
        lines.append(f"  wrong ({len(wrong)}):")
        lines.extend(f"    - {r['question'][:60]} → {r['answer'][:80]!r}" for r in wrong[:15])
    return "\n".join(lines)
