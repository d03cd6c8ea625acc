"""Sentence-aware chunking that keeps exact character offsets.

:func:`split_sentences` returns ``(start, end)`` spans of ``text``; every chunk
is ``text[start:end]`` of whole sentences (a sentence longer than the chunk size
is cut at word boundaries). Line breaks always end a sentence, so headings and
list items stay apart from the prose around them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rag.documents import page_of
from rag.types import Chunk

# Words after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "gov",
        "sen",
        "rep",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "fig",
        "approx",
        "dept",
        "est",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "a.m",
        "p.m",
    ]
)
# Possessive runs, and no match starting inside a run of stops (the lookbehind after the
# first stop): a line of a million dots costs one pass, not a million backtracking
# attempts. Starting with the class lets the engine skip to candidate stops (2x faster).
_BOUNDARY = re.compile(r"[.!?…](?<![.!?…]{2})[.!?…]*+[\"'”’)\]]*+\s++(?=[\"'“‘(\[]?[A-Z0-9])")
_LINE = re.compile(r"[^\n]+")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the full stop at ``dot`` belongs to an abbreviation or an initial."""
    if text[dot] != ".":
        return False
    j = dot
    while j > 0 and not text[j - 1].isspace() and text[j - 1] not in "([\"'“‘":
        j -= 1
    raw = text[j:dot]
    word = raw.lower()
    if not word:
        return False
    if word in _ABBREVIATIONS:
        return True
    # Initials and dotted acronyms: "J.", "U.S", "e.g".
    if len(raw) == 1:
        return raw.isupper()
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text[start:end]``, whitespace trimmed, offsets absolute."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text, start, end):
        cursor = line.start()
        for m in _BOUNDARY.finditer(text, line.start(), line.end()):
            if _is_abbreviation(text, m.start()):
                continue
            _append_trimmed(text, cursor, m.end(), spans)
            cursor = m.end()
        _append_trimmed(text, cursor, line.end(), spans)
    return spans


def _append_trimmed(text: str, a: int, b: int, out: list[tuple[int, int]]) -> None:
    # A byte-order mark opens no sentence (it stays in the text, outside every chunk).
    while a < b and (text[a].isspace() or text[a] == "\ufeff"):
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        out.append((a, b))


def _cut_long(text: str, span: tuple[int, int], size: int) -> Iterator[tuple[int, int]]:
    """Cut a span longer than ``size`` at word boundaries."""
    a, b = span
    while b - a > size:
        cut = text.rfind(" ", a + size // 2, a + size)
        cut = cut if cut > a else a + size
        yield a, cut
        a = cut
        while a < b and text[a].isspace():
            a += 1
    if b > a:
        yield a, b


def chunk_spans(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of whole sentences into spans of at most ``size`` characters.

    Consecutive chunks share trailing sentences totalling at most ``overlap``
    characters, so a fact near a boundary is whole in at least one chunk.
    """
    if size <= 0:
        raise ValueError("chunk size must be positive")
    units = [piece for s in split_sentences(text) for piece in _cut_long(text, s, size)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and units[j + 1][1] - units[i][0] <= size:
            j += 1
        spans.append((units[i][0], units[j][1]))
        if j + 1 >= len(units):
            break
        # Step back over trailing sentences that fit in the overlap, always advancing.
        k = j + 1
        while k - 1 > i and units[j][1] - units[k - 1][0] <= overlap:
            k -= 1
        i = k
    return spans


def chunk_document(
    doc_id: str,
    text: str,
    size: int,
    overlap: int,
    first_id: int,
    page_starts: Sequence[int] = (),
) -> list[Chunk]:
    """The chunks of ``text``; with ``page_starts`` (a PDF's), each knows its first page."""
    return [
        Chunk(first_id + n, doc_id, a, b, text[a:b], page_of(page_starts, a))
        for n, (a, b) in enumerate(chunk_spans(text, size, overlap))
    ]


def line_of(text: str, offset: int) -> int:
    """1-based line number of ``offset`` in ``text`` (one lookup; for many, :func:`lines_of`)."""
    return text.count("\n", 0, offset) + 1


def lines_of(text: str, offsets: Sequence[int]) -> list[int]:
    """1-based line numbers of ``offsets`` in ``text``, in one pass over the text.

    Counting from the start for every offset made a 50 MB file quadratic (issue 19):
    here each stretch between consecutive offsets (in sorted order) is counted once.
    """
    order = sorted(range(len(offsets)), key=offsets.__getitem__)
    out = [0] * len(offsets)
    line, pos = 1, 0
    for i in order:
        offset = max(offsets[i], 0)
        if offset > pos:
            line += text.count("\n", pos, offset)
            pos = offset
        out[i] = line
    return out
