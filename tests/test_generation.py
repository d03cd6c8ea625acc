"""Generation helpers that need no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.generate import ANSWER_SCHEMA
from rag.generation import _closed_object, parse_json_answer


def test_an_object_is_closed_once_every_property_is_complete() -> None:
    assert _closed_object('{ "answer" : "late 2023"', ANSWER_SCHEMA) == '{ "answer" : "late 2023"}'
    assert _closed_object('{ "answer" : "late 2023" ', ANSWER_SCHEMA) == '{ "answer" : "late 2023"}'
    for partial in ['{ "answer"', '{ "answer" : "', '{ "answer" : "late', '{ "answer" : "a \\"']:
        assert _closed_object(partial, ANSWER_SCHEMA) is None, partial


def test_a_number_or_a_missing_property_keeps_generating() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}
    assert _closed_object('{"n": 12', schema) is None  # "12" may become "123"
    assert _closed_object('{"n": 12, "s": "x"', schema) == '{"n": 12, "s": "x"}'
    assert _closed_object('{"s": "x"', schema) is None  # "n" not written yet


def test_a_closed_object_parses_like_the_whole_completion() -> None:
    closed = _closed_object('{ "answer" : "It cost $2.5 \\"million\\"."', ANSWER_SCHEMA)
    assert closed is not None
    assert parse_json_answer(closed) == json.loads('{ "answer" : "It cost $2.5 \\"million\\"." }')


def test_model_parameters_are_set_while_a_model_loads_and_restored_after() -> None:
    import llama_cpp.llama_cpp as lc

    from rag.generation import _model_params

    original = lc.llama_model_default_params
    assert original().use_extra_bufts  # llama.cpp's own default: repack (and AMX) on
    with _model_params(use_extra_bufts=False, not_a_field=1):
        params = lc.llama_model_default_params()
        assert params.use_extra_bufts is False
        assert not hasattr(params, "not_a_field")
    assert lc.llama_model_default_params is original
    assert lc.llama_model_default_params().use_extra_bufts


def test_repacking_with_amx_is_refused_before_the_model_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import llama_cpp

    from rag.generation import open_llama

    monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda: b"AVX2 = 1 | AMX_INT8 = 1 |")
    with pytest.raises(ValueError, match="RAG_LLM_REPACK"):
        open_llama(tmp_path / "absent.gguf", n_ctx=512, n_threads=1, repack=True)
    # Without repacking the same build loads as usual (here: a missing file, Llama's error).
    with pytest.raises(ValueError, match="does not exist"):
        open_llama(tmp_path / "absent.gguf", n_ctx=512, n_threads=1)
