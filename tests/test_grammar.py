"""The grammar check gives the tokens llama.cpp's own grammar sampler gives, with less work.

Runs on the smallest packaged model (SmolLM2-135M, one wheel, no assembly).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rag.answer.generate import ANSWER_SCHEMA

pytestmark = pytest.mark.integration

YES_NO = 'root ::= "yes" | "no"'


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from rag.generation import open_llama
    from rag.models import resolve_llm

    path = resolve_llm("smollm2-135m", tmp_path_factory.mktemp("models"))
    return open_llama(path, n_ctx=1024, n_threads=2)


def _vocab(llm: Any) -> Any:
    import llama_cpp

    return llama_cpp.llama_model_get_vocab(llm.model)


def _allowed_first_tokens(llm: Any) -> list[int]:
    """Every token that can open "yes" or "no", found by reading the whole vocabulary."""
    prefixes = {"yes"[:i] for i in range(1, 4)} | {"no"[:i] for i in range(1, 3)}
    return [
        t
        for t in range(llm.n_vocab())
        if llm.detokenize([t]).decode("utf-8", errors="replace") in prefixes
    ]


def test_an_allowed_best_token_is_left_alone(llm: Any) -> None:
    from rag.grammar import GrammarCheck

    yes = llm.tokenize(b"yes", add_bos=False)[0]
    scores = np.zeros(llm.n_vocab(), dtype=np.single)
    scores[yes] = 5.0
    check = GrammarCheck(_vocab(llm), YES_NO)
    try:
        out = check(np.array([1, 2, 3], dtype=np.intc), scores)
    finally:
        check.close()
    assert out is scores and check.full_checks == 0


@pytest.mark.parametrize("found_in", ["first shortlist", "second shortlist", "vocabulary"])
def test_a_rejected_best_token_gives_way_to_the_best_allowed_one(llm: Any, found_in: str) -> None:
    from rag.grammar import SHORTLISTS, GrammarCheck

    allowed = _allowed_first_tokens(llm)
    assert len(allowed) >= 2
    scores = np.random.default_rng(0).normal(size=llm.n_vocab()).astype(np.single)
    scores[allowed] = -50.0
    if found_in == "vocabulary":
        # Thousands of tokens score higher than any allowed one.
        scores[allowed[0]], scores[allowed[1]] = -10.0, -9.0
    else:
        # Better tokens the grammar rejects, then the two allowed ones.
        n = SHORTLISTS[0] // 2 if found_in == "first shortlist" else SHORTLISTS[0] * 4
        rejected = np.setdiff1d(np.arange(llm.n_vocab()), allowed)[:n]
        scores[rejected] = 200.0
        scores[allowed[0]], scores[allowed[1]] = 100.0, 101.0
    check = GrammarCheck(_vocab(llm), YES_NO)
    try:
        out = check(np.array([1, 2, 3], dtype=np.intc), scores)
    finally:
        check.close()
    assert check.full_checks == 1
    assert np.flatnonzero(np.isfinite(out)).tolist() == [allowed[1]]


def test_generation_matches_llama_cpp_grammar(llm: Any) -> None:
    """Token for token the JSON of llama.cpp's grammar sampler, most steps on the fast path."""
    from llama_cpp import LogitsProcessorList

    from rag.grammar import GrammarCheck, schema_grammar

    questions = [
        "Passage: The bridge opened on 4 May 1931 and cost $2.5 million.\n"
        "Question: When did the bridge open? Answer in JSON.",
        "Passage: Marie Curie won the Nobel Prize in Physics in 1903.\n"
        "Question: Who won the 1903 Nobel Prize in Physics? Answer in JSON.",
    ]
    common = {"max_tokens": 40, "temperature": 0.0, "top_k": 1, "seed": 0}
    for question in questions:
        messages = [{"role": "user", "content": question}]
        llm.reset()
        reference = llm.create_chat_completion(
            messages=messages,
            response_format={"type": "json_object", "schema": ANSWER_SCHEMA},
            **common,
        )["choices"][0]["message"]["content"]
        check = GrammarCheck(_vocab(llm), schema_grammar(ANSWER_SCHEMA))
        llm.reset()
        try:
            out = llm.create_chat_completion(
                messages=messages, logits_processor=LogitsProcessorList([check]), **common
            )
        finally:
            check.close()
        ours = out["choices"][0]["message"]["content"]
        assert ours == reference
        assert reference.lstrip().startswith("{")
        assert check.full_checks < out["usage"]["completion_tokens"]


