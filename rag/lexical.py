"""Lexical retrieval: BM25 over chunk texts, with English stemming.

The scoring is bm25s's default (Lucene BM25, k1 = 1.5, b = 0.75, its English
stopword list, PyStemmer's English stemmer) computed with numpy: the index is
built from one flat array of token ids instead of per-document Python loops,
and a query adds up only the posting lists of its terms. At 100k chunks this
builds several times faster than ``bm25s`` and answers a query in about a
millisecond (bench/bench_search.py, docs/benchmarks.md).

The arrays are saved with each index generation and memory-mapped when it is
opened (:meth:`Bm25.save`, :meth:`Bm25.load`), so opening a large index does not
re-tokenise its texts.

An index split into parts (a base generation and its small-write segments,
rag.storage) is searched with :class:`Bm25Parts`: every part is scored with the
statistics of all the parts together (live documents, each query term's document
frequency, average length), so a document scores what it would in one index built over
the same documents, whichever part holds it. Each part keeps its term frequencies and
document lengths for that; the sums are made at open (lengths) and per query (the
query terms' posting lists, which the query reads anyway).
"""

from __future__ import annotations

import json
import os
import re
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError, first_line

K1 = 1.5
B = 0.75
# bm25s.tokenization.STOPWORDS_EN (the list bm25s uses for stopwords="en").
STOPWORDS_EN = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
     "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
     "these", "they", "this", "to", "was", "will", "with"]
)  # fmt: skip
# bm25s's default pattern is r"(?u)\b\w\w+\b"; for findall, maximal runs of two or more
# word characters are the same matches, found faster.
_TOKEN = re.compile(r"\w{2,}")
# Queries with fewer postings than this fraction of the documents add them up in float64
# (the scores bm25s gives), by sorting the documents touched when there are few of them
# (below _SORT_FRACTION) and in an array over all documents when there are more (at 1M
# chunks, 5% of the documents touched: 8 ms sorted, 2 ms dense). Longer ones add up in
# float32 over all documents: np.add.at on float32 is numpy's fast path (at 1M chunks,
# 7-10 ms for a typical question against 23 ms for ``scores[docs] += data``; float64
# add.at of float32 data is 20x slower).
_SPARSE_FRACTION = 0.25
_SORT_FRACTION = 1 / 64
# From this many documents on, the top k are picked among those scoring at least the
# k-th best of every _SAMPLE_STEP-th document (exact; at 1M, 2 ms instead of 21 ms).
_SAMPLED_TOP_ABOVE = 65_536
_SAMPLE_STEP = 64
# The arrays :meth:`Bm25.save` writes (one .npy each, memory-mapped by :meth:`Bm25.load`)
# and the JSON file with the term dictionary and parameters.
FOLDER = "bm25"
# ``data``: each posting's BM25 weight with this index's own statistics (one index: its
# scores as they are); ``tf`` and ``lengths`` (per document, terms kept): the weights again
# with another corpus's statistics (:class:`Bm25Parts`).
_ARRAYS = ("ids", "indptr", "docs", "data", "tf", "lengths")
_TERMS = "terms.json"
_FORMAT = 2  # 1: without tf and lengths (rebuilt from the texts when opened)
_DTYPES: dict[str, tuple[type, ...]] = {
    "ids": (np.int64,), "indptr": (np.int64,), "docs": (np.int32,), "data": (np.float32,),
    "tf": (np.uint16, np.uint32), "lengths": (np.int32,),
}  # fmt: skip


def analyze(text: str) -> list[str]:
    """The terms BM25 indexes for ``text``: lower-cased words of two or more characters,
    English stopwords removed, stemmed (what :class:`Bm25` does internally, in bulk).
    Other stores index these terms so their BM25 ranks the same way."""
    import Stemmer

    global _STEMMER
    if _STEMMER is None:
        _STEMMER = Stemmer.Stemmer("english")
    words = [w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS_EN]
    return list(_STEMMER.stemWords(words)) if words else []


_STEMMER: Any = None


