"""One bad file never stops a folder run; a bad file named directly is refused, index
unchanged (issue 19, parts 1 and 6). Every file here is real, made in ``tmp_path``."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bad_files import (
    GOOD_TEXT,
    bomb_pdf,
    encrypted_pdf,
    huge_page_pdf,
    not_utf8_name,
    text_pdf,
)

from rag import Rag, Settings, storage
from rag.documents import read_document
from rag.errors import UnreadableDocumentError
from rag.testing import HashEmbedder

RAG = [sys.executable, "-m", "rag.cli"]


def deny_reading(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` unreadable: chmod 0 for a normal user; root reads through any mode,
    so there the open itself fails as it would (EACCES) for that one file."""
    if os.geteuid() != 0:
        path.chmod(0)
        return
    real_open = os.open
    target = str(path.resolve())

    def denying_open(p: object, flags: int, *args: object, **kwargs: object) -> int:
        if os.fsdecode(p) == target:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", target)
        return real_open(p, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denying_open)


def bad_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Two good files and one of each bad kind; the words each bad one's reason holds."""
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (folder / "good.pdf").write_bytes(text_pdf("The Rhine flows into the North Sea."))
    (folder / "locked.pdf").write_bytes(encrypted_pdf("Hidden words.", "secret"))
    (folder / "bomb.pdf").write_bytes(bomb_pdf())
    (folder / "huge-page.pdf").write_bytes(huge_page_pdf())
    (folder / "noperm.txt").write_text(GOOD_TEXT, encoding="utf-8")
    deny_reading(folder / "noperm.txt", monkeypatch)
    name = not_utf8_name(folder)
    return {
        "locked.pdf": "needs a password",
        "bomb.pdf": "decompression bomb",
        "huge-page.pdf": "MB of content",
        "noperm.txt": "permission denied",
        os.fsencode(name.name).decode("utf-8", "backslashreplace"): "not valid UTF-8",
    }


