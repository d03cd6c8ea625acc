from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag import Rag, Settings, storage
from rag.errors import (
    BadInputError,
    EmbeddingMismatchError,
    IndexCorruptError,
    IndexNotFoundError,
    UnreadableDocumentError,
)
from rag.testing import HashEmbedder


def test_manifest_records_model_chunking_and_hashes(fake_rag: Rag, settings: Settings) -> None:
    gen = storage.current_generation(settings.index)
    manifest = json.loads((settings.index / f"gen-{gen:06d}" / "manifest.json").read_text())
    assert manifest["embedding"] == {"model": "test/hash-embedder", "dim": 64}
    assert manifest["chunking"] == {"size": 200, "overlap": 60}
    assert {len(d["hash"]) for d in manifest["documents"]} == {64}


def test_chunks_are_exact_spans_of_files(fake_rag: Rag) -> None:
    snap = fake_rag._snapshot()
    for chunk in snap.chunks.values():
        source = snap.documents[chunk.doc_id].source
        assert Path(source).read_text("utf-8")[chunk.start : chunk.end] == chunk.text


def test_reindex_unchanged_embeds_nothing(settings: Settings, corpus: Path) -> None:
    embedder = HashEmbedder()
    rag = Rag.open(settings.index, settings, create=True, embedder=embedder)
    first = rag.add([corpus])
    assert (first.added, first.embedded) == (2, first.chunks)
    embedder.embedded = 0
    again = Rag.open(settings.index, settings, embedder=embedder).add([corpus])
    assert (again.unchanged, again.added, again.embedded) == (2, 0, 0)
    assert embedder.embedded == 0


def test_changed_file_replaces_its_chunks(fake_rag: Rag, corpus: Path) -> None:
    before = {c.chunk_id for c in fake_rag._snapshot().chunks.values()}
    (corpus / "bread.md").write_text("# Baking bread\n\nUse rye flour today.\n")
    summary = fake_rag.add([corpus])
    assert (summary.updated, summary.unchanged) == (1, 1)
    texts = [c.text for c in fake_rag._snapshot().chunks.values()]
    assert any("rye flour" in t for t in texts)
    assert not any("Knead" in t for t in texts)
    assert len(fake_rag._snapshot().store) == len(texts)  # type: ignore[arg-type]
    assert {c.chunk_id for c in fake_rag._snapshot().chunks.values()} != before


def test_remove_by_id_and_by_path(fake_rag: Rag, corpus: Path) -> None:
    docs = {Path(d.source).name: d.doc_id for d in fake_rag.documents()}
    fake_rag.remove(docs["bread.md"])
    assert [Path(d.source).name for d in fake_rag.documents()] == ["iraq.txt"]
    fake_rag.remove(str(corpus / "iraq.txt"))
    assert fake_rag.documents() == []
    with pytest.raises(BadInputError):
        fake_rag.remove("no-such-doc")


def test_folder_skips_unreadable_files(settings: Settings, corpus: Path) -> None:
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02")
    (corpus / "empty.md").write_text("")
    skipped: list[str] = []
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    summary = rag.add([corpus], on_skip=skipped.append)
    assert summary.added == 2 and len(skipped) == 2
    assert any("binary.txt" in s for s in skipped)


