"""Pick the evidence threshold from an eval run made with the gate open.

Usage:

    RAG_EVIDENCE_THRESHOLD=0 \
        .venv/bin/python eval/run.py --sets squad nq --half A --json /tmp/open.json
    .venv/bin/python eval/calibrate.py /tmp/open.json

A gate only turns answers into abstentions, so its effect at any threshold is computed
from the rows of one open run: an answerable question gated is a false abstention, an
unanswerable one gated is a correct abstention. Prints, for a grid of thresholds, the
mean over the sets of (accuracy + abstention accuracy) / 2, per set and pooled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def score(rows: list[dict[str, Any]], evidence: float, support: float) -> tuple[float, float]:
    """Accuracy on answerable rows and abstention accuracy on the others, gates applied."""
    right_a = n_a = right_u = n_u = 0
    for r in rows:
        gated = r["evidence"] < evidence or (r.get("support") or 1.0) < support
        answered = r["answerable"] and not gated
        if r["answerable_gold"]:
            n_a += 1
            right_a += answered and r["matches"]
        else:
            n_u += 1
            right_u += not answered
    return right_a / max(n_a, 1), right_u / max(n_u, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+")
    args = parser.parse_args()
    reports = [r for p in args.reports for r in json.loads(p.read_text())]
    grid_e = [0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
    grid_s = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    results = []
    for e in grid_e:
        for s in grid_s:
            per = {f"{r['set']}-{r['half']}": score(r["rows"], e, s) for r in reports}
            balanced = sum((a + u) / 2 for a, u in per.values()) / len(per)
            results.append((balanced, e, s, per))
    results.sort(key=lambda x: -x[0])
    for balanced, e, s, per in results[:15]:
        cells = "  ".join(f"{k}: acc {a:.3f} abst {u:.3f}" for k, (a, u) in per.items())
        print(f"evidence>={e:.2f} support>={s:.1f}  balanced {balanced:.3f}  {cells}")


if __name__ == "__main__":
    main()
