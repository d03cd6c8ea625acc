"""Contract tests: what every store, embedder and generator does, as pytest classes to subclass.

Each class holds the tests and one abstract fixture; a test module subclasses it once per
implementation (under a name pytest collects, ``Test...``) and overrides that fixture::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def make_store(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
            yield lambda: MyStore(tmp_path / "my.db")

    class TestMyEmbedder(EmbeddingContract):
        @pytest.fixture(scope="class")  # a model loads once per class
        @classmethod
        def embedder(cls) -> Embedder:
            return MyEmbedder()

    class TestMyGenerator(GeneratorContract):
        @pytest.fixture(scope="class")  # a model loads once per class
        @classmethod
        def generator(cls) -> Generator:
            return MyGenerator()

This module imports pytest: only tests import it (through :mod:`rag.testing`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.chunking import chunk_document, line_of
from rag.documents import content_hash, doc_id_for
from rag.embedding import Embedder
from rag.errors import GenerationError
from rag.generation import Generator, Messages
from rag.stores import DocRecord, IndexMeta, NewDocument, Store
from rag.testing import HashEmbedder

# -- stores -----------------------------------------------------------------------------------

_EMBEDDER = HashEmbedder(dim=32)
STORE_META = IndexMeta(_EMBEDDER.name, _EMBEDDER.dim, chunk_size=120, chunk_overlap=30)
STORE_TEXTS = {
    "bread": "Baking bread at home. Knead the dough for ten minutes. Bake it at 230 degrees "
    "until the crust is brown and the loaf sounds hollow.",
    "iraq": "In September 2024 the United States announced the end of its mission in Iraq. "
    "About 2,500 troops were still there. Officials said the withdrawal would take two years.",
    "greek": "Το ψωμί ψήνεται στους 230 βαθμούς.",
}


def _new_document(name: str, text: str) -> tuple[NewDocument, np.ndarray]:
    source = f"/docs/{name}.txt"
    doc_id = doc_id_for(source)
    chunks = chunk_document(doc_id, text, STORE_META.chunk_size, STORE_META.chunk_overlap, 0)
    record = DocRecord(doc_id, source, name.title(), content_hash(text.encode()), "2024-09-27", ())
    lines = tuple(line_of(text, c.start) for c in chunks)
    return NewDocument(record, tuple(chunks), lines), _EMBEDDER.embed([c.text for c in chunks])


def _write(store: Store, texts: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    # One batch per document: the store takes a write as a stream of batches.
    batches = [([doc], vectors) for doc, vectors in (_new_document(*t) for t in texts.items())]
    with store.writing():
        store.write(STORE_META, remove, iter(batches))


def _query(text: str) -> np.ndarray:
    return _EMBEDDER.embed([text])[0]


def _titled(store: Store, title: str) -> DocRecord:
    return next(d for d in store.documents().values() if d.title == title)


class StoreContract:
    """What every :class:`rag.stores.Store` does.

    Override ``make_store``: it yields a function that opens the store kept under
    ``tmp_path``; called again, it opens the same store anew (a store that allows one
    handle at a time closes the previous one first), and the fixture closes what is
    still open after the test.

    The project runs it against the folder, Milvus Lite in-process and a Milvus Lite gRPC
    server over TCP; against Milvus standalone only where ``MILVUS_TEST_URL`` names one
    (tests/test_store_contract.py).
    """

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        raise NotImplementedError("a StoreContract subclass overrides the make_store fixture")

    @pytest.fixture
    def store(self, make_store: Callable[[], Store]) -> Store:
        s = make_store()
        _write(s, {n: STORE_TEXTS[n] for n in ("bread", "iraq")})
        return s

    def test_a_new_store_is_empty(self, make_store: Callable[[], Store]) -> None:
        s = make_store()
        assert s.meta() is None and len(s) == 0 and s.documents() == {}
        assert s.search(_query("bread"), 5) == [] and s.lexical("bread", 5) == []

    def test_add_counts_documents_and_chunks(self, store: Store) -> None:
        assert store.meta() == STORE_META
        docs = store.documents()
        assert {d.title for d in docs.values()} == {"Bread", "Iraq"}
        assert len(store) == sum(len(d.chunk_ids) for d in docs.values()) >= 3
        assert all(d.date == "2024-09-27" for d in docs.values())

    def test_chunks_keep_exact_spans_lines_and_documents(self, store: Store) -> None:
        for rec in store.documents().values():
            stored = store.chunks(rec.chunk_ids)
            assert set(stored) == set(rec.chunk_ids)
            text = STORE_TEXTS[rec.title.lower()]
            for s in stored.values():
                assert text[s.chunk.start : s.chunk.end] == s.chunk.text
                assert s.chunk.doc_id == rec.doc_id and s.document == rec and s.line == 1
        assert store.chunks([12345]) == {}

    def test_search_scores_best_first(self, store: Store) -> None:
        rec = _titled(store, "Iraq")
        first = store.chunks(rec.chunk_ids)[rec.chunk_ids[0]]
        hits = store.search(_query(first.chunk.text), 3)
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
        bread = _titled(store, "Bread")
        with store.writing():
            store.write(STORE_META, [bread.doc_id], [])
        assert set(d.title for d in store.documents().values()) == {"Iraq"}
        assert store.chunks(bread.chunk_ids) == {}
        assert not {cid for cid, _ in store.lexical("bread dough", 10)} & set(bread.chunk_ids)
        assert not {cid for cid, _ in store.search(_query("bread"), 10)} & set(bread.chunk_ids)
        assert len(store) == len(next(iter(store.documents().values())).chunk_ids)

    def test_rewriting_a_document_replaces_its_chunks(self, store: Store) -> None:
        old = _titled(store, "Bread")
        new_text = "Rye bread needs a sourdough starter and a long, slow rise."
        _write(store, {"bread": new_text})
        new = _titled(store, "Bread")
        assert new.hash != old.hash and store.chunks(old.chunk_ids) == {}
        (only,) = store.chunks(new.chunk_ids).values()
        assert only.chunk.text == new_text
        assert store.lexical("sourdough", 3)[0][0] == only.chunk.chunk_id

    def test_persists_across_handles(self, store: Store, make_store: Callable[[], Store]) -> None:
        docs = store.documents()
        hits = store.search(_query("troops in Iraq"), 4)
        store.close()
        again = make_store()
        assert again.meta() == STORE_META and again.documents() == docs
        after = again.search(_query("troops in Iraq"), 4)
        assert [s for _, s in after] == pytest.approx([s for _, s in hits], abs=1e-5)
        assert [c for c, s in after if s > 0.01] == [c for c, s in hits if s > 0.01]

    def test_scripts_of_indexed_texts(self, store: Store) -> None:
        assert "GREEK" not in store.scripts()
        _write(store, {"greek": STORE_TEXTS["greek"]})
        assert "GREEK" in store.scripts()


# -- embedders --------------------------------------------------------------------------------

EMBED_TEXTS = [
    "Knead the dough for ten minutes.",
    "In September 2024 the United States announced the end of its mission in Iraq.",
    "Το ψωμί ψήνεται στους 230 βαθμούς.",
    "",  # no words at all: still a unit vector
    "?!",
    "bread " * 2000,  # longer than any model's input: truncated, not an error
]


class EmbeddingContract:
    """What every :class:`rag.embedding.Embedder` does. Override ``embedder``.

    ``tolerance`` is how far a vector may move with the batch it is embedded in
    (padding and batched kernels round differently).
    """

    tolerance = 1e-4

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError("an EmbeddingContract subclass overrides the embedder fixture")

    def test_name_and_dimension(self, embedder: Embedder) -> None:
        assert isinstance(embedder.name, str) and embedder.name
        assert isinstance(embedder.dim, int) and embedder.dim > 0

    def test_rows_are_unit_float32_vectors_of_the_dimension(self, embedder: Embedder) -> None:
        vectors = embedder.embed(EMBED_TEXTS)
        assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
        assert vectors.shape == (len(EMBED_TEXTS), embedder.dim)
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    def test_no_texts_give_an_empty_array(self, embedder: Embedder) -> None:
        empty = embedder.embed([])
        assert empty.shape == (0, embedder.dim) and empty.dtype == np.float32

    def test_the_same_texts_give_the_same_vectors(self, embedder: Embedder) -> None:
        texts = EMBED_TEXTS[:3]
        np.testing.assert_allclose(embedder.embed(texts), embedder.embed(texts), atol=1e-6)

    def test_a_batch_equals_its_texts_one_by_one(self, embedder: Embedder) -> None:
        batch = embedder.embed(EMBED_TEXTS, progress=True)
        alone = np.vstack([embedder.embed([t]) for t in EMBED_TEXTS])
        np.testing.assert_allclose(batch, alone, atol=self.tolerance)

    def test_a_question_is_nearest_the_text_that_answers_it(self, embedder: Embedder) -> None:
        texts = embedder.embed(EMBED_TEXTS[:2])
        question = embedder.embed(["How long do you knead the dough?"])[0]
        assert int(np.argmax(texts @ question)) == 0


# -- generators -------------------------------------------------------------------------------

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}
# A question even a 135M model answers within a few tokens, so the JSON is complete.
QUESTION: Messages = [
    {"role": "system", "content": "Reply with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


class GeneratorContract:
    """What every :class:`rag.generation.Generator` does. Override ``generator``.

    ``max_tokens`` keeps real models short. ``overlong`` are messages longer than the
    generator's context; override it for a generator whose context holds 50,000 words.
    """

    max_tokens = 24

    @pytest.fixture
    def generator(self) -> Generator:
        raise NotImplementedError("a GeneratorContract subclass overrides the generator fixture")

    @pytest.fixture
    def overlong(self) -> Messages:
        return [{"role": "user", "content": "word " * 50_000}]

    def test_name_is_a_string(self, generator: Generator) -> None:
        assert isinstance(generator.name, str) and generator.name

    def test_generate_returns_text(self, generator: Generator) -> None:
        assert isinstance(generator.generate(QUESTION, max_tokens=self.max_tokens), str)

    def test_the_answer_schema_gives_a_json_answer(self, generator: Generator) -> None:
        text = generator.generate(QUESTION, schema=ANSWER_SCHEMA, max_tokens=self.max_tokens)
        value = json.loads(text)
        assert isinstance(value, dict) and isinstance(value["answer"], str)

    @pytest.mark.parametrize("schema", [None, ANSWER_SCHEMA], ids=["text", "schema"])
    def test_streamed_pieces_make_the_text(
        self, generator: Generator, schema: dict[str, Any] | None
    ) -> None:
        """The pieces concatenate to the text; with a schema the text may end with the
        ``}`` that closes the object, which a generator that stops early adds unstreamed."""
        pieces: list[str] = []
        text = generator.generate(
            QUESTION, schema=schema, max_tokens=self.max_tokens, on_token=pieces.append
        )
        assert all(isinstance(p, str) for p in pieces)
        streamed = "".join(pieces)
        closed = schema is not None and text == streamed.rstrip() + "}"
        assert text == streamed or closed

    def test_a_prompt_beyond_the_context_is_a_generation_error(
        self, generator: Generator, overlong: Messages
    ) -> None:
        with pytest.raises(GenerationError):
            generator.generate(overlong, max_tokens=self.max_tokens)
