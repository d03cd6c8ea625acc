"""One contract, every store we can run here.

Each test class below runs every test of :class:`rag.testing.StoreContract` against one backend:

* ``TestFolderStore``: the index folder (FAISS);
* ``TestMilvusStore``: Milvus Lite in-process (``milvus:///path/file.db``);
* ``TestMilvusServerStore``: ``milvus://127.0.0.1:PORT``, the Milvus client over TCP to a
  separate ``milvus-lite server`` process (the Milvus Lite engine behind Milvus' gRPC API);
* ``TestMilvusStandaloneStore``: a Milvus standalone or cluster (the Go/C++ server), only
  when ``MILVUS_TEST_URL=milvus://host:19530`` names one. None runs on this project's
  machines (docs/deployment.md, "What we test against", says why), so it is skipped there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from milvus_server import MilvusServer

from rag import Rag, Settings
from rag.errors import (
    BadInputError,
    EmbeddingMismatchError,
    IndexNotFoundError,
    StoreUnavailableError,
)
from rag.stores import Store
from rag.stores.folder import FolderStore
from rag.stores.milvus_store import MilvusStore, check_server_version, chunk_id_for, parse_url
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


def _server_store(url: str) -> Iterator[Callable[[], Store]]:
    """Stores on a fresh collection of the server at ``url``; the collections dropped after."""
    uri, _, token = parse_url(url)
    name = f"contract_{uuid.uuid4().hex[:12]}"
    opened: list[MilvusStore] = []

    def make() -> Store:
        opened.append(MilvusStore(uri, name, token))  # a server takes many clients at once
        return opened[-1]

    yield make
    for s in opened:
        s.close()
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, token=token or "")
    for suffix in ("chunks", "documents", "meta"):
        client.drop_collection(f"{name}_{suffix}")
    client.close()


class TestMilvusServerStore(StoreContract):
    @pytest.fixture
    def make_store(self, milvus_server: MilvusServer) -> Iterator[Callable[[], Store]]:
        yield from _server_store(milvus_server.url())


class TestMilvusStandaloneStore(StoreContract):
    @pytest.fixture
    def make_store(self) -> Iterator[Callable[[], Store]]:
        url = os.environ.get("MILVUS_TEST_URL")
        if not url:
            pytest.skip(
                "no Milvus standalone here: set MILVUS_TEST_URL=milvus://host:19530 to run the "
                "store contract against one (Milvus >= 2.5: BM25 functions, sparse vectors)"
            )
        yield from _server_store(url)


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


def test_a_milvus_server_older_than_2_5_is_refused_in_one_line() -> None:
    # v2.3.5-lite is what `pip install milvus` (the embedded standalone) runs: it has no
    # sparse vectors, and creating the chunks collection fails with "create index on 104
    # field is not supported". Say what is needed instead, when connecting.
    with pytest.raises(
        StoreUnavailableError,
        match=r"^Milvus v2\.3\.5-lite at http://h:1 is too old: rag needs Milvus 2\.5 or newer",
    ):
        check_server_version("v2.3.5-lite", "http://h:1")
    with pytest.raises(StoreUnavailableError, match="too old"):
        check_server_version("2.4.17", "http://h:1")
    for fine in ("v2.5.0", "v2.6.3", "3.0.0", "milvus_lite-3.2.2", ""):
        check_server_version(fine, "http://h:1")


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
