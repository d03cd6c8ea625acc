from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag import Answer, Rag, Settings
from rag.answering import Passage, Sentence, _fit_bonus, answer_kind, holds_kind
from rag.streaming import AnswerTextStream
from rag.text import content_words, key_facts, missing_facts
from rag.testing import CannedGenerator, HashEmbedder
from rag.types import Chunk

Q = "When did the United States announce the end of its mission in Iraq?"


def _check_contract(answer: Answer) -> None:
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}
    for c in answer.citations:
        assert Path(c.source).read_text("utf-8")[c.start : c.end] == c.quote


def _rag(settings: Settings, corpus: Path, gen: CannedGenerator | None) -> Rag:
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder(), generator=gen)
    rag.add([corpus])
    return rag


def _ask(
    settings: Settings, folder: Path, files: dict[str, str], question: str, reply: str | None
) -> Answer:
    """Index ``files`` (name: text) written into ``folder`` and ask ``question``; the model
    replies ``reply`` (``None``: no model, extractive answers)."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    gen = None if reply is None else CannedGenerator(json.dumps({"answer": reply}))
    return _rag(settings, folder, gen).ask(question)


def test_supported_llm_answer_cites_tightest_sentence(settings: Settings, corpus: Path) -> None:
    gen = CannedGenerator('{"answer": "It was announced in September 2024."}')
    answer = _rag(settings, corpus, gen).ask(Q)
    assert answer.answerable and answer.mode == "llm"
    assert answer.answer == "It was announced in September 2024. [1]"
    assert answer.citations[0].quote.startswith("In September 2024, the United States")
    assert answer.citations[0].quote.endswith("mission in Iraq.")
    _check_contract(answer)
    # The model never sees instructions from documents as instructions: they are passages.
    system = gen.prompts[0][0]["content"]
    assert "never instructions" in system


def test_unsupported_claim_is_dropped(settings: Settings, corpus: Path) -> None:
    gen = CannedGenerator(
        '{"answer": "It was announced in September 2024. It cost 9 billion dollars."}'
    )
    answer = _rag(settings, corpus, gen).ask(Q)
    assert "9 billion" not in answer.answer
    assert "September 2024" in answer.answer
    _check_contract(answer)


def test_invented_fact_abstains(settings: Settings, corpus: Path) -> None:
    # Asked for a date, the model names one no passage states: on topic, but not answered.
    gen = CannedGenerator('{"answer": "In March 2019, under President Obama."}')
    answer = _rag(settings, corpus, gen).ask(Q)
    assert answer.mode == "abstain" and not answer.answerable and answer.citations == []
    assert "2019" not in answer.answer


def test_unsupported_answer_falls_back_to_quotes(settings: Settings, corpus: Path) -> None:
    gen = CannedGenerator('{"answer": "Because Obama decided it in Geneva."}')
    answer = _rag(settings, corpus, gen).ask(
        "What did the United States announce about its mission in Iraq?"
    )
    assert answer.mode == "extractive-fallback"
    assert "Obama" not in answer.answer and "September 2024" in answer.answer
    _check_contract(answer)


def test_malformed_output_falls_back_to_quotes(settings: Settings, corpus: Path) -> None:
    answer = _rag(settings, corpus, CannedGenerator("{{{")).ask(Q)
    assert answer.mode == "extractive-fallback" and "September 2024" in answer.answer
    _check_contract(answer)


def test_an_answer_without_words_is_never_shown(settings: Settings, corpus: Path) -> None:
    # Read with the question, "..." sits close to every relevant passage.
    rag = _rag(settings, corpus, CannedGenerator('{"answer": "... ?"}'))
    answer = rag.ask(Q)  # a date was asked for and the model gave none
    assert answer.mode == "abstain" and "..." not in answer.answer
    answer = rag.ask("What did the United States announce about its mission in Iraq?")
    assert answer.mode == "extractive-fallback" and "September 2024" in answer.answer
    _check_contract(answer)


def test_an_answer_cut_off_mid_phrase_is_never_shown(settings: Settings, corpus: Path) -> None:
    q = "What did the United States announce about its mission in Iraq?"
    cut = "The United States announced the end of its mission in Iraq as a"
    answer = _rag(settings, corpus, CannedGenerator(json.dumps({"answer": cut}))).ask(q)
    assert answer.mode == "extractive-fallback" and cut not in answer.answer
    _check_contract(answer)
    whole = "The United States announced the end of its mission in Iraq."
    answer = _rag(settings, corpus, CannedGenerator(json.dumps({"answer": whole}))).ask(q)
    assert answer.mode == "llm"


def test_model_not_found_abstains(settings: Settings, corpus: Path) -> None:
    answer = _rag(settings, corpus, CannedGenerator('{"answer": "NOT FOUND"}')).ask(Q)
    assert not answer.answerable and answer.citations == [] and answer.related


def test_extractive_without_llm(fake_rag: Rag) -> None:
    answer = fake_rag.ask(Q)
    assert answer.mode == "extractive" and answer.answerable
    assert "September 2024" in answer.answer
    _check_contract(answer)


def test_unrelated_question_abstains(settings: Settings, corpus: Path) -> None:
    gen = CannedGenerator('{"answer": "Argentina won it."}')
    answer = _rag(settings, corpus, gen).ask("Who won the 2022 FIFA World Cup football final?")
    assert not answer.answerable and answer.citations == []
    assert "do not contain" in answer.answer
    assert answer.related
    assert gen.prompts == []  # no generation when the evidence is weak


def test_streaming_passes_raw_tokens(settings: Settings, corpus: Path) -> None:
    gen = CannedGenerator('{"answer": "It was announced in September 2024."}')
    pieces: list[str] = []
    text: list[str] = []
    stream = AnswerTextStream(text.append)

    def on_token(p: str) -> None:
        pieces.append(p)
        stream.feed(p)

    _rag(settings, corpus, gen).ask(Q, on_token=on_token)
    assert len(pieces) > 3
    assert "".join(text) == "It was announced in September 2024."


def test_answer_text_stream_decodes_escapes() -> None:
    out: list[str] = []
    s = AnswerTextStream(out.append)
    for piece in ['{ "ans', 'wer": "a \\"q', '\\" \\u00e9', 'tc" }', "ignored"]:
        s.feed(piece)
    assert "".join(out) == 'a "q" étc'


def test_conflicting_dates_are_both_stated(settings: Settings, tmp_path: Path) -> None:
    files = {
        "a.txt": "Strike report\n\nThe drone strike on the ISIL commander took place earlier "
        "in 2024.\n",
        "b.txt": "Another strike report\n\nThe drone strike on the ISIL commander took place "
        "in late 2023.\n",
    }
    q = "When did the drone strike on the ISIL commander take place?"
    answer = _ask(settings, tmp_path / "conflict", files, q, None)
    assert "2024" in answer.answer and "2023" in answer.answer
    assert len(answer.citations) == 2
    _check_contract(answer)


def test_conflict_names_the_older_report(settings: Settings, tmp_path: Path) -> None:
    files = {
        "new.txt": "Strike report\n\nPublished September 3, 2024\n\n"
        "The drone strike on the ISIL commander took place earlier in 2024.\n",
        "old.txt": "Another strike report\n\nPublished January 5, 2024\n\n"
        "The drone strike on the ISIL commander took place in late 2023.\n",
    }
    q = "When did the drone strike on the ISIL commander take place?"
    answer = _ask(settings, tmp_path / "dated", files, q, None)
    assert len(answer.citations) == 2
    assert "report (2024-" in answer.answer
    _check_contract(answer)


def test_key_facts() -> None:
    facts = key_facts("In September 2024, about 2,500 U.S. troops left Baghdad.")
    assert {"september", "2024", "2500", "baghdad"} <= facts
    assert missing_facts({"2500", "baghdad"}, "2,500 troops were in Baghdad") == set()
    assert missing_facts({"2024"}, "late 2023") == {"2024"}
    # The verb "may" is no month (it made a date-free sentence look like a conflicting date).
    assert "may" not in key_facts("The withdrawal may leave Iraq vulnerable.")
    assert "may" in key_facts("Troops left in May.")


def test_answer_kind() -> None:
    assert answer_kind("When did it happen?") == "date"
    assert answer_kind("How many troops?") == "number"
    assert answer_kind("Who won?") == "name"
    assert answer_kind("What was the name of the ambassador?") == "name"
    assert answer_kind("Why did it happen?") is None
    assert answer_kind("What is the premiere date of The Walking Dead Season 11?") == "date"
    assert answer_kind("What was the release year of the film?") == "date"
    assert answer_kind("What is the title of the film?") is None


def _sentence(text: str) -> Sentence:
    chunk = Chunk(doc_id="d", chunk_id=0, start=0, end=len(text), text=text)
    passage = Passage(chunk, source="s", title="A title", date=None, line=1, score=1.0)
    return Sentence(passage, 0, len(text), text)


def test_fit_prefers_full_names_for_who_and_days_for_when() -> None:
    q = "Who is the new CEO of Vanguard?"
    qfacts = key_facts(q)
    named = _sentence("The board elected Tim Buckley as the new CEO of Vanguard.")
    vague = _sentence("The board of Vanguard met in Pennsylvania to elect a new CEO.")
    assert _fit_bonus("name", qfacts, named, person=True) > _fit_bonus(
        "name", qfacts, vague, person=True
    )
    day = _sentence("The game was released worldwide on March 3, 2017, for the Switch.")
    year = _sentence("The game was released worldwide in 2017, for the Switch console.")
    assert _fit_bonus("date", set(), day) > _fit_bonus("date", set(), year)


def test_fit_counts_no_name_in_a_sentence_whose_people_all_leave_the_role() -> None:
    q = "Who is the new CEO of Vanguard?"
    qfacts, role = key_facts(q), frozenset(content_words(q))
    leaving = _sentence("Vanguard founder John C. Bogle announced he was stepping down as CEO.")
    successor = _sentence("Tim Buckley will succeed Bill McNabb, who is stepping down as CEO.")
    for s in (leaving, successor):
        assert _fit_bonus("name", qfacts, s, person=True) > 0
    assert _fit_bonus("name", qfacts, leaving, person=True, role=role) < 0
    # someone else in the sentence takes the role: it still names an answer
    assert _fit_bonus("name", qfacts, successor, person=True, role=role) > 0


def test_a_name_opening_a_sentence_counts_when_the_chunk_writes_it_inside_one() -> None:
    q = "Who is the Walter Camp Award winner in 2017?"
    text = "Mayfield wins Walter Camp Award. The award went to Baker Mayfield of Oklahoma."
    chunk = Chunk(doc_id="d", chunk_id=0, start=0, end=len(text), text=text)
    passage = Passage(chunk, source="s", title="A title", date=None, line=1, score=1.0)
    headline = Sentence(passage, 0, 32, text[:32])
    assert holds_kind("name", key_facts(q), headline)
    # Alone, a capital letter at the start of a sentence is not a name.
    assert not holds_kind("name", key_facts(q), _sentence("Officials win the Walter Camp Award."))


def test_fit_penalises_label_fragments() -> None:
    label = _sentence("CEO, the LEGO Group.")
    statement = _sentence("Niels Christiansen has led the LEGO Group as its CEO since 2017.")
    assert _fit_bonus(None, set(), label) < _fit_bonus(None, set(), statement)


def test_citation_prefers_the_sentence_stating_the_answer_verbatim(
    settings: Settings, tmp_path: Path
) -> None:
    files = {
        "a.txt": "Phone news\n\nThe phone was released on September 20th in 2019.\n",
        "b.txt": "Phone facts\n\n"
        "The phone was released to stores on September 20, 2019, after a long wait.\n",
    }
    q = "When was the phone released?"
    answer = _ask(settings, tmp_path / "phone", files, q, "September 20, 2019")
    assert answer.mode == "llm"
    assert [c.quote for c in answer.citations] == [
        "The phone was released to stores on September 20, 2019, after a long wait."
    ]
    _check_contract(answer)


def test_short_answer_keeps_the_currency_sign_of_its_source(
    settings: Settings, tmp_path: Path
) -> None:
    files = {
        "a.txt": "Earnings\n\nIn the third quarter of 2019 the carmaker posted $6.3 billion "
        "in revenue.\n"
    }
    q = "What was the carmaker's revenue in the third quarter?"
    answer = _ask(settings, tmp_path / "money", files, q, "6.3 billion")
    assert answer.answer == "$6.3 billion [1]"
    _check_contract(answer)


def test_year_only_answer_takes_the_date_its_source_states(
    settings: Settings, tmp_path: Path
) -> None:
    files = {
        "a.txt": "Lab history\n\nThe research lab was founded in 2015 by a group of engineers.\n",
        "b.txt": "About the lab\n\nThe research lab was founded in December 2015 as a "
        "non-profit.\n",
    }
    answer = _ask(settings, tmp_path / "lab", files, "When was the research lab founded?", "2015")
    assert answer.answer == "December 2015 [1]"
    assert "December 2015" in answer.citations[0].quote
    _check_contract(answer)


def test_no_conflict_from_another_season_or_a_page_date(settings: Settings, tmp_path: Path) -> None:
    files = {
        "a.txt": "The Show\n\nThe first season of The Show premiered on NBC on "
        "September 23, 2013.\n",
        "b.txt": "The Show returns\n\nThe Show returns to NBC with the Season 10 premiere of "
        "The Show on February 26, 2023.\n",
        "c.txt": "Sep 13, 2022 ... The first season of The Show premiered to strong ratings, NBC "
        "says.\n",
    }
    q = "When did the first season of The Show premiere?"
    answer = _ask(settings, tmp_path / "show", files, q, "September 23, 2013")
    assert answer.mode == "llm"
    assert "2023" not in answer.answer and "2022" not in answer.answer
    assert len(answer.citations) == 1
    _check_contract(answer)


@pytest.mark.parametrize(
    ("first", "other", "same", "question", "reply", "year"),
    [
        (  # another event of the same thing: a Netflix release is no premiere
            "The Show, season 3\n\nThe third season of The Show premiered on NBC on May 1, 2020.\n",
            "The Show on Netflix\n\nThe Show Season 3 sets June 2021 Netflix release date.\n",
            "The Show on Netflix\n\nThe Show Season 3 premiere date was June 1, 2021.\n",
            "What is the premiere date of The Show Season 3?",
            "May 1, 2020",
            "2021",
        ),
        (  # another thing named after the one asked about: the soundtrack, not the game
            "Space Quest\n\nIn early 2020, Nintendo released Space Quest: Special Edition, a "
            "remaster of the game.\n",
            "Space Quest music\n\nA soundtrack album featuring the tracks used in Space Quest: "
            "Special Edition was released on 2 August 2023.\n",
            "Space Quest\n\nSpace Quest: Special Edition was released on 2 August 2023.\n",
            "When was Space Quest Special Edition released?",
            "2020",
            "2023",
        ),
    ],
)
def test_no_conflict_from_another_event_or_thing(
    settings: Settings,
    tmp_path: Path,
    first: str,
    other: str,
    same: str,
    question: str,
    reply: str,
    year: str,
) -> None:
    answer = _ask(settings, tmp_path / "other", {"a.txt": first, "b.txt": other}, question, reply)
    assert answer.mode == "llm"
    assert year not in answer.answer and len(answer.citations) == 1
    _check_contract(answer)
    # The same report about the event asked for is a different account.
    answer = _ask(settings, tmp_path / "same", {"a.txt": first, "b.txt": same}, question, reply)
    assert year in answer.answer and len(answer.citations) == 2
    _check_contract(answer)


def test_extractive_money_question_needs_an_amount_of_money(
    settings: Settings, tmp_path: Path
) -> None:
    files = {
        "a.txt": "The mission\n\nAbout 2,500 U.S. troops remain on the mission in Iraq, "
        "which the U.S. has kept up for 20 years.\n",
    }
    q = "How much money does the U.S. spend each year on the mission in Iraq?"
    answer = _ask(settings, tmp_path / "troops", files, q, None)
    assert not answer.answerable and answer.citations == []
    files["b.txt"] = "The cost\n\nThe U.S. spends $1.2 billion each year on the mission.\n"
    answer = _ask(settings, tmp_path / "cost", files, q, None)
    assert answer.answerable and "$1.2 billion" in answer.citations[0].quote
    _check_contract(answer)


def test_question_numbers_and_page_dates() -> None:
    from rag.answering import _body, _numbers

    assert _numbers("When was Xenoblade Chronicles 2 released?") == {"2"}
    assert _numbers("When will the first season premiere?") == {"1"}
    assert _numbers("The eleventh season, on July 7, 2021, cost $2.5 billion") == {"11", "7"}
    assert _numbers("Who won the 2022 World Cup with 1,200 fans?") == set()
    assert _body("Oct 6, 2021 ... The game sold well.", 0) == "The game sold well."
    assert _body("Oct 6, 2021 ... The game sold well.", 5).startswith("Oct 6")
    # A passage that never states the question's number is likely about another instalment.
    two = _sentence("Xenoblade Chronicles 2 was released on December 1, 2017.")
    other = _sentence("Xenoblade Chronicles was released on the Wii in June 2010.")
    assert _fit_bonus("date", set(), two, qnums=frozenset({"2"})) > _fit_bonus(
        "date", set(), other, qnums=frozenset({"2"})
    )


def test_citation_prefers_a_span_stating_the_date_itself_over_its_page_date(
    settings: Settings, tmp_path: Path
) -> None:
    files = {
        "a.txt": "Nov 12, 2020 ... The fourth season of The Crown premieres Nov. 15 on Netflix.\n",
        "b.txt": "Crown facts\n\nThe fourth season of The Crown premieres on Netflix on "
        "15 November 2020.\n",
    }
    q = "When does the fourth season of The Crown premiere?"
    answer = _ask(settings, tmp_path / "crown", files, q, "Nov. 15, 2020")
    assert answer.mode == "llm"
    assert [c.quote for c in answer.citations] == [
        "The fourth season of The Crown premieres on Netflix on 15 November 2020."
    ]
    _check_contract(answer)


def test_month_abbreviations_are_months() -> None:
    assert "november" in key_facts("It premieres Nov. 15 on Netflix.")
    assert missing_facts(key_facts("Nov. 15, 2020"), "on 15 November 2020") == set()
    assert missing_facts(key_facts("15 November 2020"), "premieres Nov. 15, 2020") == set()


def test_a_run_of_fragments_reads_as_one_sentence() -> None:
    from rag.answering import sentence_spans

    text = "Bundle and Expansion Pass for the game, on sale now ... Release date. December 1, 2017"
    spans = [text[a:b] for a, b in sentence_spans(text)]
    assert spans[-1] == "Release date. December 1, 2017"
    # Whole sentences and fragments of another paragraph stay apart.
    text = "The game sold well in its first month.\nRelease date. December 1, 2017"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "The game sold well in its first month.",
        "Release date. December 1, 2017",
    ]
    text = "Release date.\nDecember 1, 2017"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["Release date.", "December 1, 2017"]


def test_a_fragment_is_ranked_with_the_sentence_before_it() -> None:
    from rag.answering import Answerer

    def passage(text: str) -> Passage:
        chunk = Chunk(doc_id=text[:6], chunk_id=len(text), start=0, end=len(text), text=text)
        return Passage(chunk, source="s", title="", date=None, line=1, score=1.0)

    def rank(text: str) -> Sentence:
        ranked = Answerer(HashEmbedder())._rank("When was Sky Quest 2 released?", [passage(text)])
        return next(s for s in ranked if s.text == "Release date. December 1, 2017")

    alone = rank("Release date. December 1, 2017")
    led = rank("Sky Quest 2 for the Switch ... Release date. December 1, 2017")
    # Alone it shares no word with the question; it is read after the sentence it follows.
    assert led.lead == "Sky Quest 2 for the Switch ..." and alone.lead == ""
    assert led.relevance > alone.relevance + 0.3


def test_a_sentence_about_another_instalment_ranks_down() -> None:
    from rag.answering import _instalments, _other_instalment

    named = _instalments("When was xenoblade chronicles 2 released?")
    assert named == {("chronicles", "2")}
    assert _instalments("What was Tesla's revenue in Q1 2021?") == set()
    assert _other_instalment(named, "Nintendo released Xenoblade Chronicles: Definitive Edition.")
    assert _other_instalment(named, "Xenoblade Chronicles 3 takes place in the future.")
    assert not _other_instalment(named, "Xenoblade Chronicles™ 2 was released in 2017.")
    assert not _other_instalment(named, "The sequel was released on the Switch.")
    season = _instalments("When does season 4 of The Crown premiere?")
    assert not _other_instalment(season, "The fourth season of The Crown premieres in fall.")
    assert not _other_instalment(season, "The 4th season of The Crown premieres in fall.")
    assert _other_instalment(season, "The third season of The Crown premiered in 2019.")
    same = _sentence("Xenoblade Chronicles 2 was released on the Switch in December 2017.")
    other = _sentence("Nintendo released Xenoblade Chronicles: Definitive Edition in 2020.")
    assert _fit_bonus("date", set(), same, instalments=named) > _fit_bonus(
        "date", set(), other, instalments=named
    )


ACME = {
    "a.txt": "When founding Acme, John Smith wanted a new kind of company. "
    "Acme founder John Smith announced that he was stepping down as chief executive of Acme.",
    "b.txt": "The board of Acme elected Jane Doe as the new chief executive of Acme.",
}
FINAL = {
    "a.txt": "Serena Williams lost to Bianca Andreescu in the final of the 2019 US Open.",
    "b.txt": "Bianca Andreescu won the women's singles title at the 2019 US Open.",
}


@pytest.mark.parametrize(
    ("files", "question", "wrong", "right"),
    [
        (ACME, "Who is the new chief executive of Acme?", "John Smith", "Jane Doe"),
        (FINAL, "Who won the women's singles at the 2019 US Open?", "Serena Williams",
         "Bianca Andreescu"),
    ],
)  # fmt: skip
def test_a_name_its_passages_refute_is_asked_again_without_them(
    settings: Settings,
    tmp_path: Path,
    files: dict[str, str],
    question: str,
    wrong: str,
    right: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    gen = CannedGenerator(json.dumps({"answer": wrong}), json.dumps({"answer": right}))
    answer = _rag(settings, tmp_path, gen).ask(question)
    assert answer.mode == "llm" and right in answer.answer
    assert wrong not in answer.answer
    assert [c.quote for c in answer.citations] == [files["b.txt"]]
    _check_contract(answer)
    # asked twice; the second time no passage names the one refuted
    last = wrong.split()[-1]
    assert len(gen.prompts) == 2
    assert last in gen.prompts[0][-1]["content"]
    assert last not in gen.prompts[1][-1]["content"]


def test_a_name_still_refuted_when_asked_again_is_never_cited(
    settings: Settings, tmp_path: Path
) -> None:
    for name, text in ACME.items():
        (tmp_path / name).write_text(text)
    gen = CannedGenerator('{"answer": "John Smith"}')  # the same name both times
    answer = _rag(settings, tmp_path, gen).ask("Who is the new chief executive of Acme?")
    assert "Smith" not in answer.answer
    assert all("Smith" not in c.quote for c in answer.citations)
    _check_contract(answer)


GAME_Q = "When was Space Quest Special Edition released by Nintendo?"
EARLY = "In early 2020, Nintendo released Space Quest: Special Edition, a remaster of the game."


@pytest.mark.parametrize(
    ("further", "expected"),
    [
        # a passage ranked after the prompt's gives the day: the answer and citation take it
        ({"b.txt": "The Special Edition was released worldwide on May 29, 2020."}, "May 29, 2020"),
        # two days of that year: no guess
        (
            {
                "b.txt": "The Special Edition was released worldwide on May 29, 2020.",
                "c.txt": "The Special Edition was released in Japan on June 5, 2020.",
            },
            "2020",
        ),
        # the day of a thing named after the game (_about_something_else)
        (
            {
                "b.txt": "A soundtrack featuring the music used in Space Quest: Special Edition "
                "was released on May 29, 2020."
            },
            "2020",
        ),
    ],
)
def test_a_bare_year_takes_the_day_further_passages_agree_on(
    settings: Settings, tmp_path: Path, further: dict[str, str], expected: str
) -> None:
    for name, text in {"a.txt": EARLY, **further}.items():
        (tmp_path / name).write_text(text)
    rag = _rag(settings, tmp_path, CannedGenerator('{"answer": "2020"}'))
    assert [h.text for h in rag.search(GAME_Q, 1)] == [EARLY]  # the rest are further down
    answer = rag.ask(GAME_Q, 1)
    assert answer.mode == "llm" and answer.answer == f"{expected} [1]"
    assert expected in answer.citations[0].quote
    _check_contract(answer)


def test_an_initialled_name_takes_the_full_name_a_further_passage_states(
    settings: Settings, tmp_path: Path
) -> None:
    table = "Men's tennis rankings at the end of 2019: 1. R. Nadal. 2. N. Djokovic."
    files = {
        "a.txt": table,
        "b.txt": "Rafael Nadal ends 2019 on top of the rankings.",
        "c.txt": "Rafael Nadal clinched the year-end No. 1 ranking in men's tennis in 2019.",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    rag = _rag(settings, tmp_path, CannedGenerator('{"answer": "R. Nadal"}'))
    q = "Who led the men's tennis rankings at the end of 2019?"
    assert [h.text for h in rag.search(q, 1)] == [table]
    answer = rag.ask(q, 1)
    assert answer.answer == "Rafael Nadal [1]"
    # of the sentences naming him, the best fit to the question is cited
    assert answer.citations[0].quote == files["c.txt"]
    _check_contract(answer)


@pytest.mark.parametrize(
    ("stated", "looks_further"),
    [
        ("The research lab was founded in 2015 by a group of engineers.", True),
        # the check already took "December 2015" from the cited sentence: nothing is vague
        ("The research lab was founded in December 2015 by a group of engineers.", False),
    ],
)
def test_only_an_answer_still_vague_after_the_check_looks_further(
    stated: str, looks_further: bool
) -> None:
    from rag.answering import Answerer

    chunk = Chunk(doc_id="lab", chunk_id=0, start=0, end=len(stated), text=stated)
    passage = Passage(chunk, source="s", title="", date=None, line=1, score=1.0)
    fetched: list[bool] = []

    def more() -> list[Passage]:
        fetched.append(True)
        return []

    answerer = Answerer(HashEmbedder(), CannedGenerator('{"answer": "2015"}'))
    answer = answerer.answer("When was the research lab founded?", [passage], [], more=more)
    assert answer.mode == "llm" and answer.citations[0].quote == stated
    assert bool(fetched) is looks_further


def test_asking_again_is_not_streamed_but_can_be_stopped(
    settings: Settings, tmp_path: Path
) -> None:
    for name, text in ACME.items():
        (tmp_path / name).write_text(text)
    first, second = json.dumps({"answer": "John Smith"}), json.dumps({"answer": "Jane Doe"})
    rag = _rag(settings, tmp_path, CannedGenerator(first, second))
    question = "Who is the new chief executive of Acme?"
    pieces: list[str] = []
    answer = rag.ask(question, on_token=pieces.append)
    assert "Jane Doe" in answer.answer
    # the draft streamed is the first answer; the second pass only sends empty pieces
    assert "".join(pieces) == first and "" in pieces

    class Gone(Exception):
        pass

    def leave_during_second_pass(piece: str) -> None:
        if piece == "":
            raise Gone

    rag._generator = CannedGenerator(first, second)
    with pytest.raises(Gone):
        rag.ask(question, on_token=leave_during_second_pass)
