"""The CLI contract: exit codes and one-line errors (no models are loaded here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RAG = [sys.executable, "-m", "rag.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAG, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question(tmp_path: Path, question: str) -> None:
    _one_line_error(run("ask", question, "--index", str(tmp_path)))


def test_missing_index(tmp_path: Path) -> None:
    proc = run("ask", "anything?", "--index", str(tmp_path / "none"))
    _one_line_error(proc)
    assert "no index" in proc.stderr


def test_missing_path(tmp_path: Path) -> None:
    proc = run("index", str(tmp_path / "missing"), "--index", str(tmp_path / "idx"))
    _one_line_error(proc)
    assert "no such file" in proc.stderr


def test_corrupt_index(tmp_path: Path) -> None:
    (tmp_path / "CURRENT").write_text("gen-000001\n")
    proc = run("docs", "--index", str(tmp_path))
    _one_line_error(proc)
    assert "corrupt" in proc.stderr


def test_unknown_option_is_usage_error(tmp_path: Path) -> None:
    proc = run("ask", "q", "--bogus")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_bad_model_file(tmp_path: Path) -> None:
    proc = run("ask", "q?", "--index", str(tmp_path), "--llm", str(tmp_path / "nope.gguf"))
    _one_line_error(proc)
