"""A vague answer and the more specific forms other passages give it.

The model reads a handful of passages and answers with what they say. When those say
only "in early 2020" or list "R. Nadal", the answer is the least specific form of the
fact: a bare year for "when", a name cut to its initial. A passage a little further down
the same search may state it in full ("released worldwide on May 29, 2020", "Rafael
Nadal has clinched the year-end No. 1"). This module finds the vague parts of an answer
and the fuller forms a text states for them; :mod:`rag.answering` decides which passages
may supply one (the same checks as any citation) and that they agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTH_NAME = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b"
)
MONTH = rf"{_MONTH_NAME}\.?"  # a month's name or abbreviation: "May", "Sept."
_YEAR = r"(?:1[89]|20)\d\d"
# A year standing alone ("2020", "in 2020"): not "late 2020", "May 2020", "2019-20".
_BARE_YEAR = re.compile(rf"(?:(?<=^)|(?<=^in )|(?<=\sin )|(?<=^In ))({_YEAR})(?![\w-])")
# "May 29, 2020", "29 May 2020", "May 2020": a month (and day) of that year.
_DATED = re.compile(
    rf"\b(?:{MONTH} (\d{{1,2}})(?:st|nd|rd|th)?,? |(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?"
    rf"{MONTH},? |{MONTH},? )({_YEAR})\b"
)
_MONTH_WORD = re.compile(rf"\b{_MONTH_NAME}")
_LETTER = r"[^\W\d_]"
# An initial and a surname ("R. Nadal"), not a middle initial ("Niels B. Christiansen")
# nor part of an abbreviation ("U.S. Open").
_INITIALLED = re.compile(rf"(?<![\w.])([A-Z])\. ?([A-Z]{_LETTER}+(?:[-'’][A-Z]?{_LETTER}+)?)\b")
_CAPITALISED_BEFORE = re.compile(rf"[A-Z]{_LETTER}*\s+$")


@dataclass(frozen=True)
class Vague:
    """A vague part of an answer: ``kind`` "year" (``key`` the year) or "initial"
    (``key`` "R. Nadal"), at ``start:end`` of the answer text."""

    kind: str
    key: str
    start: int
    end: int


def vague_parts(text: str, *, dates: bool) -> list[Vague]:
    """The bare years (only when ``dates``: the question asks "when") and the
    initialled names of ``text``."""
    out = []
    if dates and not _MONTH_WORD.search(text):
        out += [Vague("year", m.group(1), m.start(1), m.end(1)) for m in _BARE_YEAR.finditer(text)]
    for m in _INITIALLED.finditer(text):
        if not _CAPITALISED_BEFORE.search(text[: m.start()]):
            out.append(Vague("initial", m.group(0), m.start(), m.end()))
    return out


def fuller_forms(vague: Vague, text: str) -> set[str]:
    """The forms ``text`` states of the vague part: a month (and day) of the year, or a
    first name with the initial's letter before the surname."""
    if vague.kind == "year":
        return dates_in_year(vague.key, text)
    initial, surname = vague.key[0], vague.key.split(".")[-1].strip()
    pattern = re.compile(
        rf"(?<![\w.])({initial}{_LETTER}+)(?: [A-Z]\.)? {re.escape(surname)}\b(?![-'’]\w)"
    )
    return {m.group(0) for m in pattern.finditer(text)}


def dates_in_year(year: str, text: str) -> set[str]:
    """The dates ``text`` states in ``year``, as it words them: "May 29, 2020", "29 May
    2020", "May 2020"."""
    return {m.group(0) for m in _DATED.finditer(text) if m.group(3) == year}


def rewrite(text: str, vague: Vague, form: str) -> str:
    """``text`` with the vague part replaced by ``form`` ("in 2020" -> "on May 29, 2020")."""
    before = text[: vague.start]
    if vague.kind == "year" and before.lower().endswith("in ") and has_day(form):
        before = before[:-3] + ("On " if before[-3] == "I" else "on ")
    return before + form + text[vague.end :]


def has_day(form: str) -> bool:
    """Does a date form give the day ("May 29, 2020"), not only the month?"""
    m = _DATED.fullmatch(form)
    return bool(m and (m.group(1) or m.group(2)))


def same_date(a: str, b: str) -> bool | None:
    """Do two forms of one year agree? ``True`` if one is the other, or its month with
    the day left out; ``False`` if they differ; ``None`` for non-dates."""
    ma, mb = _DATED.fullmatch(a), _DATED.fullmatch(b)
    if ma is None or mb is None:
        return None
    month_a, month_b = _MONTH_WORD.search(a), _MONTH_WORD.search(b)
    if month_a is None or month_b is None or ma.group(3) != mb.group(3):
        return False
    if month_a.group(0)[:3].lower() != month_b.group(0)[:3].lower():
        return False
    day_a, day_b = ma.group(1) or ma.group(2), mb.group(1) or mb.group(2)
    return day_a is None or day_b is None or int(day_a) == int(day_b)
