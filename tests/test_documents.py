from __future__ import annotations

from pathlib import Path

import pytest

from rag.documents import find_date, find_title, iter_files, read_document
from rag.errors import PathNotFoundError, UnreadableDocumentError


def test_text_is_file_text_unchanged(tmp_path: Path) -> None:
    raw = "Title line\r\n\r\nBody “quoted” text.\n"
    f = tmp_path / "a.txt"
    f.write_bytes(raw.encode("utf-8"))
    doc = read_document(f)
    assert doc.text == f.read_text("utf-8")
    assert doc.title == "Title line"
    assert doc.source == str(f.resolve())
    assert len(doc.hash) == 64


def test_markdown_title_is_first_heading(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text("\n\n# Red Alert\n\nBy someone\n")
    assert read_document(f).title == "Red Alert"


def test_html_main_text_without_markup(tmp_path: Path) -> None:
    f = tmp_path / "a.html"
    f.write_text(
        "<html><head><title>T</title><script>var x=1;</script></head><body>"
        "<nav>Menu</nav><article><h1>Big News</h1><p>First <b>bold</b> para.</p>"
        "<p>Second para.</p></article></body></html>"
    )
    doc = read_document(f)
    assert doc.title == "Big News"
    assert "First bold para." in doc.text and "Second para." in doc.text
    assert "var x" not in doc.text and "Menu" not in doc.text and "<" not in doc.text


def test_pdf_pages_are_kept(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    f = tmp_path / "a.pdf"
    c = canvas.Canvas(str(f))
    c.drawString(72, 720, "Page one says hello.")
    c.showPage()
    c.drawString(72, 720, "Page two says goodbye.")
    c.save()
    doc = read_document(f)
    assert len(doc.page_starts) == 2
    assert doc.text[doc.page_starts[1] :].startswith("Page two")


@pytest.mark.parametrize(
    ("name", "data"),
    [("bin.txt", b"\x00\x01\x02binary"), ("empty.txt", b"   \n"), ("latin.txt", b"caf\xe9"),
     ("bad.pdf", b"%PDF-1.4 not really")],
)  # fmt: skip
def test_unreadable_files(tmp_path: Path, name: str, data: bytes) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(UnreadableDocumentError):
        read_document(f)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PathNotFoundError):
        list(iter_files([tmp_path / "nope"]))


def test_dates() -> None:
    assert find_date("By X\n\nGlobal Research, July 15, 2021\n") == "2021-07-15"
    assert find_date("Posted 2024-09-03 by staff") == "2024-09-03"
    assert find_date("3 March 2020 — news") == "2020-03-03"
    assert find_date("No date here, only 2024.") is None
    assert find_title("", "fallback") == "fallback"
