"""The answer-matching rule of the evaluation (SQuAD / NQ-open normalisation)."""

from __future__ import annotations

import pytest

from rag.evaluation import matches, mentions_any, normalise_answer


def test_normalisation_drops_case_punctuation_and_articles() -> None:
    assert normalise_answer("The  Oller Sea.") == "oller sea"


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("Oller Sea [1]", ["the Oller Sea"]),
        ("It opened in 1931. [1]", ["1931"]),
        ("8 [1]", ["eight"]),  # a small number in words or digits
        ("Russian officials", ["Russia"]),  # containment, as RGB and NQ-open count it
        ("Mara Quist and Ivo Brandt", [["Quist", "Q."], "Brandt"]),  # every item, any alt
    ],
)
def test_answers_that_match(text: str, gold: list) -> None:
    assert matches(text, gold)


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("Sea", ["Oller Sea"]),  # part of the answer is not the answer
        ("Mara Quist", ["Quist", "Brandt"]),  # one item missing
        ("anything", []),  # no gold: nothing matches
        ("The", ["the"]),  # an article alone is no answer
    ],
)
def test_answers_that_do_not_match(text: str, gold: list) -> None:
    assert not matches(text, gold)


def test_mentions_any_needs_one_alternative() -> None:
    assert mentions_any("built by Quist", ["Brandt", "Quist"])
    assert not mentions_any("built by Brandt", ["Quist"])
