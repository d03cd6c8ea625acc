"""Where a document is stored does not change how it ranks: a document written as a
small segment (rag.storage) gets the same lexical score and the same fused rank as in
one index built over the same documents at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Rag, Settings, storage
from rag.lexical import FOLDER
from rag.stores.folder import FolderStore
from rag.testing import HashEmbedder

PLACES = ["Arden", "Brisk", "Calder", "Dunmore", "Elster", "Fenwick", "Garrow", "Holm"]
THINGS = ["gulls", "barrels", "lanterns", "goats", "ropes", "kites", "bells", "nets"]
BASE_NOTES = 40
QUERIES = [
    "zephyr lighthouse base",  # the document added as a segment
    "base",  # a term most documents share
    "ferry timetable base",  # the rewritten document
    "Calder goats",
    "lanterns harbour base Holm",
]


def _note(i: int) -> str:
    # Every note a different length, so no two score alike and ranks have no ties.
    extra = " ".join(f"tally{j}" for j in range(i))
    return (
        f"Field note {i}: the supply base near {PLACES[i % 8]} counted {THINGS[i % 7]} "
        f"and {THINGS[(i + 3) % 8]} at the harbour. {extra}\n"
    )


LIGHTHOUSE = "The zephyr lighthouse base on Corvo island opened its keeper's museum.\n"
REWRITTEN = "Field note 7 rewritten: the ferry timetable at the base changed in spring.\n"


def _settings(index: Path) -> Settings:
    return Settings(index=index, llm="none", chunk_size=1000, chunk_overlap=0)


def _open(index: Path) -> Rag:
    return Rag.open(index, _settings(index), create=True, embedder=HashEmbedder())


def _keyed(rag: Rag, hits: list[tuple[int, float]]) -> list[tuple[tuple[str, int], float]]:
    """Hits keyed by (source, start): chunk ids differ between two indexes."""
    chunks = rag.store.chunks([c for c, _ in hits])
    return [((chunks[c].document.source, chunks[c].chunk.start), s) for c, s in hits]


def _assert_same_rankings(split: Rag, one: Rag) -> None:
    for query in QUERIES:
        lex_split = _keyed(split, split.store.lexical(query, 100))
        lex_one = _keyed(one, one.store.lexical(query, 100))
        assert [k for k, _ in lex_split] == [k for k, _ in lex_one] and lex_one, query
        assert [s for _, s in lex_split] == pytest.approx([s for _, s in lex_one], rel=1e-6)
        fused_split, fused_one = split.search(query, 10), one.search(query, 10)
        assert [(h.source, h.start) for h in fused_split] == [
            (h.source, h.start) for h in fused_one
        ], query
        assert [h.score for h in fused_split] == pytest.approx([h.score for h in fused_one])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    for i in range(BASE_NOTES):
        (docs / "notes" / f"note{i:02d}.txt").write_text(_note(i), encoding="utf-8")
    return docs


def test_documents_in_segments_rank_as_in_one_rebuilt_index(folder: Path, tmp_path: Path) -> None:
    split = _open(tmp_path / "split")
    split.add([folder / "notes"])
    # Three small writes: a new document, a rewritten one (a tombstone in the base), a
    # removed one (a tombstone alone).
    (folder / "zephyr.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    split.add([folder / "zephyr.txt"])
    (folder / "notes" / "note07.txt").write_text(REWRITTEN, encoding="utf-8")
    split.add([folder / "notes" / "note07.txt"])
    split.remove(str(folder / "notes" / "note11.txt"))
    (folder / "notes" / "note11.txt").unlink()
    assert len(split.store.snapshot.segments) == 3
    one = _open(tmp_path / "one")  # the same documents, written at once
    one.add([folder])
    assert not one.store.snapshot.segments and len(one.store) == len(split.store)

    _assert_same_rankings(split, one)
    # The added document is first for its words, as in the rebuilt index, with the
    # rebuilt index's lexical score (its segment's own statistics would give it a
    # fraction of that: one document, every term's IDF about 0.29).
    query = "zephyr lighthouse base"
    top = split.search(query, 5)[0]
    assert top.source == str(folder / "zephyr.txt")
    lexical = dict(_keyed(split, split.store.lexical(query, 5)))
    rebuilt = dict(_keyed(one, one.store.lexical(query, 5)))
    assert lexical[(top.source, 0)] == pytest.approx(rebuilt[(top.source, 0)], rel=1e-6)
    # A new reader of the index (base and segments read from disk) ranks the same.
    _assert_same_rankings(Rag.open(split.path, _settings(split.path), embedder=HashEmbedder()), one)


def test_nothing_changes_when_everything_is_in_the_base(folder: Path, tmp_path: Path) -> None:
    (folder / "zephyr.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    rag = _open(tmp_path / "index")
    rag.add([folder])
    snap = rag.store.snapshot
    assert not snap.segments and snap.lexical is not None
    for query in QUERIES:
        # The saved weights, as they are: the same pairs, float for float.
        assert rag.store.lexical(query, 50) == snap.lexical.search(query, 50)
    again = _open(tmp_path / "again")
    again.add([folder])
    _assert_same_rankings(rag, again)


def test_a_segment_saved_in_the_older_bm25_format_is_rebuilt(folder: Path, tmp_path: Path) -> None:
    split = _open(tmp_path / "split")
    split.add([folder / "notes"])
    (folder / "zephyr.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    split.add([folder / "zephyr.txt"])
    expected = {q: split.store.lexical(q, 50) for q in QUERIES}
    assert all(expected.values())
    for gen in (1, 2):  # base and segment: format 1 had no term frequencies or lengths
        terms = storage.generation_path(split.path, gen) / FOLDER / "terms.json"
        meta = json.loads(terms.read_text())
        assert meta["format"] == 2
        terms.write_text(terms.read_text().replace('"format":2', '"format":1'))
    reopened = FolderStore(split.path)
    assert len(reopened.snapshot.segments) == 1
    for query, hits in expected.items():
        assert reopened.lexical(query, 50) == hits  # rebuilt from the same texts
