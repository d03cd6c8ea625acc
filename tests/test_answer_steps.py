"""The answer path's steps, each with input built by hand (invented text, fake models)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rag.answer import Answerer, AnswerOptions, Passage
from rag.answer.generate import is_not_found, messages_for
from rag.answer.reading import rank, sentences_of, windows
from rag.answer.verify import new_words, supported
from rag.errors import BadInputError
from rag.testing import CannedGenerator, HashEmbedder
from rag.types import Chunk

TEXT = (
    "The Larkfield bridge opened in 1931. It was designed by Mara Quist. "
    "The bridge spans the Oller river. Tolls were abolished in 1972. "
    "A second deck was added later."
)


def passage(text: str = TEXT, doc: str = "d1", title: str = "Larkfield bridge") -> Passage:
    return Passage(Chunk(0, doc, 100, 100 + len(text), text), f"/x/{doc}.txt", title, None, 1, 1.0)


def reply(text: str) -> str:
    return json.dumps({"answer": text})


def ask(question: str, generator: Any, **opts: Any) -> Any:
    options = AnswerOptions(evidence_threshold=0.0, **opts)
    return Answerer(HashEmbedder(), generator, options).answer(question, [passage()], [])


# -- reading ---------------------------------------------------------------------------


def test_sentences_keep_exact_document_offsets() -> None:
    p = passage()
    for s in sentences_of([p, p]):  # the same chunk twice: each sentence once
        assert TEXT[s.start - 100 : s.end - 100] == s.text
    assert len(sentences_of([p, p])) == 5


def test_a_line_repeating_the_title_is_not_a_sentence() -> None:
    titled = "Larkfield bridge\n\n" + TEXT
    got = [s.text for s in sentences_of([passage(titled)])]
    assert "Larkfield bridge" not in got and len(got) == 5
    # switched off, or a line that only starts like the title: kept
    assert "Larkfield bridge" in [
        s.text for s in sentences_of([passage(titled)], skip_titles=False)
    ]
    other = "Larkfield bridge tolls\n\n" + TEXT
    assert "Larkfield bridge tolls" in [s.text for s in sentences_of([passage(other)])]


def test_windows_add_neighbours_within_budget_and_merge() -> None:
    ranked = rank(HashEmbedder(), "Who designed the Larkfield bridge?", sentences_of([passage()]))
    wide = windows(ranked, budget=1000, radius=1)
    assert len(wide) == 1 and wide[0].text == TEXT  # every window touches: one window
    alone = windows(ranked, budget=40, radius=0)
    assert len(alone) == 1 and alone[0].text in TEXT and len(alone[0].text) <= 40


def test_prompt_heads_windows_with_titles_only_when_asked() -> None:
    ranked = rank(HashEmbedder(), "When did tolls end?", sentences_of([passage()]))
    shown = windows(ranked, 1000)
    assert "(Larkfield bridge)" in messages_for("q", shown)[1]["content"]
    assert "(Larkfield bridge)" not in messages_for("q", shown, titles=False)[1]["content"]


# -- verification ----------------------------------------------------------------------


def test_claim_is_cited_to_the_sentence_stating_its_facts() -> None:
    ranked = rank(HashEmbedder(), "Who designed the bridge?", sentences_of([passage()]))
    claims = supported(
        HashEmbedder(), "Who designed the bridge?", "Mara Quist designed it.", ranked
    )
    assert [c.span.text for c in claims] == ["It was designed by Mara Quist."]


@pytest.mark.parametrize(
    "answer",
    [
        "The bridge was designed by Ivo Brandt.",  # a name no sentence states
        "Tolls were abolished in 1975.",  # a number no sentence states
        "The bridge was designed.",  # only the question's own words
    ],
)
def test_claims_no_sentence_states_are_not_supported(answer: str) -> None:
    q = "Who designed the bridge?"
    ranked = rank(HashEmbedder(), q, sentences_of([passage()]))
    assert supported(HashEmbedder(), q, answer, ranked) == []


def test_an_echo_of_a_lower_case_question_is_not_supported() -> None:
    q = "who designed the larkfield bridge"
    ranked = rank(HashEmbedder(), q, sentences_of([passage()]))
    assert supported(HashEmbedder(), q, "The Larkfield bridge.", ranked) == []
    # a name the question does not state is still an answer
    got = supported(HashEmbedder(), q, "Mara Quist.", ranked)
    assert [c.span.text for c in got] == ["It was designed by Mara Quist."]


def test_new_words_are_what_the_claim_adds() -> None:
    adds = new_words("Mara Quist designed it.", "Who designed the bridge?")
    assert {"mara", "quist"} <= adds and "design" not in adds


# -- the whole path --------------------------------------------------------------------


def test_answer_cites_an_exact_span() -> None:
    a = ask("When were tolls abolished?", CannedGenerator(reply("Tolls were abolished in 1972.")))
    assert a.answerable and a.mode == "llm" and a.answer.endswith("[1]")
    c = a.citations[0]
    assert TEXT[c.start - 100 : c.end - 100] == c.quote == "Tolls were abolished in 1972."


def test_not_found_abstains() -> None:
    a = ask("What colour is the bridge?", CannedGenerator(reply("NOT FOUND")))
    assert not a.answerable and a.citations == [] and a.mode == "abstain"
    assert is_not_found("Not found.") and not is_not_found("Found in 1931.")


def test_unsupported_answer_abstains_or_falls_back_to_quotes() -> None:
    gen = CannedGenerator(reply("The bridge is painted green."))
    assert not ask("What colour is the bridge?", gen, off=frozenset({"fallback"})).answerable
    quoted = ask("What colour is the bridge?", gen)
    assert quoted.mode == "extractive-fallback" and quoted.citations[0].quote in TEXT


def test_evidence_gate_abstains_before_the_model_is_asked() -> None:
    gen = CannedGenerator(reply("1931"))
    a = Answerer(HashEmbedder(), gen, AnswerOptions(evidence_threshold=0.99)).answer(
        "Which opera did Verdi write last?", [passage()], []
    )
    assert not a.answerable and gen.prompts == []


def test_shown_is_what_the_prompt_reads_and_nothing_below_the_gate() -> None:
    q = "When were tolls abolished?"
    gen = CannedGenerator(reply("NOT FOUND"))
    answerer = Answerer(HashEmbedder(), gen, AnswerOptions(evidence_threshold=0.0))
    shown = answerer.shown(q, [passage()])
    answerer.answer(q, [passage()], [])
    assert shown and all(" ".join(w.text.split()) in gen.prompts[0][1]["content"] for w in shown)
    gated = Answerer(HashEmbedder(), None, AnswerOptions(evidence_threshold=0.99))
    assert gated.shown("Which opera did Verdi write last?", [passage()]) == []


def test_no_llm_quotes_the_best_sentence() -> None:
    a = Answerer(HashEmbedder(), None, AnswerOptions(evidence_threshold=0.0)).answer(
        "Who designed the Larkfield bridge?", [passage()], []
    )
    assert a.mode == "extractive" and a.citations[0].quote in TEXT


def test_unknown_step_names_are_refused() -> None:
    assert AnswerOptions.parse_off("titles, verify") == {"titles", "verify"}
    with pytest.raises(BadInputError, match="unknown answer step"):
        AnswerOptions.parse_off("verify,everything")
