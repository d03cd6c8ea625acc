"""What a program embedding the library sees: a store passed in, and the errors it catches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import Rag, Settings
from rag.stores import Batch, DocRecord, IndexMeta, StoredChunk
from rag.stores.folder import FolderStore
from rag.testing import HashEmbedder


class RecordingStore:
    """A store of the caller's own: a folder store that counts what the library asks of it."""

    def __init__(self, folder: Path) -> None:
        self.inner = FolderStore(folder)
        self.calls: list[str] = []
        self.closed = False

    @property
    def location(self) -> str:
        return f"recording:{self.inner.location}"

    def meta(self) -> IndexMeta | None:
        return self.inner.meta()

    def __len__(self) -> int:
        return len(self.inner)

    def documents(self) -> dict[str, DocRecord]:
        return self.inner.documents()

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        self.calls.append("chunks")
        return self.inner.chunks(ids)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        self.calls.append("search")
        return self.inner.search(vector, k)

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        self.calls.append("lexical")
        return self.inner.lexical(query, k)

    def scripts(self) -> frozenset[str]:
        return self.inner.scripts()

    def writing(self) -> AbstractContextManager[None]:
        return self.inner.writing()

    def write(self, meta: IndexMeta, remove: Sequence[str], batches: Iterable[Batch]) -> None:
        self.calls.append("write")
        self.inner.write(meta, remove, batches)

    def refresh(self) -> bool:
        return self.inner.refresh()

    def close(self) -> None:
        self.closed = True


def test_open_uses_the_store_it_is_given(tmp_path: Path, corpus: Path) -> None:
    named = tmp_path / "named-index"
    store = RecordingStore(tmp_path / "elsewhere")
    settings = Settings(index=named, llm="none", chunk_size=200, chunk_overlap=60)
    with Rag.open(named, settings, create=True, store=store, embedder=HashEmbedder()) as lib:
        assert lib.store is store
        assert lib.add([corpus]).added == 2
        hits = lib.search("When did the United States leave Iraq?", k=2)
    assert hits and "Iraq" in hits[0].text
    assert {"write", "search", "lexical", "chunks"} <= set(store.calls)
    assert store.closed  # the Rag owns the store it was given, as httpx owns a transport
    assert (tmp_path / "elsewhere" / "CURRENT").is_file()
    assert not named.exists()  # nothing went where the settings pointed

    # Reopened through the constructor, with no path lookup at all.
    again = Rag(settings, embedder=HashEmbedder(), store=RecordingStore(tmp_path / "elsewhere"))
    assert [d.title for d in again.documents()] == ["Baking bread", "US Leaves Iraq"]


def test_an_empty_store_given_without_create_is_refused(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "empty")
    with pytest.raises(rag.IndexNotFoundError, match="recording:"):
        Rag.open(tmp_path / "x", Settings(llm="none"), store=store, embedder=HashEmbedder())
    assert store.closed


def test_a_store_built_with_another_model_is_refused(tmp_path: Path, corpus: Path) -> None:
    settings = Settings(index=tmp_path / "i", llm="none")
    Rag.open(None, settings, create=True, embedder=HashEmbedder()).add([corpus])
    store = rag.open_store(None, tmp_path / "i")
    with pytest.raises(rag.EmbeddingMismatchError):
        Rag.open(None, settings, store=store, embedder=HashEmbedder(name="other/model"))


@pytest.mark.parametrize(
    "name",
    ["RagError", "BadInputError", "IndexError_", "IndexNotFoundError", "IndexCorruptError",
     "EmbeddingMismatchError", "StoreUnavailableError", "ModelError", "GenerationError"],
)  # fmt: skip
def test_the_errors_a_caller_catches_are_exported(name: str) -> None:
    assert name in rag.__all__
    cls = getattr(rag, name)
    assert issubclass(cls, rag.RagError)
    if name.startswith(("Index", "Store", "Embedding")):
        assert issubclass(cls, rag.IndexError_)  # one except clause for every index problem


def test_every_public_name_resolves() -> None:
    for name in rag.__all__:
        assert getattr(rag, name) is not None, name
