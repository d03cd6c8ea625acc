"""Small writes go into segments next to the base generation (rag.storage): they write
what they add, tombstone what they remove, merge past a threshold with the same
results, and stay crash-safe and checked like full generations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import integrity, storage
from rag.documents import content_hash, doc_id_for
from rag.errors import IndexCorruptError
from rag.stores import DocRecord, IndexMeta, NewDocument
from rag.stores.folder import FolderStore
from rag.testing import HashEmbedder
from rag.types import Chunk
from rag.verify import check_index, repair_index

EMB = HashEmbedder(dim=32)
META = IndexMeta(EMB.name, EMB.dim, chunk_size=200, chunk_overlap=0)
BASE_DOCS = 200


def _doc(name: str, text: str) -> tuple[NewDocument, np.ndarray]:
    source = f"/docs/{name}.txt"
    doc_id = doc_id_for(source)
    chunk = Chunk(0, doc_id, 0, len(text), text)
    record = DocRecord(doc_id, source, name, content_hash(text.encode()), None, ())
    return NewDocument(record, (chunk,), (1,)), EMB.embed([text])


def _text(i: int) -> str:
    return f"note {i} about topic{i % 17} and word{i} with common filler text"


def _write(store: FolderStore, docs: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    batches = [([d], v) for d, v in (_doc(n, t) for n, t in docs.items())]
    with store.writing():
        store.write(META, remove, iter(batches))


def _id(name: str) -> str:
    return doc_id_for(f"/docs/{name}.txt")


def _live(path: Path) -> Path:
    return storage.generation_path(path, storage.current_generation(path))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def base(tmp_path: Path) -> FolderStore:
    store = FolderStore(tmp_path / "index")
    _write(store, {f"d{i}": _text(i) for i in range(BASE_DOCS)})
    return store


def test_adding_one_document_writes_only_a_segment(base: FolderStore) -> None:
    full = _size(_live(base.path))
    _write(base, {"new": "a fresh note about zeppelins"})
    seg = _live(base.path)
    manifest = json.loads((seg / integrity.MANIFEST).read_text())
    assert manifest["segment"]["base"] == 1 and manifest["segment"]["segments"] == [2]
    assert [d["doc_id"] for d in manifest["documents"]] == [_id("new")]
    assert _size(seg) < full / 5  # only the new chunk, its vector and its BM25
    # Every file of the segment is in its manifest, and `rag check` verifies them all.
    assert set(manifest["files"]) == set(integrity.generation_files(seg))
    report = check_index(base.path)
    assert report.ok and not report.problems
    for store in (base, FolderStore(base.path)):  # the writer, and a new reader
        assert len(store) == BASE_DOCS + 1
        new = store.documents()[_id("new")].chunk_ids[0]
        assert store.search(EMB.embed(["a fresh note about zeppelins"])[0], 3)[0][0] == new
        assert store.lexical("zeppelins", 3) == [
            (new, pytest.approx(store.lexical("zeppelins", 3)[0][1]))
        ]
        assert store.lexical("note", 500)  # base and segment hits together
        assert len(store.lexical("note", 500)) == BASE_DOCS + 1


def test_removed_and_replaced_base_documents_are_never_found(base: FolderStore) -> None:
    old = base.documents()[_id("d5")].chunk_ids[0]
    gone = base.documents()[_id("d6")].chunk_ids[0]
    _write(base, {"d5": "d5 rewritten about quokkas"}, remove=(_id("d6"),))
    info = json.loads((_live(base.path) / integrity.MANIFEST).read_text())["segment"]
    assert sorted(info["removed"]) == sorted([_id("d5"), _id("d6")])
    assert sorted(info["dead"]) == sorted([old, gone])
    for store in (base, FolderStore(base.path)):
        assert _id("d6") not in store.documents() and len(store) == BASE_DOCS - 1
        for cid in (old, gone):
            assert cid not in store.chunks([old, gone])
        for text in (_text(5), _text(6)):
            hits = store.search(EMB.embed([text])[0], BASE_DOCS + 5)
            assert not {old, gone} & {c for c, _ in hits}
        assert store.lexical("word5", 10) == [] and store.lexical("word6", 10) == []
        new = store.documents()[_id("d5")].chunk_ids[0]
        assert store.lexical("quokkas", 10)[0][0] == new
    assert check_index(base.path).ok


def test_segments_merge_past_the_threshold_with_the_same_results(
    base: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "MAX_SEGMENTS", 3)
    for i in range(3):
        _write(base, {f"s{i}": f"segment note {i} about walrus{i}"}, remove=(_id(f"d{i}"),))
    assert len(base.snapshot.segments) == 3
    queries = [_text(i) for i in range(0, 40, 7)] + ["segment note 1 about walrus1"]
    everything = BASE_DOCS + 10  # all hits: ties at a cut-off may fall either way

    def found(hits: list[tuple[int, float]]) -> set[tuple[int, float]]:
        return {(c, round(s, 4)) for c, s in hits if c != merged_in}

    merged_in = -1
    before = [found(base.search(EMB.embed([q])[0], everything)) for q in queries]
    words = ["walrus2", "word9", "topic3"]
    lexical = [{c for c, _ in base.lexical(w, 50)} for w in words]
    docs = dict(base.documents())
    _write(base, {"s3": "the merge note"})  # a fourth segment is one too many: a merge
    live = _live(base.path)
    assert "segment" not in json.loads((live / integrity.MANIFEST).read_text())
    assert not base.snapshot.segments
    assert {d: r for d, r in base.documents().items() if d != _id("s3")} == docs
    merged_in = base.documents()[_id("s3")].chunk_ids[0]
    after = [found(base.search(EMB.embed([q])[0], everything)) for q in queries]
    assert after == before
    assert [{c for c, _ in base.lexical(w, 50)} for w in words] == lexical
    assert check_index(base.path).ok
    # The segments and the old base are pruned once no kept generation needs them.
    _write(base, {"s4": "after the merge"})
    _write(base, {"s5": "after the merge again"})
    assert not storage.generation_path(base.path, 1).exists()


def test_a_large_write_is_a_full_generation(base: FolderStore) -> None:
    _write(base, {f"big{i}": f"bulk {i}" for i in range(BASE_DOCS // 5)})
    assert "segment" not in json.loads((_live(base.path) / integrity.MANIFEST).read_text())
    assert len(FolderStore(base.path)) == BASE_DOCS + BASE_DOCS // 5


def test_another_process_picks_up_only_the_new_segment(base: FolderStore) -> None:
    reader = FolderStore(base.path)
    _write(base, {"one": "first small note about ibis"})
    assert reader.refresh() and len(reader.snapshot.segments) == 1
    _write(base, {"two": "second small note about okapi"})
    assert reader.refresh() and len(reader.snapshot.segments) == 2
    assert reader.lexical("okapi", 1)[0][0] == base.documents()[_id("two")].chunk_ids[0]
    assert reader.snapshot.store is base.snapshot.store or len(reader) == len(base)


@pytest.mark.parametrize("rel", ["chunks.jsonl", "vectors.faiss", "bm25/data.npy"])
def test_a_damaged_segment_is_named_and_derived_files_repaired(base: FolderStore, rel: str) -> None:
    _write(base, {"new": "a fresh note about zeppelins"})
    path = _live(base.path) / rel
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    report = check_index(base.path)
    assert [p.path for p in report.problems][:1] == [str(path)]
    with pytest.raises(IndexCorruptError) if rel != "bm25/data.npy" else _maybe_raises():
        FolderStore(base.path)
    fixed = repair_index(base.path, lambda: EMB)
    if rel == "chunks.jsonl":
        assert not fixed.ok
        return
    assert fixed.ok and check_index(base.path).ok
    again = FolderStore(base.path)
    assert again.lexical("zeppelins", 1)[0][0] == again.documents()[_id("new")].chunk_ids[0]


class _maybe_raises:  # a flipped byte in BM25 scores may still be a valid positive float
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return kind is None or kind is IndexCorruptError


_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_small_writes import FolderStore, _write
from rag import storage, lexical
point = sys.argv[2]
def stop(*a, **k):
    Path(sys.argv[3]).write_text("ready")
    time.sleep(60)
if point == "files":
    lexical.Bm25.save = stop
else:
    storage.point_current = stop
_write(FolderStore(Path(sys.argv[1])), {{"late": "the note that never lands"}})
"""


