from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ChecksumError, ModelError
from rag.models import PACKAGED, _verified, resolve_llm, sha256_of


def test_wrong_checksum_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(b"not a model")
    with pytest.raises(ChecksumError, match="sha256"):
        _verified(f, "0" * 64)


def test_right_checksum_is_remembered(tmp_path: Path) -> None:
    f = tmp_path / "model.gguf"
    f.write_bytes(b"weights")
    digest = sha256_of(f)
    assert _verified(f, digest) == f
    assert (tmp_path / "model.gguf.sha256").exists()
    f.write_bytes(b"tampered")  # size/mtime change invalidates the stamp
    with pytest.raises(ChecksumError):
        _verified(f, digest)


def test_unknown_llm_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="neither a packaged model"):
        resolve_llm("no-such-model", tmp_path)


def test_local_gguf_path_is_used_as_is(tmp_path: Path) -> None:
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"x")
    assert resolve_llm(str(f), tmp_path) == f.resolve()


def test_packaged_models_are_pinned() -> None:
    assert {len(m.sha256) for m in PACKAGED.values()} == {64}
