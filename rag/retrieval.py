"""Hybrid retrieval: dense (FAISS) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RRF_K = 60


@dataclass(frozen=True)
class Scored:
    """A chunk id with its fused score and the parts it came from."""

    chunk_id: int
    score: float
    dense: float | None
    lexical: float | None


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Fuse best-first id lists: ``score(id) = sum_i w_i / (k + rank_i(id))``, rank from 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, cid in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse(
    dense_ids: np.ndarray,
    dense_scores: np.ndarray,
    lexical: Sequence[tuple[int, float]],
    k: int,
) -> list[Scored]:
    """Top ``k`` of the fused ranking, keeping each part's raw score for evidence."""
    dense = {int(i): float(s) for i, s in zip(dense_ids, dense_scores, strict=True) if i >= 0}
    lex = dict(lexical)
    lexical_ids = [cid for cid, _ in lexical]
    fused = reciprocal_rank_fusion([list(dense), lexical_ids])
    # Equal fused scores (rank a in one list and b in the other, against b and a) go to
    # the better dense rank, then the better lexical rank: an order that does not depend
    # on how a store numbers its chunks, so every store returns the same passages.
    dense_rank = {cid: r for r, cid in enumerate(dense)}
    lexical_rank = {cid: r for r, cid in enumerate(lexical_ids)}
    far = len(dense) + len(lexical_ids)
    fused.sort(key=lambda kv: (-round(kv[1], 12), dense_rank.get(kv[0], far),
                               lexical_rank.get(kv[0], far)))  # fmt: skip
    return [Scored(cid, score, dense.get(cid), lex.get(cid)) for cid, score in fused[:k]]
