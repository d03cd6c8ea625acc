"""Does a sentence say what the question asks, or its opposite?

A sentence that states the opposite of the question's premise does not answer it,
however many words they share: "Who did not sign the treaty?" is not answered by
"The delegates signed the treaty on Monday.", nor "What is indirectly measured?" by
"The mass is directly measured." Two clashes are read off the words alone:

* the question is negated (not, never, n't, ...) and the sentence is not;
* a word of the question appears in the sentence only with a negating prefix, or the
  other way round ("legal" / "illegal", "non-zero" / "zero").

The check is one way for negation: a negated sentence can still answer a plain
question ("Which rule was never enforced?" / "The rule was never enforced." agree;
"What was enforced?" / "Nothing but the curfew was not enforced." is left to the
model). Step ``polarity`` in :mod:`rag.answer`.
"""

from __future__ import annotations

from rag.text import STOP_WORDS, words

NEGATIONS = frozenset({"not", "no", "never", "none", "neither", "nor", "cannot", "without"})
NEGATING_PREFIXES = ("non-", "non", "un", "in", "im", "il", "ir", "mis", "dis")
# A prefix is only read as negating a word this long, so "in" + "to" is not "into".
MIN_BASE = 4


def is_negated(words: set[str]) -> bool:
    return any(w in NEGATIONS or w.endswith(("n't", "n’t")) for w in words)


def _negated_forms(word: str) -> set[str]:
    return {p + word for p in NEGATING_PREFIXES}


def _base(word: str) -> str | None:
    for p in NEGATING_PREFIXES:
        if word.startswith(p) and len(word) - len(p) >= MIN_BASE:
            return word[len(p) :]
    return None


def clash(question: str, sentence: str) -> str | None:
    """Why ``sentence`` states the opposite of ``question`` (e.g. ``"legal/illegal"``),
    or ``None`` when they agree."""
    q, s = words(question), words(sentence)
    if is_negated(q) and not is_negated(s):
        return "negation"
    for w in sorted(q - s):
        if w in STOP_WORDS or w in NEGATIONS:
            continue
        base = _base(w)
        if base is not None and base in s and base not in STOP_WORDS:
            return f"{w}/{base}"
        if len(w) >= MIN_BASE and _negated_forms(w) & s:
            return f"{w}/{sorted(_negated_forms(w) & s)[0]}"
    return None
