from __future__ import annotations

from pathlib import Path

import pytest

from rag import Rag
from rag.errors import BadInputError, EmptyQuestionError
from rag.retrieval import fuse, reciprocal_rank_fusion


def test_rrf_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]])
    assert [cid for cid, _ in fused][:2] == [1, 3]
    assert dict(fused)[4] < dict(fused)[2] or dict(fused)[4] == pytest.approx(1 / 63)


def test_fuse_keeps_part_scores() -> None:
    out = fuse([(5, 0.9), (6, 0.8)], [(6, 3.0), (7, 1.0)], k=3)
    assert out[0].chunk_id == 6 and out[0].dense == pytest.approx(0.8) and out[0].lexical == 3.0
    assert {s.chunk_id for s in out} == {5, 6, 7}


def test_search_returns_exact_passages(fake_rag: Rag) -> None:
    hits = fake_rag.search("How long should dough be kneaded?", 2)
    assert "Knead" in hits[0].text
    for h in hits:
        assert Path(h.source).read_text("utf-8")[h.start : h.end] == h.text


@pytest.mark.parametrize("q", ["", "   \n"])
def test_empty_question(fake_rag: Rag, q: str) -> None:
    with pytest.raises(EmptyQuestionError):
        fake_rag.search(q)


def test_question_in_unseen_script(fake_rag: Rag) -> None:
    with pytest.raises(BadInputError, match="script"):
        fake_rag.ask("Когда США объявили о выходе из Ирака?")


def test_bad_k(fake_rag: Rag) -> None:
    with pytest.raises(BadInputError):
        fake_rag.search("bread", 0)


def test_fusion_does_not_depend_on_how_tied_chunks_are_numbered() -> None:
    # Chunks 1 and 2 tie in BM25; a store may list either first.
    dense = [(3, 0.9), (2, 0.5), (1, 0.4)]
    a = fuse(dense, [(1, 2.0), (2, 2.0), (3, 1.0)], 3)
    b = fuse(dense, [(2, 2.0), (1, 2.0), (3, 1.0)], 3)
    assert [s.chunk_id for s in a] == [s.chunk_id for s in b]
