"""Lexical retrieval: BM25 (``bm25s``) over chunk texts, with English stemming."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Bm25:
    """An immutable BM25 index over ``texts``; results are positions in ``ids``."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        import bm25s
        import Stemmer

        self._ids = np.asarray(ids, dtype=np.int64)
        self._stemmer = Stemmer.Stemmer("english")
        self._retriever: bm25s.BM25 | None = None
        if len(texts):
            tokens = bm25s.tokenize(
                list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False
            )
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
            self._retriever = retriever

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk_id, score)`` pairs with a positive score, best first."""
        import bm25s

        if self._retriever is None or k <= 0:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        k = min(k, len(self._ids))
        docs, scores = self._retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            (int(self._ids[d]), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0
        ]
