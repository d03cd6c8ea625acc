"""PDF page numbers: computed once per chunk at ingest, carried by hits and citations."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag import Rag, Settings, storage
from rag.testing import CannedGenerator, HashEmbedder
from rag.types import place

PAGES = [
    ["Baking Notes", "Knead the dough for ten minutes on a floured table.",
     "Bake the loaf at 230 degrees until the crust is brown."],
    ["Foreign Policy",
     "In September 2024, the United States announced the end of its mission in Iraq.",
     "About 2,500 troops were still stationed there at the time."],
    ["Rivers", "The Danube flows through ten countries before it reaches the Black Sea.",
     "Its delta is a large wetland full of birds."],
]  # fmt: skip
QUESTION = "When did the United States announce the end of its mission in Iraq?"


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for lines in pages:
        for i, line in enumerate(lines):
            c.drawString(72, 720 - 18 * i, line)
        c.showPage()
    c.save()
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "report.pdf", PAGES)
    (docs / "notes.txt").write_text("Notes\n\nThe Iraq mission was discussed at length.\n")
    return docs


def _rag(settings: Settings, folder: Path, reply: str | None = None) -> Rag:
    gen = CannedGenerator(json.dumps({"answer": reply})) if reply else None
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder(), generator=gen)
    rag.add([folder])
    return rag


def test_each_chunk_of_a_pdf_stores_its_page(settings: Settings, folder: Path) -> None:
    rag = _rag(settings, folder)
    snap = rag._snapshot()
    for chunk in snap.chunks.values():
        doc = snap.documents[chunk.doc_id]
        if doc.source.endswith(".pdf"):
            n = chunk.page
            assert n is not None and doc.page_starts[n - 1] <= chunk.start
            assert n == len(doc.page_starts) or chunk.start < doc.page_starts[n]
        else:
            assert chunk.page is None
    gdir = settings.index / f"gen-{storage.current_generation(settings.index):06d}"
    rows = [json.loads(line) for line in (gdir / "chunks.jsonl").read_text().splitlines()]
    assert {r.get("page") for r in rows} == {None, 1, 2, 3}  # written only for paged formats


def test_hits_carry_the_page(settings: Settings, folder: Path) -> None:
    rag = _rag(settings, folder)
    hits = rag.search("Danube Black Sea delta", k=3)
    top = hits[0]
    assert top.source.endswith("report.pdf") and top.page == 3
    assert top.to_dict()["page"] == 3
    txt = next(h for h in rag.search("Iraq mission discussed", k=5) if h.source.endswith(".txt"))
    assert txt.page is None and txt.to_dict()["page"] is None


def test_a_citation_gets_the_page_of_its_quote_not_of_its_chunk(
    tmp_path: Path, folder: Path
) -> None:
    # One chunk holds all three short pages: its page is 1, the cited sentence is on page 2.
    settings = Settings(index=tmp_path / "index", llm="none", chunk_size=2000, chunk_overlap=0)
    rag = _rag(settings, folder, reply="It was announced in September 2024.")
    assert {c.page for c in rag._snapshot().chunks.values()} == {1, None}
    answer = rag.ask(QUESTION)
    assert answer.answerable, answer.answer
    (cite,) = [c for c in answer.citations if c.source.endswith(".pdf")]
    assert cite.quote.startswith("In September 2024") and cite.page == 2
    assert answer.to_dict()["citations"][0]["page"] == 2
    assert place(cite.source, cite.line, cite.page) == "report.pdf p. 2"


def test_an_index_written_before_pages_reads_as_none(settings: Settings, folder: Path) -> None:
    rag = _rag(settings, folder)
    snap = storage.load(settings.index)
    snap.chunks = {i: replace(c, page=None) for i, c in snap.chunks.items()}
    with storage.writer_lock(settings.index):
        storage.save(settings.index, snap)  # chunks.jsonl rows without "page", as before
    rag.reload()
    assert {h.page for h in rag.search("Danube Black Sea delta", k=3)} == {None}


def test_place_names_the_page_or_the_line() -> None:
    assert place("/docs/report.pdf", 40, 7) == "report.pdf p. 7"
    assert place("/docs/notes.md", 12) == "notes.md:12"
    assert place("text:abc", 1) == "text:abc:1"


def test_cli_sources_show_the_page(
    settings: Settings, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import cli

    rag = _rag(settings, folder)
    monkeypatch.setattr(cli, "_open", lambda *a, **k: rag)
    out = CliRunner().invoke(cli.app, ["search", "Danube Black Sea delta", "--k", "1"])
    assert out.exit_code == 0, out.output
    assert "report.pdf p. 3" in out.output
    out = CliRunner().invoke(cli.app, ["search", "Danube Black Sea delta", "--k", "1", "--json"])
    assert json.loads(out.output)[0]["page"] == 3


def test_milvus_gives_the_same_pages(tmp_path: Path, folder: Path) -> None:
    # Milvus keeps no page per chunk: it comes from the document's stored page offsets.
    settings = Settings(
        index=tmp_path / "unused", store=f"milvus://{tmp_path}/m.db", llm="none",
        chunk_size=2000, chunk_overlap=0,
    )  # fmt: skip
    gen = CannedGenerator(json.dumps({"answer": "It was announced in September 2024."}))
    with Rag.open(None, settings, create=True, embedder=HashEmbedder(), generator=gen) as rag:
        rag.add([folder])
        assert rag.search("Danube Black Sea delta", k=1)[0].page == 1  # the chunk's start
        (cite,) = [c for c in rag.ask(QUESTION).citations if c.source.endswith(".pdf")]
        assert cite.page == 2
