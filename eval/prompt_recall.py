"""Where the gold is lost: retrieval, the prompt's windows, or the reader.

For the answerable questions of each set (and half), counts those whose gold string
occurs in a retrieved passage (hit@k) and those whose gold occurs in the windows the
model is shown (prompt recall), with no generation at all: a few seconds per hundred
questions. When prompt recall sits at hit@k, choosing sentences is not where answers
are lost, and whatever the model then gets wrong, it got wrong with the answer in front
of it.

    .venv/bin/python eval/prompt_recall.py                       # 100 per half
    .venv/bin/python eval/prompt_recall.py --limit 0 --k 10      # every row, deeper
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from run import SETS, half_of, index_for

from rag import Rag, Settings
from rag.answer import Answerer, AnswerOptions
from rag.evaluation import load, matches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--limit", type=int, default=100, help="answerable rows per half (0: all)")
    parser.add_argument("--k", type=int, default=0, help="passages retrieved (default: settings)")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "rag-eval")
    args = parser.parse_args()
    settings = Settings()
    probe = Rag(settings)
    answerer = Answerer(probe.embedder, None, AnswerOptions.from_settings(settings))
    print("| set | half | answerable | hit@k | in prompt |\n|---|---|---|---|---|")
    for name in args.sets:
        s = SETS[name]
        rag = index_for(s, settings, args.work, {"embedder": probe.embedder})
        items, _, _ = load(s.qa)
        for half in ["A", "B"] if s.halves else ["all"]:
            chosen = [i for i in (items if half == "all" else half_of(items, half)) if i.answerable]
            chosen = chosen[: args.limit] if args.limit else chosen
            hit = shown = 0
            for item in chosen:
                # What Rag.ask retrieves and shows the model, without generating.
                q, k = rag._validate(item.question, args.k or None)
                passages = [p for p, _ in rag._retrieve(q, k)]
                hit += any(matches(p.chunk.text, item.gold) for p in passages)
                read = answerer.shown(q, passages)
                shown += matches(" ".join(w.text for w in read), item.gold)
            print(f"| {name} | {half} | {len(chosen)} | {hit} | {shown} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
