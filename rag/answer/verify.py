"""Is the answer stated in a passage, and where: the span each answer sentence cites.

A claim (one sentence of the answer) is supported by a span (a sentence of the
passages, or two adjacent ones) when

* every *key fact* of the claim (number, month, name; :func:`rag.text.key_facts`)
  that the question did not already state occurs in the span, and
* the words the claim adds to the question mostly occur there (``coverage``), or the
  span is close to the claim in meaning (``min_similarity``), and
* the claim adds something to the question at all: an answer that only repeats the
  question's words ("The treaty was signed." for "When was the treaty signed?") says
  nothing, whatever it cites.

Among the spans that support a claim, the one most relevant to the question is cited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.reading import Sentence
from rag.chunking import split_sentences
from rag.embedding import Embedder
from rag.text import content_words, key_facts, missing_facts, text_facts

MIN_COVERAGE = 0.5
MIN_SIMILARITY = 0.55
_WORD = re.compile(r"\w")
_CITE_MARK = re.compile(r" ?\[\d+\]")


@dataclass(frozen=True)
class Claim:
    text: str
    span: Sentence


def claims_of(answer: str) -> list[str]:
    text = _CITE_MARK.sub("", answer.replace("\n", " ")).strip()
    return [text[a:b] for a, b in split_sentences(text) if _WORD.search(text[a:b])]


def new_words(claim: str, question: str) -> set[str]:
    """The content words a claim adds to its question."""
    return content_words(claim) - content_words(question)


def supported(
    embedder: Embedder,
    question: str,
    answer: str,
    candidates: Sequence[Sentence],
    *,
    min_coverage: float = MIN_COVERAGE,
    min_similarity: float = MIN_SIMILARITY,
) -> list[Claim]:
    """The claims of ``answer`` that a candidate span supports, each with the span to
    cite; claims no span supports are left out. ``candidates`` best first."""
    claims = claims_of(answer)
    if not claims or not candidates:
        return []
    # Compared with every token of the question, not its key facts: a lower-case
    # question ("who wrote the jungle book") names things without capitals.
    qtokens = text_facts(question)
    spans = _spans(candidates)
    vectors = embedder.embed(claims + [s.text for s in spans])
    cv, sv = vectors[: len(claims)], vectors[len(claims) :]
    rank_of = {s.key: i for i, s in enumerate(candidates)}
    out: list[Claim] = []
    for i, claim in enumerate(claims):
        adds = new_words(claim, question)
        facts = key_facts(claim, short=len(claim.split()) <= 6) - qtokens
        if not adds and not facts:
            continue  # it only repeats the question
        best: tuple[tuple[float, ...], Sentence] | None = None
        for j, span in enumerate(spans):
            if facts and missing_facts(facts, span.text):
                continue
            cover = len(adds & content_words(span.text)) / len(adds) if adds else 1.0
            sim = float(np.dot(cv[i], sv[j]))
            if cover < min_coverage and sim < min_similarity:
                continue
            pair = span.index < 0
            key = (cover, -float(pair), -rank_of.get(span.key, len(candidates)), sim)
            if best is None or key > best[0]:
                best = (key, span)
        if best is not None:
            out.append(Claim(claim, best[1]))
    return out


def _spans(candidates: Sequence[Sentence]) -> list[Sentence]:
    """Each candidate sentence, and each pair of adjacent candidates of one chunk
    (marked with ``index = -1``): a claim may join what two sentences say."""
    out = list(candidates)
    by_pos = {(s.passage.chunk.chunk_id, s.index): s for s in candidates}
    for s in candidates:
        nxt = by_pos.get((s.passage.chunk.chunk_id, s.index + 1))
        if nxt is not None:
            c = s.passage.chunk
            text = c.text[s.start - c.start : nxt.end - c.start]
            out.append(
                Sentence(s.passage, s.start, nxt.end, text, max(s.relevance, nxt.relevance), -1)
            )
    return out
