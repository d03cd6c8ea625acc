from __future__ import annotations

import pytest

from rag.specifics import fuller_forms, has_day, rewrite, same_date, vague_parts


@pytest.mark.parametrize(
    ("text", "dates", "keys"),
    [
        ("2020", True, ["2020"]),
        ("It was released in 2020.", True, ["2020"]),
        ("In 2020.", True, ["2020"]),
        ("2020", False, []),  # a year is vague only where the question asks "when"
        ("late 2023", True, []),
        ("by the end of 2021", True, []),
        ("May 2020", True, []),
        ("the 2019-20 season", True, []),
        ("R. Nadal", False, ["R. Nadal"]),
        ("Niels B. Christiansen", False, []),  # a middle initial
        ("the U.S. Open", False, []),
    ],
)
def test_vague_parts(text: str, dates: bool, keys: list[str]) -> None:
    assert [p.key for p in vague_parts(text, dates=dates)] == keys


def test_fuller_forms_of_a_year_and_an_initial() -> None:
    (year,) = vague_parts("It was released in 2020.", dates=True)
    text = "Released on May 29, 2020 (29 May 2020 in Europe), announced Sept. 4, 2019."
    assert fuller_forms(year, text) == {"May 29, 2020", "29 May 2020"}
    assert rewrite("It was released in 2020.", year, "May 29, 2020") == (
        "It was released on May 29, 2020."
    )
    assert rewrite("It was released in 2020.", year, "May 2020") == "It was released in May 2020."
    (name,) = vague_parts("R. Nadal", dates=False)
    assert fuller_forms(name, "Rafael Nadal won. Roger Federer lost. R. Nadal-Parera") == {
        "Rafael Nadal"
    }
    assert rewrite("R. Nadal", name, "Rafael Nadal") == "Rafael Nadal"


def test_dates_of_one_year_agree_when_one_is_the_other() -> None:
    assert same_date("May 29, 2020", "29 May 2020")
    assert same_date("May 2020", "May 29, 2020")
    assert same_date("May 29, 2020", "June 29, 2020") is False
    assert same_date("May 29, 2020", "May 30, 2020") is False
    assert same_date("Rafael Nadal", "Rafael Nadal") is None
    assert has_day("May 29, 2020") and not has_day("May 2020")
