"""Does a sentence say the person an answer names is leaving the role asked about?

"Who is the new CEO of Vanguard?" answered "John C. Bogle" and cited to "Vanguard founder
John C. Bogle announced that he was stepping down as CEO": the sentence is on topic and
names him, so the fact check passes, yet it says the opposite of the claim. A sentence
in which the named person steps down, retires or resigns (or is "the former CEO") does
not support that person as the holder of the role, unless the question itself asks about
leaving or about earlier holders ("Who stepped down ...?", "Who did he succeed?").
"""

from __future__ import annotations

import re

from rag.support import content_words, key_facts

# The named person leaves: "X announced that he was stepping down", "X, who retired".
_LEAVES = re.compile(
    r"\b(?:step(?:s|ped|ping)? down|retir(?:e|es|ed|ing)|resign(?:s|ed|ing)?)\b", re.I
)
# Said of the person just before the name, with the role asked about: "the former CEO,
# X", "outgoing chief executive X" (not "former Google executive X" for a CEO question).
_BEFORE_NAME = re.compile(
    r"\b(?:former|outgoing|departing|retiring|ex)\b([\w\s,.'’-]{0,30})$", re.I
)
# A question with one of these asks about leaving or about earlier holders itself.
_ASKS_ABOUT_LEAVING = re.compile(
    r"\b(?:step(?:s|ped|ping)? down|retir\w*|resign\w*|former|outgoing|left|leav\w*|"
    r"predecessor|succeed(?:s|ed)?|replac\w*|before|previous\w*|first|founder|founded)\b",
    re.I,
)
_WHO = re.compile(r"^\s*(?:who|whom|whose)\b", re.I)
# Between the name and the verb: "announced that he was", not another person's name.
_GAP_WORDS = 8
_OTHER_NAME = re.compile(r"\b[A-Z][a-z]")
_CLAUSE_END = re.compile(r"[;.!?]\s")


def asks_current_holder(question: str) -> bool:
    """A "who" question that does not itself ask about leaving or earlier holders."""
    return bool(_WHO.search(question)) and not _ASKS_ABOUT_LEAVING.search(question)


def names_in(claim: str, question: str) -> set[str]:
    """The name words a claim adds to the question ("john", "bogle")."""
    return {f for f in key_facts(claim, short=True) - key_facts(question) if f.isalpha()}


def says_leaves(names: set[str], text: str, role: set[str]) -> bool:
    """Does ``text`` say that the person named by ``names`` steps down, retires or
    resigns, or call them former or outgoing in the ``role`` (question words)?"""
    if not names:
        return False
    for m in re.finditer(r"[A-Za-z][\w'’\-]*", text):
        if m.group(0).lower() not in names:
            continue
        before = _BEFORE_NAME.search(text[max(0, m.start() - 40) : m.start()])
        if before and content_words(before.group(1)) & role:
            return True
        after = text[m.end() :]
        stop = _CLAUSE_END.search(after)
        window = after[: stop.start()] if stop else after
        verb = _LEAVES.search(window)
        if verb is None:
            continue
        gap = window[: verb.start()]
        words = gap.split()
        # "John C. Bogle announced that he was stepping down": the rest of his name,
        # then a few lower-case words; another capitalised name means someone else.
        rest = [w for w in words if w.strip(".,").lower() not in names]
        if len(words) <= _GAP_WORDS and not any(_OTHER_NAME.match(w) for w in rest):
            return True
    return False


def refutes(question: str, claim: str, text: str) -> bool:
    """``text`` says the person ``claim`` gives as the answer to a "who is" question
    leaves the role: it cannot be that claim's citation."""
    if not asks_current_holder(question):
        return False
    return says_leaves(names_in(claim, question), text, content_words(question))


def all_leave(runs: list[str], text: str, role: set[str]) -> bool:
    """Every person ``text`` names (``runs``: "John C. Bogle") leaves the ``role``: as an
    answer to who holds it now, the sentence names no one."""
    return bool(runs) and all(
        says_leaves({w.strip(".,").lower() for w in run.split()}, text, role) for run in runs
    )