@pytest.mark.parametrize("point", ["files", "commit"])
def test_kill_9_mid_segment_write_keeps_the_previous_state(
    base: FolderStore, tmp_path: Path, point: str
) -> None:
    _write(base, {"first": "the first small note"})  # a segment exists already
    before = dict(base.documents())
    ready = tmp_path / "ready"
    code = _CHILD.format(tests=str(Path(__file__).parent))
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(base.path), point, str(ready)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the child never reached the write"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    reader = FolderStore(base.path)
    assert reader.documents() == before and check_index(base.path).ok
    _write(reader, {"next": "the next note"})  # the next writer carries on and cleans up
    assert _id("next") in FolderStore(base.path).documents()
    assert not list(base.path.glob(".tmp-*"))


def test_removing_many_documents_is_a_full_generation(base: FolderStore) -> None:
    _write(base, {"one": "a small note first"})  # a segment, then a removal past the threshold
    gone = tuple(_id(f"d{i}") for i in range(BASE_DOCS // 5))
    _write(base, {}, remove=gone)
    assert "segment" not in json.loads((_live(base.path) / integrity.MANIFEST).read_text())
    again = FolderStore(base.path)
    assert len(again) == BASE_DOCS + 1 - len(gone) and not set(gone) & set(again.documents())
    assert again.lexical("word3", 5) == [] and _id("one") in again.documents()