def test_folder_run_skips_each_bad_file_and_indexes_the_rest(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reasons = bad_folder(tmp_path / "docs", monkeypatch)
    warned: list[str] = []
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    summary = rag.add([tmp_path / "docs"], on_skip=warned.append)
    assert sorted(Path(d.source).name for d in rag.documents()) == ["good.pdf", "good.txt"]
    skipped = {Path(s.path).name: s.reason for s in summary.skipped}
    assert skipped.keys() == reasons.keys()
    for name, words in reasons.items():
        assert words in skipped[name], (name, skipped[name])
    assert len(warned) == len(reasons) and all("\n" not in w for w in warned)
    json.dumps(summary.to_dict(), ensure_ascii=False).encode("utf-8")  # printable as JSON


class DeletingEmbedder(HashEmbedder):
    """Deletes ``victim`` while the run embeds its first batch: a file gone mid-run."""

    def __init__(self, victim: Path) -> None:
        super().__init__()
        self.victim = victim

    def embed(self, texts: list[str]) -> np.ndarray:
        self.victim.unlink(missing_ok=True)
        return super().embed(texts)


def test_file_deleted_during_the_run_is_skipped(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"{name}\n\n{GOOD_TEXT}", encoding="utf-8")
    one_doc_per_batch = settings.model_copy(update={"ingest_batch": 1})
    rag = Rag.open(settings.index, one_doc_per_batch, create=True,
                   embedder=DeletingEmbedder(folder / "b.txt"))  # fmt: skip
    summary = rag.add([folder])
    assert sorted(Path(d.source).name for d in rag.documents()) == ["a.txt", "c.txt"]
    (gone,) = summary.skipped
    assert Path(gone.path).name == "b.txt" and "no such file" in gone.reason


NAMED: dict[str, Callable[[Path], Path]] = {
    "encrypted": lambda d: _write(d / "locked.pdf", encrypted_pdf("Hidden.", "secret")),
    "bomb": lambda d: _write(d / "bomb.pdf", bomb_pdf()),
    "not-utf8-name": not_utf8_name,
    "fifo": lambda d: _fifo(d / "pipe.txt"),
    "device": lambda d: _symlink(d / "zero.txt", Path("/dev/zero")),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _symlink(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(NAMED))
def test_bad_file_named_directly_is_refused_and_the_index_kept(
    kind: str, tmp_path: Path, fake_rag: Rag, settings: Settings
) -> None:
    bad = NAMED[kind](tmp_path)
    before = storage.current_generation(settings.index)
    docs = fake_rag.documents()
    with pytest.raises(UnreadableDocumentError) as err:
        fake_rag.add([bad])
    assert "\n" not in str(err.value)
    assert storage.current_generation(settings.index) == before
    assert fake_rag.documents() == docs


@pytest.mark.timeout(60)
def test_permission_denied_named_directly(
    tmp_path: Path, fake_rag: Rag, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _write(tmp_path / "noperm.txt", GOOD_TEXT.encode())
    deny_reading(bad, monkeypatch)
    with pytest.raises(UnreadableDocumentError, match="permission denied"):
        fake_rag.add([bad])


def test_pdf_encrypted_with_an_empty_password_is_read(tmp_path: Path) -> None:
    for algorithm in ("AES-128", "AES-256", "RC4-128"):
        f = _write(tmp_path / f"{algorithm}.pdf", encrypted_pdf("Open to all.", "", algorithm))
        assert read_document(f).text == "Open to all."


def test_pypdf_warnings_do_not_reach_stderr(tmp_path: Path) -> None:
    data = text_pdf("A broken cross-reference table.")
    broken = data[: data.rindex(b"startxref")] + b"startxref\n999\n%%EOF\n"
    f = _write(tmp_path / "broken.pdf", broken)
    code = (
        "import sys; from pathlib import Path; from rag.documents import read_document; "
        "print(read_document(Path(sys.argv[1])).text)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.strip() == "A broken cross-reference table."


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_bom_is_not_in_the_title_and_offsets_stay_exact(
    suffix: str, tmp_path: Path, settings: Settings
) -> None:
    heading = "# " if suffix == ".md" else ""
    f = tmp_path / f"bom{suffix}"
    f.write_bytes(("\ufeff" + heading + "Danube facts\n\n" + GOOD_TEXT).encode("utf-8"))
    doc = read_document(f)
    assert doc.title == "Danube facts"
    assert doc.text == f.read_text(encoding="utf-8")  # the BOM stays in the text
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    rag.add([f])
    with open(f, encoding="utf-8") as fh:
        as_read = fh.read()
    for chunk in rag._snapshot().chunks.values():
        assert as_read[chunk.start : chunk.end] == chunk.text
        assert not chunk.text.startswith("\ufeff")


# -- the CLI: one line, exit 2, for a file named directly; a JSON `skipped` for a folder --


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAG, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["fifo", "bomb", "not-utf8-name"])
def test_cli_bad_file_named_directly_exits_2_with_one_line(kind: str, tmp_path: Path) -> None:
    bad = NAMED[kind](tmp_path)
    proc = run_cli("index", str(bad), "--index", str(tmp_path / "idx"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and bad.name[:3] in lines[0]
    assert not (tmp_path / "idx" / "CURRENT").exists()


@pytest.mark.integration
def test_cli_folder_run_reports_skipped_files_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reasons = bad_folder(tmp_path / "docs", monkeypatch)
    reasons.pop("noperm.txt")  # root reads any file; the library test covers it
    (tmp_path / "docs" / "noperm.txt").unlink()
    proc = run_cli("index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["added"] == 2
    skipped = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert skipped.keys() == reasons.keys()
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == len(reasons)
    assert "Traceback" not in proc.stderr


def test_cli_corrupt_npy_is_one_line(tmp_path: Path, fake_rag: Rag, settings: Settings) -> None:
    gen = storage.current_generation(settings.index)
    npy = settings.index / f"gen-{gen:06d}" / "bm25" / "ids.npy"
    # A header longer than numpy will parse: its error spans three lines.
    npy.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 20_000) + b" " * 20_000)
    proc = run_cli("docs", "--index", str(settings.index))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_a_file_over_the_size_bound_is_refused(tmp_path: Path) -> None:
    f = _write(tmp_path / "big.txt", GOOD_TEXT.encode() * 4)
    with pytest.raises(UnreadableDocumentError, match="is more than the 100 bytes a file may"):
        read_document(f, max_bytes=100)
    assert read_document(f, max_bytes=10_000).text == GOOD_TEXT * 4
