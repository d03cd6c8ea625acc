"""Does a sentence say the person an answer names is on the other side of what was asked?

"Who is the new CEO of Vanguard?" answered "John C. Bogle" and cited to "Vanguard founder
John C. Bogle announced that he was stepping down as CEO": the sentence is on topic and
names him, so the fact check passes, yet it says the opposite of the claim. Two such
relations are told apart here:

- holding a role: a sentence in which the named person steps down, retires or resigns
  from the role asked about (or is "the former CEO") does not support that person as
  its holder;
- winning: a sentence in which the named person lost, was defeated or was the runner-up
  ("Serena Williams lost to Bianca Andreescu") does not support that person as the winner.

Neither applies when the question itself asks about the other side ("Who stepped down
...?", "Who did he succeed?", "Who was the runner-up ...?").
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass

from rag.text import STOP_WORDS, content_words


@dataclass(frozen=True)
class _Relation:
    asks: re.Pattern[str]  # the question asks who holds the good side
    other_side: re.Pattern[str]  # ... unless it also names the other side
    after: re.Pattern[str]  # said of the person after the name: "X was stepping down"
    before: re.Pattern[str]  # said just before the name: "the former CEO, X"
    role_object: bool  # "stepping down as chairman" is not the CEO asked about


_HOLDER = _Relation(
    asks=re.compile(
        r"^\s*who(?:'s| is| are| will be| has been| becomes| became| was (?:named|appointed))\b"
        r"|^\s*who (?:heads|leads|runs|chairs)\b",
        re.I,
    ),
    other_side=re.compile(
        r"\b(?:step(?:s|ped|ping)? down|retir\w*|resign\w*|former|outgoing|left|leav\w*|"
        r"predecessor|succeed(?:s|ed)?|replac\w*|before|previous\w*|first|found\w*)\b",
        re.I,
    ),
    after=re.compile(
        r"\b(?:step(?:s|ped|ping)? down|retir(?:e|es|ed|ing)|resign(?:s|ed|ing)?)\b", re.I
    ),
    # with a word of the question's between: not "former Google executive X" for a CEO
    before=re.compile(r"\b(?:former|outgoing|departing|retiring|ex)\b([\w\s,.'’-]{0,30})$", re.I),
    role_object=True,
)
_WINNER = _Relation(
    asks=re.compile(r"^\s*who\b.*\b(?:won|wins|win|winners?|champions?|victor)\b", re.I),
    other_side=re.compile(
        r"\b(?:lost|lose|loses|losers?|runners?-up|defeated|beaten|beat|against|finalists?|"
        r"second|eliminated)\b",
        re.I,
    ),
    after=re.compile(
        r"\b(?:lost|loses|losing|fell to|(?:was|were) (?:defeated|beaten|eliminated)|"
        r"finished (?:second|as runners?-up)|(?:was|were) (?:the )?runners?-up)\b",
        re.I,
    ),
    # right before the name: "Andreescu defeated Serena Williams", "a win over X"
    before=re.compile(r"\b(?:defeated|defeating|beat|beating|over|runners?-up,?)(\s+)$", re.I),
    role_object=False,
)
_NAME_WORD = re.compile(r"[^\W\d_][\w'’]*")  # "Plíšková", "O'Brien"
# Between the name and the verb: "announced that he was", not another person's name.
_GAP_WORDS = 8
_OTHER_NAME = re.compile(r"\b[A-Z][a-z]")
_CLAUSE_END = re.compile(r"[;.!?]\s")
# "stepping down as chairman of Tesla": the role left, in the next few words
_ROLE_LEFT = re.compile(r"^\s+(?:as|from)\s+((?:[\w'’-]+\s+){0,3}[\w'’-]+)", re.I)


def _relation(question: str) -> _Relation | None:
    for relation in (_WINNER, _HOLDER):
        if relation.asks.search(question):
            return None if relation.other_side.search(question) else relation
    return None


def asks_current_holder(question: str) -> bool:
    """ "Who is the new CEO of Vanguard?": who holds a role now, not who left it."""
    return _relation(question) is _HOLDER


def names_in(claim: str, question: str) -> set[str]:
    """The capitalised words a claim adds to the question ("john", "bogle", "plíšková")."""
    asked = {w.lower() for w in _NAME_WORD.findall(question)}
    return {
        w.lower()
        for w in _NAME_WORD.findall(claim)
        if w[0].isupper() and w.lower() not in asked and w.lower() not in STOP_WORDS
    }


def mentions(names: set[str], text: str) -> bool:
    """Does ``text`` use one of the (lower-case) name words?"""
    return any(w.lower() in names for w in _NAME_WORD.findall(text))


def _says(relation: _Relation, names: Set[str], text: str, asked: Set[str]) -> bool:
    if not names:
        return False
    for m in _NAME_WORD.finditer(text):
        if m.group(0).lower() not in names:
            continue
        before = relation.before.search(text[max(0, m.start() - 40) : m.start()])
        if before and (not relation.role_object or content_words(before.group(1)) & asked):
            return True
        after = text[m.end() :]
        stop = _CLAUSE_END.search(after)
        window = after[: stop.start()] if stop else after
        verb = relation.after.search(window)
        if verb is None:
            continue
        if relation.role_object:
            role = _ROLE_LEFT.match(window[verb.end() :])
            if role and not content_words(role.group(1)) & asked:
                continue  # stepping down as chairman: not the role asked about
        words = window[: verb.start()].split()
        # "John C. Bogle announced that he was stepping down": the rest of his name,
        # then a few lower-case words; another capitalised name means someone else.
        rest = [w for w in words if w.strip(".,").lower() not in names]
        if len(words) <= _GAP_WORDS and not any(_OTHER_NAME.match(w) for w in rest):
            return True
    return False


def says_leaves(names: Set[str], text: str, role: Set[str]) -> bool:
    """Does ``text`` say that the person named by ``names`` steps down, retires or
    resigns from the ``role`` (question words), or call them its former holder?"""
    return _says(_HOLDER, names, text, role)


def _people(claim: str, question: str) -> list[set[str]]:
    """The name words of each person (a run of capitalised words) a claim adds:
    "Tim Buckley, who replaced Bill McNabb" -> [{"tim", "buckley"}, {"bill", "mcnabb"}]."""
    people: list[set[str]] = []
    current: set[str] = set()
    new = names_in(claim, question)
    for m in re.finditer(r"[^\W\d_][\w'’]*\.?|[^\w\s]+", claim):
        word = m.group(0).rstrip(".").lower()
        if word in new:
            current.add(word)
        elif current:
            people.append(current)
            current = set()
    return [*people, current] if current else people


def refutes(question: str, claim: str, text: str) -> bool:
    """``text`` says every person ``claim`` names is on the other side of what the
    question asks (leaving the role, losing): it cannot be that claim's citation.
    ("Tim Buckley, who replaced Bill McNabb" is not refuted by McNabb stepping down.)"""
    relation = _relation(question)
    if relation is None:
        return False
    people = _people(claim, question)
    asked = content_words(question)
    return bool(people) and all(_says(relation, p, text, asked) for p in people)


def all_leave(runs: list[str], text: str, role: Set[str]) -> bool:
    """Every person ``text`` names (``runs``: "John C. Bogle") leaves the ``role``: as an
    answer to who holds it now, the sentence names no one."""
    return bool(runs) and all(
        says_leaves({w.strip(".,").lower() for w in run.split()}, text, role) for run in runs
    )