class Bm25:
    """An immutable BM25 index over ``texts``; results are positions in ``ids``."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        import Stemmer

        self._ids = np.asarray(ids, dtype=np.int64)
        stemmer = Stemmer.Stemmer("english")
        self._terms: dict[str, int] = {}
        n = len(texts)
        self._n = n
        self._indptr = np.zeros(1, dtype=np.int64)
        self._docs = np.zeros(0, dtype=np.int32)
        self._data = np.zeros(0, dtype=np.float32)
        self._tf: np.ndarray = np.zeros(0, dtype=np.uint16)
        self._lengths = np.zeros(0, dtype=np.int32)
        if n == 0:
            return

        # 1. Every token of every text as an id into ``raw`` (lower-cased words).
        raw = _Ids()
        lookup = raw.__getitem__
        split = _TOKEN.findall
        flat = array("i")
        lengths = np.empty(n, dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = split(text.lower())
            flat.extend(map(lookup, tokens))
            lengths[i] = len(tokens)

        # 2. Stem each distinct word once; stopwords map to -1.
        words = list(raw)
        stems = stemmer.stemWords(words)
        terms = self._terms
        raw_to_term = np.array(
            [
                -1 if w in STOPWORDS_EN else terms.setdefault(s, len(terms))
                for w, s in zip(words, stems, strict=True)
            ],
            dtype=np.int64,
        )
        tok = (
            raw_to_term[np.frombuffer(flat, dtype=np.int32)] if len(flat) else np.zeros(0, np.int64)
        )
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
        keep = tok >= 0
        tok, doc = tok[keep], doc[keep]
        del flat, keep

        # 3. Term frequencies per (term, document), sorted by term then document: CSC order.
        doc_len = np.bincount(doc, minlength=n).astype(np.float64)
        key, tf = np.unique(tok * n + doc, return_counts=True)
        del tok, doc
        term = key // n
        docs = key - term * n
        del key
        df = np.bincount(term, minlength=len(terms))
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avg = doc_len.mean() if n else 1.0
        tf = tf.astype(np.float64)
        data = idf[term] * tf / (K1 * (1 - B + B * doc_len[docs] / max(avg, 1e-9)) + tf)
        self._indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self._docs = docs.astype(np.int32)
        self._data = data.astype(np.float32)
        self._tf = tf.astype(np.uint16 if not len(tf) or tf.max() <= 0xFFFF else np.uint32)
        self._lengths = doc_len.astype(np.int32)

    def __len__(self) -> int:
        return self._n

    def live(self, mask: np.ndarray | None) -> tuple[int, int]:
        """``(documents, terms)`` of this index without the documents of ``mask`` (a
        :meth:`mask`): its share of a corpus's size and total length."""
        if mask is None:
            return self._n, int(self._lengths.sum(dtype=np.int64))
        kept = self._lengths[~mask]
        return len(kept), int(kept.sum(dtype=np.int64))

    def term(self, word: str) -> int | None:
        """The id of an analysed term (:func:`analyze`), ``None`` when no document has it."""
        return self._terms.get(word)

    def df(self, term: int, dead: np.ndarray | None = None) -> int:
        """How many documents hold ``term``, not counting those at the sorted positions
        ``dead`` (see :meth:`positions`)."""
        a, b = int(self._indptr[term]), int(self._indptr[term + 1])
        if dead is None or not len(dead) or a == b:
            return b - a
        docs = self._docs[a:b]  # sorted: the postings of a term are in document order
        at = np.minimum(np.searchsorted(docs, dead), b - a - 1)
        return b - a - int(np.count_nonzero(docs[at] == dead))

    def positions(self, mask: np.ndarray | None) -> np.ndarray | None:
        """The sorted positions of the documents of ``mask`` (a :meth:`mask`)."""
        return None if mask is None else np.flatnonzero(mask).astype(np.int32)

    def norms(self, avg: float) -> np.ndarray:
        """Per document, BM25's length normalisation ``k1 * (1 - b + b * length / avg)``
        for a corpus of average length ``avg`` (for :meth:`search_terms`)."""
        return K1 * (1 - B + B * self._lengths.astype(np.float64) / max(avg, 1e-9))

    def save(self, folder: Path) -> None:
        """Write the index into ``folder/bm25/`` (fsynced), for :meth:`load`."""
        out = folder / FOLDER
        out.mkdir()
        for name in _ARRAYS:
            with open(out / f"{name}.npy", "wb") as fh:
                np.save(fh, getattr(self, "_" + name), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        terms = sorted(self._terms, key=self._terms.__getitem__)
        meta = {"format": _FORMAT, "k1": K1, "b": B, "n": self._n, "terms": terms}
        with open(out / _TERMS, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, folder: Path, ids: np.ndarray | None = None) -> Bm25 | None:
        """The index :meth:`save` wrote into ``folder``, its arrays memory-mapped (opening
        reads the term dictionary and makes one vectorised pass over the arrays to check
        them), or ``None`` when ``folder`` holds none or one with other parameters (rebuild
        it). ``ids``: the sorted chunk ids it must be over. Raises
        :class:`IndexCorruptError` naming the file that is damaged."""
        src = folder / FOLDER
        if not os.path.lexists(src / _TERMS):
            return None
        meta = _read_terms(src / _TERMS)
        if (meta.get("format"), meta.get("k1"), meta.get("b")) != (_FORMAT, K1, B):
            return None
        self = cls.__new__(cls)
        arrays = {name: _read_array(src / f"{name}.npy", _DTYPES[name]) for name in _ARRAYS}
        self._ids, self._indptr = arrays["ids"], arrays["indptr"]
        self._docs, self._data = arrays["docs"], arrays["data"]
        self._tf, self._lengths = arrays["tf"], arrays["lengths"]
        self._n = meta["n"]
        self._terms = {t: i for i, t in enumerate(meta["terms"])}
        problem = self._problem(ids)
        if problem is not None:
            raise IndexCorruptError.at(src / problem[0], problem[1])
        return self

    def _problem(self, ids: np.ndarray | None) -> tuple[str, str] | None:
        """``(file, what is wrong)`` for arrays that disagree with each other or with the
        chunk ``ids``: ranking from them would silently give wrong results."""
        n, indptr, docs, data = self._n, self._indptr, self._docs, self._data
        if len(self._ids) != n:
            return "ids.npy", f"{len(self._ids)} ids where {_TERMS} says {n}"
        if ids is not None and not np.array_equal(self._ids, ids):
            return "ids.npy", "ids that are not the chunk ids"
        if len(indptr) != len(self._terms) + 1:
            return "indptr.npy", f"{len(indptr)} offsets for {len(self._terms)} terms"
        if indptr[0] != 0 or indptr[-1] != len(docs) or np.any(np.diff(indptr) < 0):
            return "indptr.npy", "offsets that do not run from 0 up to the postings"
        if len(docs) != len(data):
            return "data.npy", f"{len(data)} scores for {len(docs)} postings"
        if len(docs) and (int(docs.min()) < 0 or int(docs.max()) >= n):
            return "docs.npy", "postings that point outside the chunks"
        if len(data) and not (data.min() > 0 and np.isfinite(data.max())):  # NaN fails
            return "data.npy", "scores that are not positive finite numbers"
        tf, lengths = self._tf, self._lengths
        if len(tf) != len(docs):
            return "tf.npy", f"{len(tf)} term frequencies for {len(docs)} postings"
        if len(tf) and tf.min() == 0:
            return "tf.npy", "term frequencies that are not all positive"
        if (
            len(lengths) != n or (n and lengths.min() < 0)
            or int(lengths.sum(dtype=np.int64)) != int(tf.sum(dtype=np.int64))
        ):  # fmt: skip
            return "lengths.npy", "document lengths that are not the term frequencies' sums"
        return None

    def _query_terms(self, query: str) -> list[int]:
        return [t for s in analyze(query) if (t := self._terms.get(s)) is not None]

    def mask(self, ids: np.ndarray) -> np.ndarray | None:
        """A mask over this index's documents of the chunk ``ids`` (for :meth:`search`'s
        ``exclude``), or ``None`` when it holds none of them."""
        if not len(ids) or not self._n:
            return None
        mask = np.isin(np.asarray(self._ids), ids)
        return mask if mask.any() else None

    def search(
        self, query: str, k: int, exclude: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk_id, score)`` pairs with a positive score, best first;
        ``exclude``: a :meth:`mask` of documents never returned (tombstones). Scored with
        this index's own statistics (tombstoned documents included)."""
        if self._n == 0 or k <= 0:
            return []
        return self._rank([(t, None) for t in self._query_terms(query)], None, k, exclude)

    def search_terms(
        self, terms: Sequence[tuple[int, float]], norms: np.ndarray, k: int,
        exclude: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:  # fmt: skip
        """:meth:`search` with another corpus's statistics: ``terms`` are ``(term id,
        IDF)`` pairs, ``norms`` the :meth:`norms` for its average length. The weights are
        what :class:`Bm25` computes when it is built over that corpus, float for float."""
        if self._n == 0 or k <= 0:
            return []
        return self._rank(list(terms), norms, k, exclude)

    def _weights(self, a: int, b: int, idf: float | None, norms: np.ndarray | None) -> np.ndarray:
        """The weights of postings ``a:b``: saved, or from ``idf`` and ``norms``."""
        if norms is None or idf is None:
            return self._data[a:b]
        # idf * tf / (norm + tf), as __init__ computes it, in place (a third faster).
        tf = self._tf[a:b].astype(np.float64)
        den = np.take(norms, self._docs[a:b])
        den += tf
        tf *= idf
        tf /= den
        return tf.astype(np.float32)

    def _rank(
        self, terms: list[tuple[int, float | None]], norms: np.ndarray | None, k: int,
        exclude: np.ndarray | None,
    ) -> list[tuple[int, float]]:  # fmt: skip
        if not terms:
            return []
        spans = [(int(self._indptr[t]), int(self._indptr[t + 1]), idf) for t, idf in terms]
        postings = sum(b - a for a, b, _ in spans)
        if postings == 0:
            return []
        scores: np.ndarray
        positions = None
        if postings < _SPARSE_FRACTION * self._n:
            touched = np.concatenate([self._docs[a:b] for a, b, _ in spans])
            weights = np.concatenate([self._weights(a, b, idf, norms) for a, b, idf in spans])
            if exclude is not None:
                live = ~exclude[touched]
                touched, weights = touched[live], weights[live]
                if not len(touched):
                    return []
            if postings < _SORT_FRACTION * self._n:
                positions, inverse = np.unique(touched, return_inverse=True)
                scores = np.bincount(inverse, weights=weights)
            else:  # the same sums, in the same order
                scores = np.bincount(touched, weights=weights, minlength=self._n)
        else:
            scores = np.zeros(self._n, dtype=np.float32)  # float32 halves the memory traffic
            for a, b, idf in spans:
                np.add.at(scores, self._docs[a:b], self._weights(a, b, idf, norms))
            if exclude is not None:
                scores[exclude] = 0
        top = _top_k(scores, min(k, len(scores)))
        out = []
        for i in top:
            s = float(scores[i])
            if s <= 0:
                break
            pos = int(positions[i]) if positions is not None else int(i)
            out.append((int(self._ids[pos]), s))
        return out


class Bm25Parts:
    """Several :class:`Bm25` indexes (a base and its segments) searched as one index over
    their live documents: every part is scored with the statistics of all of them
    together (documents, each query term's document frequency, average length), without
    the documents of ``dead`` (tombstones), so a document's score and rank are those of
    one :class:`Bm25` built over the same documents, whichever part holds it.

    Opening sums the parts' sizes and lengths and computes each document's length
    normalisation (linear in the documents); a query sums the document frequencies of its
    terms from the posting lists it reads anyway. One part without tombstones is searched
    with its saved weights, as :meth:`Bm25.search` does.
    """

    def __init__(self, parts: Sequence[Bm25], dead: np.ndarray) -> None:
        self._parts = list(parts)
        self._masks = [p.mask(dead) for p in self._parts]
        self._dead = [p.positions(m) for p, m in zip(self._parts, self._masks, strict=True)]
        sizes = [p.live(m) for p, m in zip(self._parts, self._masks, strict=True)]
        self._n = sum(n for n, _ in sizes)
        # Bm25 divides the total length by the document count in float64 (numpy's mean).
        self._avg = float(np.float64(sum(t for _, t in sizes)) / self._n) if self._n else 1.0
        self._single = len(self._parts) == 1 and self._masks[0] is None
        self._norms = [] if self._single else [p.norms(self._avg) for p in self._parts]

    def __len__(self) -> int:
        """The live documents."""
        return self._n

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` ``(chunk_id, score)`` pairs with a positive score, best first (ties:
        lower chunk id first), as :meth:`Bm25.search` of one index over the live documents."""
        if self._n == 0 or k <= 0:
            return []
        if self._single:
            return self._parts[0].search(query, k)
        words = analyze(query)
        ids = [[p.term(w) for w in words] for p in self._parts]
        df = np.zeros(len(words), dtype=np.int64)
        for p, row, dead in zip(self._parts, ids, self._dead, strict=True):
            for j, t in enumerate(row):
                if t is not None:
                    df[j] += p.df(t, dead)
        idf = np.log1p((self._n - df + 0.5) / (df + 0.5))  # Bm25's formula, over all parts
        hits: list[tuple[int, float]] = []
        for p, row, mask, norms in zip(self._parts, ids, self._masks, self._norms, strict=True):
            terms = [(t, float(idf[j])) for j, t in enumerate(row) if t is not None and df[j]]
            hits.extend(p.search_terms(terms, norms, k, mask))
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]


def _read_terms(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_bytes())
    except OSError as exc:
        raise IndexCorruptError.at(path, f"unreadable ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise IndexCorruptError.at(path, f"not valid JSON ({first_line(exc)})") from None
    terms = meta.get("terms") if isinstance(meta, dict) else None
    if (
        not isinstance(terms, list) or not all(isinstance(t, str) for t in terms)
        or len(set(terms)) != len(terms) or type(meta.get("n")) is not int or meta["n"] < 0
    ):  # fmt: skip
        raise IndexCorruptError.at(path, "not a BM25 term dictionary")
    return meta


def _read_array(path: Path, dtypes: tuple[type, ...]) -> np.ndarray:
    """A 1-d array of one of ``dtypes`` that :func:`numpy.save` wrote, memory-mapped."""
    try:
        array_ = np.load(path, mmap_mode="r", allow_pickle=False)
    except (FileNotFoundError, NotADirectoryError):
        raise IndexCorruptError.at(path, "missing") from None
    except Exception as exc:  # noqa: BLE001 - a damaged .npy header fails in many ways
        raise IndexCorruptError.at(path, f"not a .npy array ({first_line(exc)})") from None
    if not isinstance(array_, np.ndarray) or array_.ndim != 1 or array_.dtype not in dtypes:
        names = " or ".join(np.dtype(d).name for d in dtypes)
        raise IndexCorruptError.at(path, f"not a 1-d {names} array")
    return array_


class _Ids(dict[str, int]):
    """A dict that gives each new key the next id (lookups stay in C)."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties: lower index first), or of
    fewer when fewer than ``k`` are positive and ``scores`` is long."""
    n = len(scores)
    if n >= _SAMPLED_TOP_ABOVE and k < n // _SAMPLE_STEP:
        # The k-th best of a subset is at most the k-th best of all: every document of
        # the top k (and every tie with its last) scores at least that.
        sample = scores[::_SAMPLE_STEP]
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        cand = np.flatnonzero(scores >= floor) if floor > 0 else np.flatnonzero(scores > 0)
        return cand[np.lexsort((cand, -scores[cand]))][:k]
    cand = np.arange(n) if k >= n else np.argpartition(scores, n - k)[n - k :]
    return cand[np.lexsort((cand, -scores[cand]))]
