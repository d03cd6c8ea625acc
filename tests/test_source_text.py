"""A citation you can open: a document's text, whole or around a span (library and CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_pages import PAGES, make_pdf

from rag import BadInputError, Rag, Settings
from rag.errors import DocumentNotFoundError
from rag.source_text import from_chunks
from rag.testing import CannedGenerator, HashEmbedder

Q = "When did the United States announce the end of its mission in Iraq?"


@pytest.fixture
def cited(settings: Settings, corpus: Path) -> tuple[Rag, dict[str, object]]:
    gen = CannedGenerator('{"answer": "It was announced in September 2024."}')
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder(), generator=gen)
    rag.add([corpus])
    answer = rag.ask(Q)
    assert answer.citations
    return rag, answer.citations[0].to_dict()


def test_the_whole_text_is_the_file(fake_rag: Rag, corpus: Path) -> None:
    doc = next(d for d in fake_rag.documents() if d.source.endswith("iraq.txt"))
    view = fake_rag.document_text(doc.doc_id)
    assert view.exact and view.offset == 0
    assert view.text == (corpus / "iraq.txt").read_text("utf-8")
    assert view.length == len(view.text) and view.start is None
    assert fake_rag.document_text(str(corpus / "iraq.txt")).text == view.text  # by path


def test_a_window_holds_the_cited_span_exactly(cited: tuple[Rag, dict[str, object]]) -> None:
    rag, c = cited
    start, end = int(c["start"]), int(c["end"])  # type: ignore[call-overload]
    view = rag.document_text(str(c["doc_id"]), start=start, end=end, context=20)
    assert view.text[start - view.offset : end - view.offset] == c["quote"]
    assert view.offset == max(0, start - 20)
    assert len(view.text) <= end - start + 40
    whole = rag.document_text(str(c["doc_id"])).text
    assert whole[view.offset : view.offset + len(view.text)] == view.text


@pytest.mark.parametrize(
    ("start", "end", "context", "message"),
    [(5, None, None, "both"), (10, 5, None, "not inside"), (0, 10**6, None, "not inside"),
     (0, 5, -1, "context")],
)  # fmt: skip
def test_bad_spans_are_bad_input(
    fake_rag: Rag, start: int, end: int | None, context: int | None, message: str
) -> None:
    doc = fake_rag.documents()[0].doc_id
    with pytest.raises(BadInputError, match=message):
        fake_rag.document_text(doc, start=start, end=end, context=context)


def test_an_unknown_document_is_not_found(fake_rag: Rag) -> None:
    with pytest.raises(DocumentNotFoundError, match="no document"):
        fake_rag.document_text("0123456789abcdef")


def test_a_changed_file_is_rebuilt_from_the_chunks(fake_rag: Rag, corpus: Path) -> None:
    path = corpus / "iraq.txt"
    original = path.read_text("utf-8")
    path.write_text("Something else entirely.\n")  # not re-indexed: offsets are the old text's
    view = fake_rag.document_text(str(path))
    assert not view.exact
    assert view.text.split() == original.split()  # every word in place; whitespace guessed
    for chunk in fake_rag._snapshot().chunks.values():
        if chunk.doc_id == view.doc_id:
            assert view.text[chunk.start : chunk.end] == chunk.text


def test_rebuilding_fills_gaps_and_skips_overlaps() -> None:
    from rag.types import Chunk

    text = "One. Two.\n\nThree. Four."
    chunks = [Chunk(1, "d", 0, 9, text[0:9]), Chunk(2, "d", 5, 9, text[5:9]),
              Chunk(3, "d", 11, 17, text[11:17]), Chunk(4, "d", 18, 23, text[18:23])]  # fmt: skip
    assert from_chunks(reversed(chunks)) == text


def test_a_pdf_window_names_its_page(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    pdf = make_pdf(folder / "report.pdf", PAGES)
    rag = Rag.open(tmp_path / "index", Settings(llm="none"), create=True, embedder=HashEmbedder())
    rag.add([folder])
    whole = rag.document_text(str(pdf))
    start = whole.text.index("In September 2024")
    view = rag.document_text(str(pdf), start=start, end=start + 17, context=0)
    assert view.exact and view.page == 2 and view.text == "In September 2024"


# -- the CLI -------------------------------------------------------------------------------


def _show(index: Path, *args: str, color: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.pop("NO_COLOR", None)
    # The index was built by the hash embedder: naming it opens the index, and loads nothing.
    env.update(RAG_EMBEDDING_MODEL="test/hash-embedder", COLUMNS="200")
    if color:
        env["FORCE_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "show", *args, "--index", str(index)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_rag_show_prints_the_span_in_context_highlighted(
    cited: tuple[Rag, dict[str, object]], settings: Settings
) -> None:
    _, c = cited
    span = f"{c['start']}:{c['end']}"
    proc = _show(settings.index, str(c["source"]), "--span", span, "--context", "30", color=True)
    assert proc.returncode == 0, proc.stderr
    head, body = proc.stdout.split("\n", 1)
    assert "US Leaves Iraq" in head and f"iraq.txt [{span}]" in head
    # The quote, and only it, is in reverse video (ESC[7m ... ESC[0m).
    assert f"\x1b[1;7m{c['quote']}\x1b[0m" in body
    plain = _show(settings.index, str(c["doc_id"]), "--span", span, "--context", "30")
    assert "\x1b[" not in plain.stdout and str(c["quote"]) in plain.stdout
    as_json = json.loads(_show(settings.index, str(c["doc_id"]), "--span", span, "--json").stdout)
    assert as_json["start"] == c["start"] and as_json["exact"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nope"], "no document"), (["{doc}", "--span", "9"], "START:END"),
     (["{doc}", "--span", "5:99999"], "not inside")],
)  # fmt: skip
def test_rag_show_bad_input_is_one_line(
    fake_rag: Rag, settings: Settings, args: list[str], message: str
) -> None:
    doc = fake_rag.documents()[0].doc_id
    proc = _show(settings.index, *[a.format(doc=doc) for a in args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
