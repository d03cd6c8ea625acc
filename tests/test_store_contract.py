"""One contract, every store: the index folder (FAISS) and Milvus Lite (a real Milvus engine).

Each test class below runs every test of :class:`StoreContract` against its store.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from rag import Rag, Settings
from rag.chunking import chunk_document, line_of
from rag.documents import content_hash, doc_id_for
from rag.errors import BadInputError, EmbeddingMismatchError, IndexNotFoundError
from rag.stores import DocRecord, IndexMeta, NewDocument, Store
from rag.stores.folder import FolderStore
from rag.stores.milvus_store import MilvusStore, chunk_id_for, parse_url
from rag.testing import HashEmbedder

EMBEDDER = HashEmbedder(dim=32)
META = IndexMeta(EMBEDDER.name, EMBEDDER.dim, chunk_size=120, chunk_overlap=30)
TEXTS = {
    "bread": "Baking bread at home. Knead the dough for ten minutes. Bake it at 230 degrees "
    "until the crust is brown and the loaf sounds hollow.",
    "iraq": "In September 2024 the United States announced the end of its mission in Iraq. "
    "About 2,500 troops were still there. Officials said the withdrawal would take two years.",
    "greek": "Το ψωμί ψήνεται στους 230 βαθμούς.",
}


def new_document(name: str, text: str) -> tuple[NewDocument, np.ndarray]:
    source = f"/docs/{name}.txt"
    doc_id = doc_id_for(source)
    chunks = chunk_document(doc_id, text, META.chunk_size, META.chunk_overlap, 0)
    record = DocRecord(doc_id, source, name.title(), content_hash(text.encode()), "2024-09-27", ())
    lines = tuple(line_of(text, c.start) for c in chunks)
    return NewDocument(record, tuple(chunks), lines), EMBEDDER.embed([c.text for c in chunks])


def write(store: Store, names: list[str], remove: tuple[str, ...] = ()) -> None:
    # One batch per document: the store takes a write as a stream of batches.
    batches = [([doc], vectors) for doc, vectors in (new_document(n, TEXTS[n]) for n in names)]
    with store.writing():
        store.write(META, remove, iter(batches))


def query(text: str) -> np.ndarray:
    return EMBEDDER.embed([text])[0]


class StoreContract:
    """What every :class:`rag.stores.Store` does. Subclasses provide ``make``."""

    @pytest.fixture
    def make(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        raise NotImplementedError

    @pytest.fixture
    def store(self, make: Callable[[], Store]) -> Store:
        s = make()
        write(s, ["bread", "iraq"])
        return s

    def test_a_new_store_is_empty(self, make: Callable[[], Store]) -> None:
        s = make()
        assert s.meta() is None and len(s) == 0 and s.documents() == {}
        assert s.search(query("bread"), 5) == [] and s.lexical("bread", 5) == []

    def test_add_counts_documents_and_chunks(self, store: Store) -> None:
        assert store.meta() == META
        docs = store.documents()
        assert {d.title for d in docs.values()} == {"Bread", "Iraq"}
        assert len(store) == sum(len(d.chunk_ids) for d in docs.values()) >= 3
        assert all(d.date == "2024-09-27" for d in docs.values())

    def test_chunks_keep_exact_spans_lines_and_documents(self, store: Store) -> None:
        for rec in store.documents().values():
            stored = store.chunks(rec.chunk_ids)
            assert set(stored) == set(rec.chunk_ids)
            text = TEXTS[rec.title.lower()]
            for s in stored.values():
                assert text[s.chunk.start : s.chunk.end] == s.chunk.text
                assert s.chunk.doc_id == rec.doc_id and s.document == rec and s.line == 1
        assert store.chunks([12345]) == {}

    def test_search_scores_best_first(self, store: Store) -> None:
        rec = next(d for d in store.documents().values() if d.title == "Iraq")
        first = store.chunks(rec.chunk_ids)[rec.chunk_ids[0]]
        hits = store.search(query(first.chunk.text), 3)
        assert hits[0][0] == first.chunk.chunk_id
        assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True) and len(hits) == 3

    def test_lexical_search_stems_and_ignores_stopwords(self, store: Store) -> None:
        hits = store.lexical("the baked loaves", 5)
        chunks = store.chunks([cid for cid, _ in hits])
        assert hits and chunks[hits[0][0]].document.title == "Bread"
        assert all(score > 0 for _, score in hits)
        assert store.lexical("the of and", 5) == []

    def test_delete_by_document(self, store: Store) -> None:
        bread = next(d for d in store.documents().values() if d.title == "Bread")
        with store.writing():
            store.write(META, [bread.doc_id], [])
        assert set(d.title for d in store.documents().values()) == {"Iraq"}
        assert store.chunks(bread.chunk_ids) == {}
        assert not {cid for cid, _ in store.lexical("bread dough", 10)} & set(bread.chunk_ids)
        assert not {cid for cid, _ in store.search(query("bread"), 10)} & set(bread.chunk_ids)
        assert len(store) == len(next(iter(store.documents().values())).chunk_ids)

    def test_rewriting_a_document_replaces_its_chunks(self, store: Store) -> None:
        old = next(d for d in store.documents().values() if d.title == "Bread")
        TEXTS_BEFORE = TEXTS["bread"]
        try:
            TEXTS["bread"] = "Rye bread needs a sourdough starter and a long, slow rise."
            write(store, ["bread"])
        finally:
            new_text, TEXTS["bread"] = TEXTS["bread"], TEXTS_BEFORE
        new = next(d for d in store.documents().values() if d.title == "Bread")
        assert new.hash != old.hash and store.chunks(old.chunk_ids) == {}
        (only,) = store.chunks(new.chunk_ids).values()
        assert only.chunk.text == new_text
        assert store.lexical("sourdough", 3)[0][0] == only.chunk.chunk_id

    def test_persists_across_handles(self, store: Store, make: Callable[[], Store]) -> None:
        docs = store.documents()
        hits = store.search(query("troops in Iraq"), 4)
        store.close()
        again = make()
        assert again.meta() == META and again.documents() == docs
        after = again.search(query("troops in Iraq"), 4)
        assert [s for _, s in after] == pytest.approx([s for _, s in hits], abs=1e-5)
        assert [c for c, s in after if s > 0.01] == [c for c, s in hits if s > 0.01]

    def test_scripts_of_indexed_texts(self, store: Store) -> None:
        assert "GREEK" not in store.scripts()
        write(store, ["greek"])
        assert "GREEK" in store.scripts()


class TestFolderStore(StoreContract):
    @pytest.fixture
    def make(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        yield lambda: FolderStore(tmp_path / "index")


class TestMilvusStore(StoreContract):
    @pytest.fixture
    def make(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        opened: list[Store] = []

        def make() -> Store:
            for s in opened:  # Milvus Lite: one handle on a file at a time
                s.close()
            opened.append(MilvusStore(str(tmp_path / "m.db"), "contract"))
            return opened[-1]

        yield make
        for s in opened:
            s.close()


# -- Milvus specifics ------------------------------------------------------------------------


def test_milvus_urls() -> None:
    assert parse_url("milvus:///tmp/a/m.db") == ("/tmp/a/m.db", "rag", None)
    assert parse_url("milvus://db.lan:19530?collection=team_a&token=u:p") == (
        "http://db.lan:19530", "team_a", "u:p",
    )  # fmt: skip
    for bad in (
        "milvus://",
        "milvus:///tmp/no-suffix",
        "postgres://x",
        "milvus:///a.db?collection=1x",
    ):
        with pytest.raises(BadInputError):
            parse_url(bad)


def test_chunk_ids_are_stable_and_positive() -> None:
    a = chunk_id_for("doc", "hash", 0)
    assert a == chunk_id_for("doc", "hash", 0) > 0
    assert len({chunk_id_for("doc", h, i) for h in ("h1", "h2") for i in range(100)}) == 200


def test_rag_over_milvus_refuses_another_embedding_model(tmp_path: Path, corpus: Path) -> None:
    settings = Settings(index=tmp_path / "unused", store=f"milvus://{tmp_path}/m.db", llm="none")
    rag = Rag.open(None, settings, create=True, embedder=HashEmbedder())
    rag.add([corpus])
    rag.close()
    with pytest.raises(EmbeddingMismatchError, match="test/hash-embedder"):
        Rag.open(None, settings, embedder=HashEmbedder(name="other/model"))


def test_rag_over_milvus_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    settings = Settings(store=f"milvus://{tmp_path}/m.db", llm="none")
    with pytest.raises(IndexNotFoundError, match=r"rag index PATH --store milvus://"):
        Rag.open(None, settings, embedder=HashEmbedder())


def test_rag_answers_the_same_from_folder_and_milvus(tmp_path: Path, corpus: Path) -> None:
    folder = Rag.open(
        tmp_path / "index", Settings(llm="none"), create=True, embedder=HashEmbedder()
    )
    milvus = Rag.open(
        None, Settings(store=f"milvus://{tmp_path}/m.db", llm="none"),
        create=True, embedder=HashEmbedder(),
    )  # fmt: skip
    for rag in (folder, milvus):
        rag.add([corpus])
    for q in ("When did the US announce leaving Iraq?", "How long do you knead the dough?"):
        a, b = folder.ask(q), milvus.ask(q)
        assert a.answer == b.answer
        assert [(c.doc_id, c.start, c.end, c.quote) for c in a.citations] == [
            (c.doc_id, c.start, c.end, c.quote) for c in b.citations
        ]
        assert b.citations and b.citations[0].quote == milvus.span_text(
            b.citations[0].doc_id, b.citations[0].start, b.citations[0].end
        )
    summary = milvus.remove(str(corpus / "bread.md"))
    assert summary.removed == 1 and [d.title for d in milvus.documents()] == ["US Leaves Iraq"]


def test_a_milvus_lite_file_open_elsewhere_is_a_one_line_error(tmp_path: Path) -> None:
    holder = MilvusStore(str(tmp_path / "m.db"))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rag.cli", "docs", "--store", f"milvus://{tmp_path}/m.db"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        holder.close()
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "one process at a time" in proc.stderr
