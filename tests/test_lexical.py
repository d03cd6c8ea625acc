from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Rag, Settings, storage
from rag.lexical import FOLDER, Bm25, Bm25Parts
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
    manifest = json.loads((gdir / "manifest.json").read_text())
    del manifest["files"], manifest["checksum"]  # (and before checksums)
    (gdir / "manifest.json").write_text(json.dumps(manifest))
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


def _reference(bm25: Bm25, query: str) -> dict[int, float]:
    """Every document's score, summed term by term in float64."""
    scores = np.zeros(len(bm25))
    for t in bm25._query_terms(query):
        a, b = int(bm25._indptr[t]), int(bm25._indptr[t + 1])
        scores[bm25._docs[a:b]] += bm25._data[a:b]
    return {int(bm25._ids[i]): float(s) for i, s in enumerate(scores) if s > 0}


@pytest.mark.parametrize("sampled_top_above", [10**9, 256])
def test_every_accumulation_path_scores_the_top_documents(
    monkeypatch: pytest.MonkeyPatch, sampled_top_above: int
) -> None:
    # Word i of 300 appears in about 1/(i+1) of 3,000 documents: queries touch from a few
    # to all documents (sorted, float64 over all, float32 over all), and with the low
    # threshold the top k is picked from a sample's floor.
    monkeypatch.setattr("rag.lexical._SAMPLED_TOP_ABOVE", sampled_top_above)
    rng = np.random.default_rng(5)
    words = [f"w{i}x" for i in range(300)]
    weights = 1 / np.arange(1, 301)
    texts = [
        " ".join(rng.choice(words, size=int(rng.integers(3, 30)), p=weights / weights.sum()))
        for _ in range(3000)
    ]
    bm25 = Bm25(range(100, 3100), texts)
    touched = set()
    for query in ["w0x", "w0x w1x", "w3x w40x", "w250x", "w299x w298x", "w5x w77x w150x"]:
        ref = _reference(bm25, query)
        touched.add(len(ref))
        for k in (1, 10, 50):
            got = bm25.search(query, k)
            best = sorted(ref.values(), reverse=True)[:k]
            assert [s for _, s in got] == pytest.approx(best, rel=1e-5)
            assert all(ref[cid] == pytest.approx(s, rel=1e-5) for cid, s in got)
            # ties break by position: lower chunk ids first
            for (c1, s1), (c2, s2) in zip(got, got[1:], strict=False):
                assert s1 > s2 or (s1 == s2 and c1 < c2)
    assert min(touched) < 3000 / 64 and max(touched) > 0.25 * 3000


def _zipf_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}x" for i in range(300)]
    weights = 1 / np.arange(1, 301)
    return [
        " ".join(rng.choice(words, size=int(rng.integers(3, 30)), p=weights / weights.sum()))
        for _ in range(n)
    ]


ZIPF_QUERIES = ["w0x", "w1x", "w250x", "w0x w1x", "w3x w40x", "w299x w298x", "w5x w77x w150x"]


@pytest.mark.parametrize("sampled_top_above", [10**9, 256])
def test_parts_score_like_one_index_over_their_live_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampled_top_above: int
) -> None:
    # A base (saved and memory-mapped), a one-document segment and two larger ones, with
    # tombstones in the base and in a segment: searched as parts, they rank and score as
    # one index built over the live documents (every accumulation path, both top-k paths).
    monkeypatch.setattr("rag.lexical._SAMPLED_TOP_ABOVE", sampled_top_above)
    texts = _zipf_texts(3000, seed=7)
    ids = list(range(100, 3100))
    cuts = [(0, 2600), (2600, 2601), (2601, 2800), (2800, 3000)]
    Bm25(ids[:2600], texts[:2600]).save(tmp_path)
    base = Bm25.load(tmp_path)
    assert base is not None
    parts = [base] + [Bm25(ids[a:b], texts[a:b]) for a, b in cuts[1:]]
    rng = np.random.default_rng(3)
    dead = np.sort(np.concatenate([rng.choice(ids[:2600], 120, replace=False), ids[2650:2700]]))
    live = [i for i in ids if i not in set(dead.tolist())]
    one = Bm25(live, [texts[i - 100] for i in live])
    split = Bm25Parts(parts, dead)
    assert len(split) == len(one) == 3000 - 170
    for query in ZIPF_QUERIES:
        ref = dict(one.search(query, len(one)))
        for k in (1, 10, 50, len(one)):  # all: ties at a cut-off may fall either way
            got, want = split.search(query, k), one.search(query, k)
            assert len(got) == len(want) and got, query
            if " " not in query:  # one term: each score is one weight, float for float
                assert [s for _, s in got] == [s for _, s in want]
                assert all(ref[cid] == s for cid, s in got)
                assert got == want or k < len(one)
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
            assert all(ref[cid] == pytest.approx(s, rel=1e-6) for cid, s in got)
    # The one-document segment's document scores what it scores in the whole index.
    alone = ids[2600]
    query = texts[alone - 100]
    assert dict(split.search(query, 5))[alone] == pytest.approx(dict(one.search(query, 5))[alone])


def test_one_part_without_tombstones_keeps_its_saved_scores() -> None:
    texts = _zipf_texts(2000, seed=11)
    bm25 = Bm25(range(2000), texts)
    empty = np.zeros(0, np.int64)
    for query in ZIPF_QUERIES:
        for k in (1, 10, 50):
            want = bm25.search(query, k)
            assert Bm25Parts([bm25], empty).search(query, k) == want
            # Recomputed from term frequencies and lengths (an empty segment beside it):
            # the same weights, float for float.
            assert Bm25Parts([bm25, Bm25([], [])], empty).search(query, k) == want


def test_tombstones_leave_the_statistics() -> None:
    # A removed document no longer counts in N, a term's document frequency or the
    # average length: the survivors score as if it had never been indexed.
    texts = ["rare word here", "rare again", "common text " * 20, "other common words"]
    split = Bm25Parts([Bm25([0, 1, 2, 3], texts)], np.array([1, 2]))
    one = Bm25([0, 3], [texts[0], texts[3]])
    for query in ["rare", "common", "words rare"]:
        got, want = split.search(query, 5), one.search(query, 5)
        assert [c for c, _ in got] == [c for c, _ in want] and got
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
    assert split.search("again", 5) == []