def test_named_unreadable_file_fails_and_keeps_index(fake_rag: Rag, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x00")
    before = fake_rag.documents()
    with pytest.raises(UnreadableDocumentError):
        fake_rag.add([bad])
    assert fake_rag.documents() == before


def test_crash_mid_write_keeps_previous_index(
    fake_rag: Rag, settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = [d.doc_id for d in fake_rag.documents()]
    (corpus / "new.txt").write_text("A new document about rockets and moons.")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("rag.stores.faiss_store.FaissStore.save", boom)
    with pytest.raises(OSError):
        fake_rag.add([corpus])
    monkeypatch.undo()
    reopened = Rag.open(settings.index, settings, embedder=HashEmbedder())
    assert [d.doc_id for d in reopened.documents()] == before
    assert reopened.search("September 2024", 2)


def _many_files(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        (folder / f"note{i:03d}.txt").write_text(
            f"Note {i}. The depot in town {i} stocks {i * 7} crates of apples. "
            f"Its manager, number {i}, opens at {i % 12 + 1} o'clock every day.\n",
            encoding="utf-8",
        )


def test_large_write_streams_in_batches_and_matches_one_batch(
    settings: Settings, tmp_path: Path
) -> None:
    _many_files(tmp_path / "many", 40)
    whole = settings.model_copy(update={"index": tmp_path / "whole", "ingest_batch": 10_000})
    small = settings.model_copy(update={"index": tmp_path / "small", "ingest_batch": 3})
    one, many = HashEmbedder(), HashEmbedder()
    a = Rag.open(whole.index, whole, create=True, embedder=one)
    b = Rag.open(small.index, small, create=True, embedder=many)
    sa, sb = a.add([tmp_path / "many"]), b.add([tmp_path / "many"])
    assert one.calls == 1 and many.calls >= 10  # one embed call per batch
    assert many.embedded == one.embedded == sa.chunks == sb.chunks
    assert (sb.added, sb.documents) == (40, 40)
    assert storage.current_generation(small.index) == 1  # one generation per write, not per batch
    snap_a, snap_b = a._snapshot(), b._snapshot()
    assert sorted((c.doc_id, c.start, c.text) for c in snap_a.chunks.values()) == sorted(
        (c.doc_id, c.start, c.text) for c in snap_b.chunks.values()
    )
    q = "how many crates of apples does town 17 stock"
    assert [h.text for h in a.search(q, 3)] == [h.text for h in b.search(q, 3)]


def test_failure_in_a_later_batch_keeps_the_index(
    settings: Settings, tmp_path: Path, corpus: Path
) -> None:
    small = settings.model_copy(update={"ingest_batch": 2})
    rag = Rag.open(small.index, small, create=True, embedder=HashEmbedder())
    rag.add([corpus])
    before = [d.doc_id for d in rag.documents()]
    _many_files(tmp_path / "many", 10)

    class FailsLater(HashEmbedder):
        def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
            if self.calls == 3:
                raise RuntimeError("out of memory")
            return super().embed(texts, progress=progress)

    failing = Rag.open(small.index, small, embedder=FailsLater())
    with pytest.raises(RuntimeError):
        failing.add([tmp_path / "many"])
    reopened = Rag.open(small.index, small, embedder=HashEmbedder())
    assert [d.doc_id for d in reopened.documents()] == before
    assert len(reopened._snapshot().chunks) == len(rag._snapshot().chunks)


def test_other_embedding_model_is_refused(fake_rag: Rag, settings: Settings) -> None:
    with pytest.raises(EmbeddingMismatchError, match="hash-embedder"):
        Rag.open(settings.index, settings, embedder=HashEmbedder(name="other/model"))


def test_missing_and_corrupt_index(tmp_path: Path, fake_rag: Rag, settings: Settings) -> None:
    with pytest.raises(IndexNotFoundError):
        Rag.open(tmp_path / "nowhere", settings, embedder=HashEmbedder())
    (settings.index / "CURRENT").write_text("garbage")
    with pytest.raises(IndexCorruptError):
        Rag.open(settings.index, settings, embedder=HashEmbedder())
    gen_dirs = sorted(settings.index.glob("gen-*"))
    (settings.index / "CURRENT").write_text(gen_dirs[-1].name)
    (gen_dirs[-1] / "chunks.jsonl").write_text("{not json")
    with pytest.raises(IndexCorruptError):
        Rag.open(settings.index, settings, embedder=HashEmbedder())


def test_two_writers_do_not_lose_documents(settings: Settings, corpus: Path) -> None:
    a = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    b = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    a.add([corpus / "iraq.txt"])
    b.add([corpus / "bread.md"])  # b started before a wrote; it must build on a's index
    names = {
        Path(d.source).name
        for d in Rag.open(settings.index, settings, embedder=HashEmbedder()).documents()
    }
    assert names == {"iraq.txt", "bread.md"}
