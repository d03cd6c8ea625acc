"""A damaged index is detected, named, and never answered from silently.

Every file of a generation is damaged in turn (truncated, emptied, garbled, deleted,
replaced by something of the wrong type), in a generation written with checksums and
in one written before them (structure checks only): opening must fail with one
IndexCorruptError naming that file, ``rag check`` must list it, and ``--repair`` must
rebuild what is derived (BM25, vectors) to the same search results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag import Rag, Settings, storage
from rag.errors import EmbeddingMismatchError, IndexCorruptError
from rag.stores.faiss_store import FaissStore
from rag.testing import HashEmbedder
from rag.verify import check_index, print_report, repair_index

QUERY = "Iraq troops bread"
FILES = [
    "CURRENT", "manifest.json", "chunks.jsonl", "vectors.faiss", "bm25/ids.npy",
    "bm25/indptr.npy", "bm25/docs.npy", "bm25/data.npy", "bm25/tf.npy", "bm25/lengths.npy",
    "bm25/terms.json",
]  # fmt: skip
FOLDERS = ["gen", "bm25"]
MODES = ["truncate", "empty", "garble", "delete", "wrong_type"]
DERIVED = ["vectors.faiss", "bm25/ids.npy", "bm25/indptr.npy", "bm25/docs.npy",
           "bm25/data.npy", "bm25/tf.npy", "bm25/lengths.npy", "bm25/terms.json"]  # fmt: skip


def _cases() -> list[tuple[str, str]]:
    return [(f, m) for f in FILES for m in MODES] + [
        (f, m) for f in FOLDERS for m in ("delete", "wrong_type")
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, float]]]:
    """An index of two generations (gen-000002 live) and what a search finds in it."""
    root = tmp_path_factory.mktemp("built")
    docs = root / "docs"
    docs.mkdir()
    (docs / "iraq.txt").write_text(
        "US Leaves Iraq\n\nIn September 2024, the United States announced the end of its "
        "mission in Iraq. About 2,500 troops were still there. The decision surprised "
        "analysts. Officials said the withdrawal would take two years.\n",
        encoding="utf-8",
    )
    (docs / "bread.md").write_text(
        "# Baking bread\n\nKnead the dough for ten minutes. Bake it at 230 degrees for "
        "35 minutes until the crust is brown. Bread keeps for three days.\n",
        encoding="utf-8",
    )
    rag = _open(root / "index", create=True)
    rag.add([docs / "iraq.txt"])
    rag.add([docs / "bread.md"])
    return root / "index", _results(rag)


def _settings(index: Path) -> Settings:
    return Settings(index=index, llm="none", chunk_size=120, chunk_overlap=30)


def _open(index: Path, *, create: bool = False) -> Rag:
    return Rag.open(index, _settings(index), create=create, embedder=HashEmbedder())


def _results(rag: Rag) -> list[tuple[int, float]]:
    return [(h.chunk_id, round(h.score, 6)) for h in rag.search(QUERY, 6)]


@pytest.fixture
def index(built: tuple[Path, list[tuple[int, float]]], tmp_path: Path) -> Path:
    shutil.copytree(built[0], tmp_path / "index")
    return tmp_path / "index"


def _live(index: Path) -> Path:
    return index / "gen-000002"


def _target(index: Path, name: str) -> Path:
    if name == "CURRENT":
        return index / "CURRENT"
    if name == "gen":
        return _live(index)
    return _live(index) / name


def _strip_checksums(index: Path) -> None:
    """Make the live generation look written before checksums existed."""
    path = _live(index) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"], manifest["checksum"]
    path.write_text(json.dumps(manifest))


def damage(path: Path, mode: str) -> None:
    if mode == "delete":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif mode == "wrong_type":
        if path.is_dir():
            shutil.rmtree(path)
            path.write_text("a file where a folder was\n")
        else:
            path.unlink()
            path.mkdir()
    else:
        data = path.read_bytes()
        if mode == "truncate":
            data = data[: len(data) // 2]
        elif mode == "empty":
            data = b""
        else:  # garble: invert 16 bytes in the middle
            mid = len(data) // 2
            data = data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]
        path.write_bytes(data)


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "before-checksums"])
@pytest.mark.parametrize(("name", "mode"), _cases())
def test_damage_is_named_at_open_and_by_check(
    index: Path, built: tuple[Path, list[tuple[int, float]]], name: str, mode: str,
    checksums: bool,
) -> None:  # fmt: skip
    if not checksums:
        _strip_checksums(index)
    target = _target(index, name)
    damage(target, mode)
    if not checksums and (name == "bm25" or (name, mode) == ("bm25/terms.json", "delete")):
        # Generations written before BM25 was saved had none: it is rebuilt, correctly.
        assert _results(_open(index)) == built[1]
        return
    with pytest.raises(IndexCorruptError) as caught:
        _open(index)
    err = caught.value
    assert err.path is not None and Path(err.path).is_relative_to(target), str(err)
    assert "\n" not in str(err) and str(target) in str(err)
    report = check_index(index)
    unknown = ("CURRENT", "gen", "manifest.json")  # the file that says which checksums
    assert not report.ok and report.checksums == (checksums and name not in unknown)
    assert any(Path(p.path).is_relative_to(target) for p in report.problems), report.problems


def test_a_sound_index_checks_ok(index: Path) -> None:
    report = check_index(index)
    assert report.ok and report.checksums and not report.problems and report.generation == 2
    _strip_checksums(index)
    report = check_index(index)
    assert report.ok and not report.checksums
    assert "before checksums" in report.notes[0]


def test_manifest_records_every_file(index: Path) -> None:
    manifest = json.loads((_live(index) / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(FILES[2:])
    assert all(len(r["sha256"]) == 64 for r in manifest["files"].values())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b.replace(b"Iraq", b"Iran", 1), id="same-size text"),
        pytest.param(lambda b: b.replace(b'"title"', b'"titel"', 1), id="renamed key"),
    ],
)
def test_an_edit_of_the_same_size_is_caught(index: Path, change: Callable[[bytes], bytes]) -> None:
    """Sizes cannot see these; the checksums of the manifest and chunks (at open) do."""
    for name in ("chunks.jsonl", "manifest.json"):
        path = _live(index) / name
        original = path.read_bytes()
        changed = change(original)
        if changed == original:
            continue
        path.write_bytes(changed)
        with pytest.raises(IndexCorruptError, match=name):
            _open(index)
        path.write_bytes(original)


def test_swapped_vectors_are_found_by_check(index: Path, tmp_path: Path) -> None:
    """Two vectors swapped keep every size and structure: only the checksum tells."""
    gdir = _live(index)
    ids, vectors = FaissStore.load(gdir, 64)._contents()
    vectors[[0, 1]] = vectors[[1, 0]]
    swapped = FaissStore(64)
    swapped.add(ids, vectors)
    swapped.save(tmp_path)
    assert (tmp_path / "vectors.faiss").stat().st_size == (gdir / "vectors.faiss").stat().st_size
    shutil.copy(tmp_path / "vectors.faiss", gdir / "vectors.faiss")
    _open(index)  # open checks structure only: the vectors are sound unit vectors
    report = check_index(index)
    assert [p.path for p in report.problems] == [str(gdir / "vectors.faiss")]
    assert "sha256" in report.problems[0].problem


@pytest.mark.parametrize("name", DERIVED)
def test_repair_rebuilds_derived_files(
    index: Path, built: tuple[Path, list[tuple[int, float]]], name: str
) -> None:
    damage(_live(index) / name, "garble")
    embedders: list[HashEmbedder] = []

    def embedder() -> HashEmbedder:
        embedders.append(HashEmbedder())
        return embedders[-1]

    report = repair_index(index, embedder)
    assert report.ok and report.repaired is not None, report.unrepairable
    assert report.repaired["generation"] == 3
    assert report.repaired["rebuilt"] == (["vectors"] if name == "vectors.faiss" else ["bm25"])
    assert bool(embedders) == (name == "vectors.faiss")
    assert check_index(index).ok
    assert _results(_open(index)) == built[1]  # the same vectors, the same BM25


def test_repair_points_current_at_the_newest_generation_that_verifies(
    index: Path, built: tuple[Path, list[tuple[int, float]]]
) -> None:
    damage(index / "CURRENT", "garble")
    report = repair_index(index, HashEmbedder)
    assert report.ok and report.repaired == {"generation": 2, "rebuilt": ["CURRENT"], "embedded": 0}
    assert _results(_open(index)) == built[1]
    (index / "CURRENT").unlink()
    damage(_live(index) / "bm25/data.npy", "garble")  # gen-000002 no longer verifies
    report = repair_index(index, HashEmbedder)
    assert report.ok and report.repaired is not None and report.repaired["generation"] == 1
    assert len(_open(index).documents()) == 1  # the write after gen-000001 is lost


@pytest.mark.parametrize("name", ["manifest.json", "chunks.jsonl"])
def test_what_everything_is_built_from_cannot_be_repaired(index: Path, name: str) -> None:
    damage(_live(index) / name, "garble")
    report = repair_index(index, HashEmbedder)
    assert not report.ok and name in report.unrepairable[0]
    assert storage.current_generation(index) == 2  # nothing written


def test_repair_embeds_only_with_the_index_model(index: Path) -> None:
    damage(_live(index) / "vectors.faiss", "garble")
    with pytest.raises(EmbeddingMismatchError, match="hash-embedder"):
        repair_index(index, lambda: HashEmbedder(name="other/model"))
    assert storage.current_generation(index) == 2


def test_nan_and_negative_values_are_refused(index: Path) -> None:
    """What gave wrong results silently: NaN BM25 scores, negative ids, NaN vectors."""
    _strip_checksums(index)  # structure alone must catch them
    bm25 = _live(index) / "bm25"
    for name, edit in [("data.npy", np.nan), ("docs.npy", -1), ("ids.npy", -5)]:
        original = np.load(bm25 / name)
        changed = original.copy()
        changed[0] = edit
        np.save(bm25 / name, changed)
        with pytest.raises(IndexCorruptError, match=name):
            _open(index)
        np.save(bm25 / name, original)
    _open(index)


def test_a_chunk_whose_document_is_missing_is_refused(index: Path) -> None:
    _strip_checksums(index)
    path = _live(index) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["documents"] = manifest["documents"][:1]
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="chunks.jsonl"):
        _open(index)


def test_cli_check_exit_codes(index: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "rag.cli", "check", "--index", str(index), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    ok = run()
    assert ok.returncode == 0 and ok.stdout.startswith("ok: "), ok.stderr
    damaged = _live(index) / "bm25" / "docs.npy"
    damage(damaged, "garble")
    bad = run("--json")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error: ")
    report = json.loads(bad.stdout)
    assert not report["ok"] and [p["file"] for p in report["problems"]] == [str(damaged)]
    lines: list[str] = []
    print_report(check_index(index), lines.append)
    assert lines[0].startswith(f"{damaged}: ")
    repaired = run("--repair")  # BM25 only: no embedding model is needed
    assert repaired.returncode == 0 and "repaired: gen-000003" in repaired.stdout, repaired.stderr
    assert check_index(index).ok


def test_approximate_vectors_are_checked_too() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = FaissStore(16, approximate_above=1000)
    store.add(np.arange(3000), vectors)
    assert store.approximate and store.problem(np.arange(3000)) is None
    assert "ids" in str(store.problem(np.arange(1, 3001)))
    store.add(np.array([3000]), vectors[:1] * 3)
    assert "unit" in str(store.problem(np.arange(3001)))
