"""One contract, every store: the index folder (FAISS) and Milvus Lite (a real Milvus engine).

Each test class below runs every test of :class:`rag.testing.StoreContract` against its store.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag import Rag, Settings
from rag.errors import BadInputError, EmbeddingMismatchError, IndexNotFoundError
from rag.stores import Store
from rag.stores.folder import FolderStore
from rag.stores.milvus_store import MilvusStore, chunk_id_for, parse_url
from rag.testing import HashEmbedder, StoreContract


class TestFolderStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        yield lambda: FolderStore(tmp_path / "index")


class TestMilvusStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
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
