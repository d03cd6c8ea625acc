"""Text primitives shared by the answer path: one tokenizer, one stop-word list, months,
numbers and the key facts (numbers, dates, names) a claim states.

Does a passage support a claim? Key facts must occur there, and meaning must be close.

A claim's *key facts* are its numbers, years, months and names (capitalised
words that do not open the sentence). A sentence of a source supports a claim
when every key fact of the claim that the question did not already state occurs
in it, and it is semantically close to the claim (cosine of the embeddings).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

STOP_WORDS = _STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "he",
        "she",
        "his",
        "her",
        "we",
        "you",
        "i",
        "our",
        "your",
        "not",
        "no",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "than",
        "then",
        "so",
        "such",
        "into",
        "over",
        "under",
        "about",
        "after",
        "before",
        "during",
        "between",
        "through",
        "up",
        "down",
        "out",
        "off",
        "again",
        "further",
        "once",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "own",
        "same",
        "too",
        "very",
        "just",
        "also",
        "only",
        "yet",
        "i'm",
        "it's",
        "said",
        "says",
        "say",
    ]
)
# Month names in calendar order (index + 1 is the month number).
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTHS = frozenset(MONTHS)
# "Nov. 15" and "15 November" state the same month.
_MONTH_ABBREVIATIONS = {m[:3]: m for m in MONTHS if m != "may"} | {"sept": "september"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NUMBER_WORDS = _NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip


def normalise_number(token: str) -> str:
    value = token.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


def words(text: str) -> set[str]:
    """Lower-cased words of ``text``, stop words included, not stemmed ("didn't",
    "non-zero" are one word each)."""
    return {w.lower() for w in _WORD.findall(text)}


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` that are not stop words, crudely stemmed."""
    return {_stem(w) for w in words(text) if w not in _STOP}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def key_facts(text: str, *, short: bool = False) -> set[str]:
    """Numbers, months and names stated in ``text``, normalised to lower case.

    In a ``short`` text (an entity answer such as "Russia, in June") a capitalised
    word counts as a name even where it opens the sentence.
    """
    facts = {normalise_number(n) for n in _NUMBER.findall(text)}
    for m in _WORD.finditer(text):
        word = m.group(0)
        low = word.lower()
        if low in _MONTHS:
            # "may" and "march" are also a verb: only a capitalised word is the month.
            if word[0].isupper():
                facts.add(low)
        elif low in _MONTH_ABBREVIATIONS and word[0].isupper():
            facts.add(_MONTH_ABBREVIATIONS[low])
        elif low in _NUMBER_WORDS:
            facts.add(_NUMBER_WORDS[low])
        elif (
            word[0].isupper()
            and low not in _STOP
            and (short or not _opens_sentence(text, m.start()))
        ):
            facts.add(low)
    return facts


def _opens_sentence(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \"'“‘(*")
    return not before or before[-1] in ".!?:\n"


def text_facts(text: str) -> set[str]:
    """Every token of ``text`` a fact could be matched against (numbers, words)."""
    tokens = {normalise_number(n) for n in _NUMBER.findall(text)}
    for w in _WORD.findall(text):
        low = w.lower()
        tokens.add(low)
        tokens.add(_NUMBER_WORDS.get(low, low))
        tokens.add(_MONTH_ABBREVIATIONS.get(low, low))
        # "U.S.-backed" and "Iraq's" still name U.S. and Iraq.
        for part in re.split(r"[-'’]", low):
            if part:
                tokens.add(part)
    return tokens


def missing_facts(claim_facts: Iterable[str], passage: str, extra: str = "") -> set[str]:
    """Facts of the claim that occur neither in ``passage`` nor in ``extra`` (e.g. its date).

    A name also matches its derived forms: "Russia" is found in "Russian", "Iraq" in "Iraqi".
    """
    present = text_facts(passage) | text_facts(extra)
    missing = set()
    for f in claim_facts:
        if f in present:
            continue
        if f.isalpha() and len(f) >= 4 and any(_derived(t, f) for t in present):
            continue
        missing.add(f)
    return missing


def _derived(token: str, name: str) -> bool:
    return token.startswith(name) and len(token) - len(name) <= 3


def overlap(question_words: set[str], text: str) -> float:
    """Fraction of the question's content words that occur in ``text``."""
    if not question_words:
        return 0.0
    return len(question_words & content_words(text)) / len(question_words)
