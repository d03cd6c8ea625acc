from __future__ import annotations

import pytest

from rag.roles import asks_current_holder, refutes

Q = "Who is the new CEO of Vanguard?"
STEPS_DOWN = "Vanguard founder John C. Bogle announced that he was stepping down as CEO at ..."
SUCCEEDS = "Tim Buckley will succeed Bill McNabb, who is stepping down as CEO."


@pytest.mark.parametrize(
    ("claim", "text", "refuted"),
    [
        ("John C. Bogle", STEPS_DOWN, True),
        ("The new CEO of Vanguard is John C. Bogle.", STEPS_DOWN, True),
        ("Bill McNabb", SUCCEEDS, True),
        # the claim names the successor too: only one of its people leaves
        ("Tim Buckley, who replaced Bill McNabb.", SUCCEEDS, False),
        ("Tim Buckley, who replaced Bill McNabb.", "Bill McNabb is stepping down.", False),
        # the one who leaves is someone else, named between
        ("Tim Buckley", SUCCEEDS, False),
        ("Tim Buckley", "The former CEO, Tim Buckley, praised the board.", True),
        # "former" with another role than the one asked about
        ("Tim Buckley", "Former Google executive Tim Buckley became CEO.", False),
        ("Tim Buckley", "Tim Buckley, 48, was elected CEO of Vanguard.", False),
        ("Tim Buckley", "Tim Buckley retired from Vanguard in 2024.", True),
        # he leaves another role than the one asked about
        ("Tim Buckley", "Tim Buckley agreed to step down as chairman of the board.", False),
    ],
)
def test_a_sentence_saying_the_named_person_leaves_refutes_the_claim(
    claim: str, text: str, refuted: bool
) -> None:
    assert refutes(Q, claim, text) is refuted


@pytest.mark.parametrize(
    "question",
    [
        "Who stepped down as CEO of Vanguard?",
        "Who was the former CEO of Vanguard?",
        "Who did Tim Buckley succeed as CEO of Vanguard?",
        "Who founded Vanguard?",
        "When did John C. Bogle step down?",
        "Who was the runner-up of the 2019 US Open women's singles?",
        "Who lost the 2019 US Open women's singles final?",
    ],
)
def test_questions_about_leaving_or_earlier_holders_are_not_refuted(question: str) -> None:
    assert not asks_current_holder(question)
    assert not refutes(question, "John C. Bogle", STEPS_DOWN)


W = "Who won the women's singles title at the 2019 US Open?"


@pytest.mark.parametrize(
    ("claim", "text", "refuted"),
    [
        ("Serena Williams", "Serena Williams lost to Bianca Andreescu in the final.", True),
        ("Serena Williams", "Bianca Andreescu defeated Serena Williams 6-3, 7-5.", True),
        ("Serena Williams", "Andreescu's win over Serena Williams stunned the crowd.", True),
        ("Bianca Andreescu", "Bianca Andreescu defeated Serena Williams 6-3, 7-5.", False),
        ("Karolína Plíšková", "Ashleigh Barty defeated Karolína Plíšková in the final.", True),
        ("Bianca Andreescu", "Serena Williams lost to Bianca Andreescu in the final.", False),
        # someone else lost, named between
        (
            "Bianca Andreescu",
            "Bianca Andreescu beat Serena Williams, who lost her 4th final.",
            False,
        ),
    ],
)
def test_a_sentence_saying_the_named_person_lost_refutes_them_as_winner(
    claim: str, text: str, refuted: bool
) -> None:
    assert refutes(W, claim, text) is refuted
