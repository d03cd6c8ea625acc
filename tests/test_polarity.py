"""Step ``polarity``: a span stating the opposite of the question's premise is not
cited (invented text; where the check must fire and where it must not)."""

from __future__ import annotations

import json

import pytest

from rag.answer import Answerer, AnswerOptions, Passage
from rag.answer.polarity import clash
from rag.testing import CannedGenerator, HashEmbedder
from rag.types import Answer, Chunk

TEXT = (
    "The Varro canal was dug directly by hand in 1822. "
    "Barges paid a toll at the Hesk lock. "
    "Pleasure boats were allowed on the canal after 1950."
)


@pytest.mark.parametrize(
    ("question", "sentence", "why"),
    [
        ("Who did not pay the toll?", "Barges paid a toll at the lock.", "negation"),
        ("Which boats weren't allowed?", "Pleasure boats were allowed.", "negation"),
        ("What was dug indirectly?", "The canal was dug directly by hand.", "indirectly/directly"),
        ("When did the rule become legal?", "The rule became illegal in 1901.", "legal/illegal"),
        ("What keeps the flow zero?", "A non-zero flow keeps the wheel turning.", "zero/non-zero"),
        (
            "Which facts were understood?",
            "Several facts were misunderstood.",
            "understood/misunderstood",
        ),
    ],
)
def test_a_span_saying_the_opposite_clashes(question: str, sentence: str, why: str) -> None:
    assert clash(question, sentence) == why


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        # both negated, or only the span: a negated span may answer a plain question
        ("Which rule was never enforced?", "The curfew was never enforced."),
        ("Who paid the toll?", "Nobody but barges paid, and boats did not."),
        # the question's word is in the span too, besides its negated form
        ("Was the lock legal?", "The lock was legal, the weir illegal."),
        # a prefix that is part of an ordinary word, or too short a base
        ("Who informed the keeper?", "The keeper filled in a form."),
        ("Who went into the lock?", "A barge went to the lock."),
        ("What was unloaded at the lock?", "Coal was unloaded at the lock."),
        ("How was the canal dug?", "The Varro canal was dug directly by hand in 1822."),
    ],
)
def test_agreeing_spans_do_not_clash(question: str, sentence: str) -> None:
    assert clash(question, sentence) is None


def _ask(question: str, answer: str, *, off: frozenset[str] = frozenset()) -> Answer:
    p = Passage(Chunk(0, "d1", 0, len(TEXT), TEXT), "/x/canal.txt", "Varro canal", None, 1, 1.0)
    gen = CannedGenerator(json.dumps({"answer": answer}))
    options = AnswerOptions(evidence_threshold=0.0, off=off)
    return Answerer(HashEmbedder(), gen, options).answer(question, [p], [])


def test_an_answer_resting_on_an_opposite_span_abstains() -> None:
    a = _ask("When was the Varro canal dug indirectly?", "It was dug in 1822.")
    assert not a.answerable and a.citations == []
    on = _ask(
        "When was the Varro canal dug indirectly?",
        "It was dug in 1822.",
        off=frozenset({"polarity"}),
    )
    assert on.answerable and "1822" in on.citations[0].quote


def test_an_agreeing_answer_is_still_cited() -> None:
    a = _ask("When was the Varro canal dug by hand?", "It was dug by hand in 1822.")
    assert a.answerable and a.citations[0].quote.startswith("The Varro canal")


def test_the_fallback_quote_is_checked_too() -> None:
    # the model's answer verifies nowhere; the best sentence quoted instead would clash
    a = _ask("Which boats were not allowed on the canal?", "Rowing boats.")
    assert not a.answerable
    kept = _ask(
        "Which boats were not allowed on the canal?", "Rowing boats.", off=frozenset({"polarity"})
    )
    assert kept.answerable and kept.mode == "extractive-fallback"