def test_a_bad_grammar_is_a_clear_error(llm: Any) -> None:
    from rag.errors import GenerationError
    from rag.grammar import GrammarCheck

    with pytest.raises(GenerationError, match="grammar"):
        GrammarCheck(_vocab(llm), "root ::= (")


def test_the_generator_stops_when_the_answer_is_closed(llm: Any, tmp_path_factory: Any) -> None:
    """Same answer as llama.cpp's grammar-sampled completion, without its closing tokens."""
    from rag.generation import LlamaCppGenerator, parse_json_answer
    from rag.models import resolve_llm

    messages = [
        {
            "role": "user",
            "content": "Passage: The bridge opened on 4 May 1931.\n"
            "Question: When did the bridge open? Answer in JSON.",
        }
    ]
    llm.reset()
    reference = llm.create_chat_completion(
        messages=messages,
        response_format={"type": "json_object", "schema": ANSWER_SCHEMA},
        max_tokens=40,
        temperature=0.0,
        top_k=1,
        seed=0,
    )
    generator = LlamaCppGenerator(resolve_llm("smollm2-135m", tmp_path_factory.mktemp("m")))
    pieces: list[str] = []
    raw = generator.generate(messages, schema=ANSWER_SCHEMA, max_tokens=40, on_token=pieces.append)
    full = reference["choices"][0]["message"]["content"]
    assert parse_json_answer(raw) == parse_json_answer(full)
    assert len(pieces) < reference["usage"]["completion_tokens"]
    assert generator.generate(messages, schema=ANSWER_SCHEMA, max_tokens=40) == raw


def test_the_prompt_cache_carries_the_shared_prefix_to_the_next_process(
    tmp_path_factory: Any,
) -> None:
    """A new generator reads only what its prompt does not share with the saved one."""
    from rag.generation import LlamaCppGenerator
    from rag.models import resolve_llm

    path = resolve_llm("smollm2-135m", tmp_path_factory.mktemp("m"))
    cache = tmp_path_factory.mktemp("prompt-cache")
    system = {"role": "system", "content": "Answer from the passage, in a few words. " * 8}

    def ask(question: str) -> list[dict[str, str]]:
        return [
            system,
            {"role": "user", "content": f"Passage: The bridge opened in 1931.\n{question}"},
        ]

    def evaluated(generator: LlamaCppGenerator, messages: Any) -> tuple[str, int]:
        generator.warm_up()
        llm = generator._llm
        counts: list[int] = []
        original = llm.eval
        llm.eval = lambda tokens: (counts.append(len(tokens)), original(tokens))[1]
        return generator.generate(messages, max_tokens=12), counts[0]

    first = LlamaCppGenerator(path, prompt_cache=cache)
    first.generate(ask("When did the bridge open?"), max_tokens=12)
    (saved,) = cache.iterdir()
    assert saved.stat().st_mode & 0o077 == 0  # the user's prompt, private to the user

    second_question = ask("What opened in 1931?")
    reused, read = evaluated(LlamaCppGenerator(path, prompt_cache=cache), second_question)
    fresh, read_all = evaluated(LlamaCppGenerator(path), second_question)
    assert reused == fresh
    assert read < read_all - 40  # the system prompt came from the file

    saved.write_bytes(b"not a llama.cpp state file")
    broken, read_again = evaluated(LlamaCppGenerator(path, prompt_cache=cache), second_question)
    assert broken == fresh and read_again == read_all
