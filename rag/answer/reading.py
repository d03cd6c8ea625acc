"""What the model reads: retrieved passages cut into sentences, ranked, and windows
around the best of them within the prompt budget.

A sentence's *relevance* is the cosine of its embedding with the question's plus a
little word overlap. With ``titles`` on, a sentence is read as "title: sentence", so a
sentence that names its subject only through the page it sits on ("He was born in
1901.") is still found. ``evidence`` is the best relevance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.chunking import split_sentences
from rag.embedding import Embedder
from rag.text import content_words, overlap
from rag.types import Chunk

LEXICAL_WEIGHT = 0.35


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with the metadata needed to cite inside it."""

    chunk: Chunk
    source: str
    title: str
    date: str | None
    line: int
    score: float


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage: ``text == document.text[start:end]``."""

    passage: Passage
    start: int
    end: int
    text: str
    relevance: float = 0.0
    # position of the sentence in its chunk, for windows
    index: int = 0

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.passage.chunk.doc_id, self.start, self.end)


def sentences_of(passages: Sequence[Passage], *, skip_titles: bool = True) -> list[Sentence]:
    """Every sentence of every passage once (overlapping chunks share sentences).

    With ``skip_titles``, a line that only repeats its document's title (the heading
    a document opens with) is not a sentence: it states nothing, yet it ranks high for
    any question that names the subject, and a model shown it answers with the title.
    """
    seen: set[tuple[str, int, int]] = set()
    out: list[Sentence] = []
    for p in passages:
        c = p.chunk
        title = _squash(p.title)
        for i, (a, b) in enumerate(split_sentences(c.text)):
            s = Sentence(p, c.start + a, c.start + b, c.text[a:b], index=i)
            if skip_titles and title and _squash(s.text) == title:
                continue
            if s.key not in seen and len(s.text) > 2:
                seen.add(s.key)
                out.append(s)
    return out


def _squash(text: str) -> str:
    return " ".join(text.split()).strip(" .:#").casefold()


def rank(
    embedder: Embedder, question: str, sentences: Sequence[Sentence], *, titles: bool = True
) -> list[Sentence]:
    """``sentences`` with their relevance to ``question``, best first."""
    if not sentences:
        return []
    read = [f"{s.passage.title}: {s.text}" if titles else s.text for s in sentences]
    vectors = embedder.embed([question, *read])
    cos = vectors[1:] @ vectors[0]
    qwords = content_words(question)
    scored = [
        replace(s, relevance=float(c) + LEXICAL_WEIGHT * overlap(qwords, r))
        for s, c, r in zip(sentences, cos, read, strict=True)
    ]
    return sorted(scored, key=lambda s: -s.relevance)


@dataclass(frozen=True)
class Window:
    """Consecutive sentences of one chunk, read together: ``text`` is the chunk's text
    from the first sentence's start to the last one's end."""

    passage: Passage
    start: int
    end: int
    text: str
    relevance: float


def windows(ranked: Sequence[Sentence], budget: int, radius: int = 1) -> list[Window]:
    """The best sentences, each with up to ``radius`` neighbours on either side in its
    chunk, best first, within ``budget`` characters (the first always fits, cut to it).
    Windows that touch or overlap in one chunk are merged."""
    by_chunk: dict[int, list[Sentence]] = {}
    for s in ranked:
        by_chunk.setdefault(s.passage.chunk.chunk_id, []).append(s)
    for group in by_chunk.values():
        group.sort(key=lambda s: s.index)
    picked: dict[int, set[int]] = {}
    order: list[int] = []  # chunk ids, in the order their best sentence ranks
    used = 0
    for s in ranked:
        cid = s.passage.chunk.chunk_id
        group = by_chunk[cid]
        pos = next(i for i, g in enumerate(group) if g.key == s.key)
        want = set(range(max(0, pos - radius), min(len(group), pos + radius + 1)))
        have = picked.get(cid, set())
        new = want - have
        cost = sum(len(group[i].text) + 1 for i in new)
        if not new:
            continue
        if used and used + cost > budget:
            # try the sentence alone before giving up on it
            new = {pos} - have
            cost = sum(len(group[i].text) + 1 for i in new)
            if not new or used + cost > budget:
                continue
        if cid not in picked:
            order.append(cid)
        picked[cid] = have | new
        used += cost
        if used >= budget:
            break
    out: list[Window] = []
    for cid in order:
        group = by_chunk[cid]
        idx = sorted(picked[cid])
        runs: list[list[int]] = []
        for i in idx:
            if runs and i == runs[-1][-1] + 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        for run in runs:
            first, last = group[run[0]], group[run[-1]]
            c = first.passage.chunk
            text = c.text[first.start - c.start : last.end - c.start]
            best = max(group[i].relevance for i in run)
            out.append(Window(first.passage, first.start, last.end, text, best))
    out.sort(key=lambda w: -w.relevance)
    if out and len(out[0].text) > budget:
        w = out[0]
        out[0] = replace(w, text=w.text[:budget], end=w.start + budget)
    return out
