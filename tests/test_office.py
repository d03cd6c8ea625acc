"""Word and PowerPoint files: made here, indexed, asked, cited (python-docx, python-pptx)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from rag import Rag, Settings, UnreadableDocumentError
from rag import office as office_module
from rag.documents import read_document
from rag.testing import CannedGenerator, HashEmbedder

SENTENCE = "In September 2024, the United States announced the end of its mission in Iraq."
QUESTION = "When did the United States announce the end of its mission in Iraq?"


def make_docx(path: Path, *, title: str = "") -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_paragraph("Draft, not for circulation")
    d.add_heading("Foreign Policy Review", level=1)
    d.add_paragraph("This review covers the year.")
    d.add_heading("Iraq", level=2)
    d.add_paragraph(SENTENCE + " About 2,500 troops were still there.")
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("Country", "Troops"), ("Iraq", "2,500")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    d.add_paragraph("The decision surprised analysts.")
    d.save(str(path))
    return path


def make_pptx(path: Path, *, title: str = "") -> Path:
    import pptx

    deck = pptx.Presentation()
    deck.core_properties.title = title
    slides = [
        ("Rivers of Europe", ["The Danube flows through ten countries.", "It ends in a delta."]),
        ("Foreign policy", [SENTENCE, "Troops will leave over two years."]),
        ("Baking", ["Knead the dough for ten minutes."]),
    ]
    for heading, bullets in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for line in bullets[1:]:
            body.add_paragraph().text = line
    deck.save(str(path))
    return path


def test_docx_text_is_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    doc = read_document(make_docx(tmp_path / "review.docx"))
    assert doc.title == "Foreign Policy Review"  # the first heading: no title of its own
    assert doc.text.split("\n\n") == [
        "Draft, not for circulation", "Foreign Policy Review", "This review covers the year.",
        "Iraq", SENTENCE + " About 2,500 troops were still there.", "Country | Troops",
        "Iraq | 2,500", "The decision surprised analysts.",
    ]  # fmt: skip
    assert doc.page_starts == ()
    titled = read_document(make_docx(tmp_path / "titled.docx", title="Annual review 2024"))
    assert titled.title == "Annual review 2024"


def test_pptx_slides_are_pages(tmp_path: Path) -> None:
    doc = read_document(make_pptx(tmp_path / "deck.pptx"))
    assert doc.title == "Rivers of Europe"
    assert len(doc.page_starts) == 3
    second = doc.text[doc.page_starts[1] : doc.page_starts[2]]
    assert second.startswith("Foreign policy\n" + SENTENCE)
    generic = read_document(make_pptx(tmp_path / "g.pptx", title="PowerPoint Presentation"))
    assert generic.title == "Rivers of Europe"  # a tool's default title names nothing


@pytest.mark.parametrize("kind", ["docx", "pptx"])
def test_asked_and_cited(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    path = (make_docx if kind == "docx" else make_pptx)(folder / f"file.{kind}")
    (folder / "other.txt").write_text("Bananas are yellow fruit grown in tropical places.\n")
    settings = Settings(index=tmp_path / "index", llm="none", chunk_size=200, chunk_overlap=60)
    gen = CannedGenerator(json.dumps({"answer": "It was announced in September 2024."}))
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder(), generator=gen)
    assert rag.add([folder]).added == 2
    answer = rag.ask(QUESTION)
    assert answer.answerable, answer.answer
    (cite,) = answer.citations
    assert cite.source == str(path) and cite.quote.startswith("In September 2024")
    assert rag.document_text(cite.doc_id).text[cite.start : cite.end] == cite.quote
    assert cite.page == (2 if kind == "pptx" else None)


@pytest.mark.parametrize("kind", ["docx", "pptx"])
def test_broken_files_are_unreadable(tmp_path: Path, kind: str) -> None:
    junk = tmp_path / f"junk.{kind}"
    junk.write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(UnreadableDocumentError, match="junk"):
        read_document(junk)
    empty_zip = tmp_path / f"empty.{kind}"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("hello.txt", "no office parts here")
    with pytest.raises(UnreadableDocumentError, match="corrupt"):
        read_document(empty_zip)


def test_a_decompression_bomb_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_docx(tmp_path / "big.docx")
    monkeypatch.setattr(office_module, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(UnreadableDocumentError, match="decompression bomb"):
        read_document(path)
