from __future__ import annotations

import pytest

from rag import Rag
from rag.conversation import is_follow_up, with_context
from rag.errors import BadInputError

FIRST = "How long do you knead the dough?"


def test_a_standalone_question_is_unchanged() -> None:
    assert with_context("When did the US announce leaving Iraq?", [FIRST], 2000) == (
        "When did the US announce leaving Iraq?"
    )
    assert not is_follow_up("When did the US announce leaving Iraq?")


def test_a_follow_up_leans_on_the_chain_of_earlier_questions() -> None:
    q = with_context("and at what temperature?", [FIRST], 2000)
    assert q == f"At what temperature? (context: {FIRST})"
    chained = with_context(
        "and for how long then?", [FIRST, "and at what temperature is it?"], 2000
    )
    assert chained.startswith("For how long then? (context: ")
    assert FIRST in chained and "at what temperature is it?" in chained


def test_context_is_cut_to_the_limit_and_the_question_alone_is_checked() -> None:
    q = with_context("and its length?", ["Tell me about " + "the big river " * 50], 120)
    assert len(q) <= 120 and q.startswith("Its length? (context: ")
    with pytest.raises(BadInputError):
        with_context("x" * 200, [], 100)


def test_ask_with_history_retrieves_the_earlier_topic(fake_rag: Rag) -> None:
    answer = fake_rag.ask("and at what temperature is it done?", history=[FIRST])
    assert answer.question.startswith("At what temperature is it done? (context: ")
    # The fake embedder is too weak to answer; what matters is which passages were found.
    found = [c.source for c in answer.citations] + [h.source for h in answer.related]
    assert found and found[0].endswith("bread.md")
