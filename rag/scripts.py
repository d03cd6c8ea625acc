"""Which writing systems (scripts) a text uses: to refuse questions no document can match."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Scripts that share letters with English text well enough to be matched anyway.
_LATIN_LIKE = {"LATIN"}
_SAMPLE = 4000


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    first = name.split(" ", 1)[0]
    if first in {"CJK", "HIRAGANA", "KATAKANA"}:
        return "CJK"
    return first


# Latin letters, punctuation and symbols: scanned in C by the regex, never named one by one.
_NOT_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff\u2000-\u2bff]")


def script_profile(texts: Iterable[str]) -> frozenset[str]:
    """Scripts used by ``texts`` (each text sampled at its start).

    Latin is assumed; only the other characters are looked up, so an English
    index of a million chunks is profiled in seconds, not minutes.
    """
    others: set[str] = set()
    for t in texts:
        others.update(_NOT_LATIN.findall(t, 0, _SAMPLE))
    return frozenset({"LATIN"} | {s for ch in others if (s := _script(ch))})


def unseen_scripts(question: str, known: frozenset[str]) -> set[str]:
    """Scripts that carry most of the question's letters yet occur in no document."""
    letters = [s for ch in question if (s := _script(ch))]
    if not letters or not known:
        return set()
    counts: dict[str, int] = {}
    for s in letters:
        counts[s] = counts.get(s, 0) + 1
    return {
        s.title()
        for s, n in counts.items()
        if s not in known and s not in _LATIN_LIKE and n / len(letters) >= 0.5
    }
