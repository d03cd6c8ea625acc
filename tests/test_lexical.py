from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Rag, Settings, storage
from rag.lexical import FOLDER, Bm25
from rag.testing import HashEmbedder

TEXTS = [
    "The United States announced the end of its mission in Iraq.",
    "Knead the dough for ten minutes, then bake the bread.",
    "Officials said the withdrawal from Iraq would take two years.",
    "Bread, dough and more bread: a baker's week.",
    "",
    "Analysts were surprised by the decision of the United States.",
]
QUERIES = ["Iraq withdrawal", "bread dough", "united states decision", "the of", "zebra", "bake"]


def test_saved_index_searches_like_the_built_one(tmp_path: Path) -> None:
    ids = [3, 8, 9, 20, 21, 40]
    built = Bm25(ids, TEXTS)
    built.save(tmp_path)
    loaded = Bm25.load(tmp_path)
    assert loaded is not None and len(loaded) == len(built) == len(TEXTS)
    assert isinstance(loaded._docs, np.memmap)  # opened without reading the postings
    for q in QUERIES:
        for k in (1, 3, 10):
            assert loaded.search(q, k) == built.search(q, k)
    assert built.search("iraq", 10)  # the comparison is not vacuous


def test_empty_index_round_trips(tmp_path: Path) -> None:
    Bm25([], []).save(tmp_path)
    loaded = Bm25.load(tmp_path)
    assert loaded is not None and len(loaded) == 0 and loaded.search("iraq", 5) == []


def test_missing_files_load_as_none(tmp_path: Path) -> None:
    assert Bm25.load(tmp_path) is None


def test_generation_holds_bm25_and_opens_it(fake_rag: Rag, settings: Settings) -> None:
    gdir = settings.index / f"gen-{storage.current_generation(settings.index):06d}"
    assert (gdir / FOLDER / "terms.json").is_file()
    snap = storage.load(settings.index)
    assert snap.lexical is not None and len(snap.lexical) == len(snap.chunks)
    ids = sorted(snap.chunks)
    rebuilt = Bm25(ids, [snap.chunks[i].text for i in ids])
    for q in ["Iraq troops", "bread crust", "analysts decision"]:
        assert snap.lexical.search(q, 5) == rebuilt.search(q, 5)


def test_generation_without_bm25_files_still_opens(fake_rag: Rag, settings: Settings) -> None:
    expected = [(h.chunk_id, h.score) for h in fake_rag.search("Iraq troops", 5)]
    gdir = settings.index / f"gen-{storage.current_generation(settings.index):06d}"
    shutil.rmtree(gdir / FOLDER)  # as written before BM25 was saved with a generation
    old = Rag.open(settings.index, settings, embedder=HashEmbedder())
    assert [(h.chunk_id, h.score) for h in old.search("Iraq troops", 5)] == expected
    # The next write saves the files again.
    old.remove(old.documents()[0].doc_id)
    gdir = settings.index / f"gen-{storage.current_generation(settings.index):06d}"
    assert (gdir / FOLDER / "terms.json").is_file()


def test_inconsistent_bm25_files_are_corrupt(fake_rag: Rag, settings: Settings) -> None:
    from rag.errors import IndexCorruptError

    gdir = settings.index / f"gen-{storage.current_generation(settings.index):06d}"
    np.save(gdir / FOLDER / "ids.npy", np.zeros(1, np.int64))
    with pytest.raises(IndexCorruptError):
        storage.load(settings.index)
